#!/usr/bin/env bash
# Installs aiosmtpd (PyPI, into a venv) for the mail outbox tests when missing. Each test
# starts its own server with smtp-test-server.sh; a test that finds none says so (and
# fails under CI=true).
set -uo pipefail
if ! bash "$(dirname "$0")/../smtp-test-server.sh" bin >/dev/null; then
  echo "aiosmtpd could not be installed: the mail outbox tests will say so" >&2
fi
