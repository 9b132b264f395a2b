#!/usr/bin/env bash
# Installs opentelemetry-proto (PyPI, into a venv) for the trace test's OTLP receiver when
# missing. The test starts its own receiver with otlp-receiver.sh; a test that finds none
# says so (and fails under CI=true).
set -uo pipefail
if ! bash "$(dirname "$0")/../otlp-receiver.sh" bin >/dev/null; then
  echo "opentelemetry-proto could not be installed: the trace test will say so" >&2
fi
