#!/usr/bin/env bash
# Installs the Debian packages of the real servers the tests drive, when missing.
# Each test starts its own throwaway instance (see deploy/scripts/*-test-server.sh).
set -euo pipefail
need=()
command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/bin/clickhouse ] || need+=(clickhouse-server clickhouse-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing packages (${need[*]}) and no root apt-get: tests that need them will say so" >&2
  fi
fi
