#!/usr/bin/env bash
# syslog-ng's `loggen` traffic generator for seawatch's integration tests.
#
#   syslog-ng-tools.sh [path]   install Debian's syslog-ng-core if loggen is missing,
#                               print loggen's path on stdout (last line)
#
# Debian ships loggen in syslog-ng-core as /usr/bin/loggen (its plugins live in
# /usr/lib/syslog-ng/<version>/loggen/). Set SYSLOG_NG_NO_INSTALL=1 to never run apt-get.
# Messages go to stderr; exit status 1 when loggen cannot be had.
set -euo pipefail

log() { echo "syslog-ng-tools: $*" >&2; }

find_loggen() {
    for c in loggen /usr/bin/loggen /usr/sbin/loggen /usr/local/bin/loggen; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    return 1
}

install_loggen() {
    if [ "${SYSLOG_NG_NO_INSTALL:-0}" = "1" ]; then
        log "loggen not found and SYSLOG_NG_NO_INSTALL=1"; return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "loggen not found and apt-get is not available"; return 1
    fi
    local sudo=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            log "loggen not found and not root (no sudo)"; return 1; fi
    fi
    log "installing syslog-ng-core from the distribution (apt-get)"
    # Only the package's files are needed; its service is never started by the tests.
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends syslog-ng-core >&2; then
        $sudo apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends syslog-ng-core >&2 || return 1
    fi
}

case "${1:-path}" in
    path)
        find_loggen || { install_loggen && find_loggen; } || { log "cannot install loggen"; exit 1; }
        ;;
    *) echo "usage: $0 [path]" >&2; exit 2 ;;
esac
