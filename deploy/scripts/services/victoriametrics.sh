#!/usr/bin/env bash
# Installs VictoriaMetrics (Debian's `victoria-metrics`) for the metrics export tests when
# missing. Each test starts its own server with victoriametrics-test-server.sh; a test that
# finds none says so (and fails under CI=true).
set -uo pipefail
if ! bash "$(dirname "$0")/../victoriametrics-test-server.sh" bin >/dev/null; then
  echo "victoria-metrics could not be installed: the VictoriaMetrics tests will say so" >&2
fi
