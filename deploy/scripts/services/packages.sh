#!/usr/bin/env bash
# Installs the Debian packages of the real servers and tools the tests drive, when missing.
# Each test starts its own throwaway instance (see deploy/scripts/*-test-server.sh and
# deploy/scripts/syslog-ng-tools.sh).
set -euo pipefail
need=()
command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/bin/clickhouse ] || need+=(clickhouse-server clickhouse-client)
# loggen (syslog traffic generator) ships in syslog-ng-core as /usr/bin/loggen.
command -v loggen >/dev/null 2>&1 || [ -x /usr/bin/loggen ] || need+=(syslog-ng-core)
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need+=(prometheus)
# The metrics export tests (deploy/scripts/victoriametrics-test-server.sh).
command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || need+=(victoria-metrics)
# Throwaway TLS certificates for the NATS leaf tests (deploy/scripts/nats-tls-certs.sh).
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The console's browser test: headless Chromium over WebDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# The assistant's `llm` feature compiles llama.cpp (llama-cpp-sys-2): cmake, a C/C++
# compiler, and libclang for its bindgen.
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v clang >/dev/null 2>&1 || need+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing packages (${need[*]}) and no root apt-get: tests that need them will say so" >&2
  fi
fi
