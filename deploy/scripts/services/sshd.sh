#!/usr/bin/env bash
# Installs Debian's openssh-server for the runbook ssh driver tests when missing. Each test
# starts its own non-system sshd with sshd-test-server.sh; a test that finds none says so
# (and fails under CI=true). The package's own service is not started.
set -uo pipefail
if ! bash "$(dirname "$0")/../sshd-test-server.sh" bin >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >&2 \
      || echo "openssh-server could not be installed: the ssh driver tests will say so" >&2
  else
    echo "no sshd and no way to install openssh-server: the ssh driver tests will say so" >&2
  fi
fi
