#!/usr/bin/env bash
# Throwaway Prometheus server for seawatch's integration tests.
#
#   prometheus-test-server.sh start [DIR]   install if missing, start with DIR/prometheus.yml
#                                           (written by the caller), wait for /-/ready,
#                                           print the base URL on stdout (last line)
#   prometheus-test-server.sh stop  [DIR]   stop it (SIGTERM, then SIGKILL)
#   prometheus-test-server.sh status [DIR]  exit 0 if it answers /-/ready
#   prometheus-test-server.sh version       print the version line
#
# DIR (default /tmp/seawatch-prometheus-test) holds the config, the TSDB (DIR/data), the
# log (DIR/prometheus.log) and the pid file. Port: PROM_PORT (default 19090), loopback
# only. Set PROM_NO_INSTALL=1 to never run apt-get. Messages go to stderr.
set -euo pipefail

cmd="${1:-start}"
dir="${2:-${PROM_TEST_DIR:-/tmp/seawatch-prometheus-test}}"
port="${PROM_PORT:-19090}"
url="http://127.0.0.1:${port}"

log() { echo "prometheus-test-server: $*" >&2; }

find_server() {
    for c in prometheus /usr/bin/prometheus /usr/local/bin/prometheus; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    return 1
}

install_server() {
    if [ "${PROM_NO_INSTALL:-0}" = "1" ]; then
        log "prometheus not found and PROM_NO_INSTALL=1"; return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "prometheus not found and apt-get is not available"; return 1
    fi
    local sudo=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            log "prometheus not found and not root (no sudo)"; return 1; fi
    fi
    log "installing prometheus from the distribution (apt-get)"
    # The package's own service is never used; containers without init just skip it.
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends prometheus >&2; then
        $sudo apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends prometheus >&2 || return 1
    fi
}

ready() { curl -fsS --max-time 1 "${url}/-/ready" >/dev/null 2>&1; }

# pid_alive and stop
. "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

start() {
    if pid_alive && ready; then log "already running (pid $(cat "$dir/server.pid"))"; echo "$url"; return 0; fi
    if ready; then log "port $port already answers /-/ready but not from $dir"; return 1; fi
    [ -f "$dir/prometheus.yml" ] || { log "no config: write $dir/prometheus.yml first"; return 1; }
    command -v curl >/dev/null 2>&1 || { log "curl is needed to wait for readiness"; return 1; }
    local server
    server="$(find_server)" || { install_server && server="$(find_server)"; } || {
        log "cannot install prometheus"; return 1; }
    mkdir -p "$dir/data"
    log "starting $server on $url (dir $dir)"
    # setsid: own session, so `stop` can signal it without touching the test harness.
    setsid "$server" \
        --config.file="$dir/prometheus.yml" \
        --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:${port}" \
        --log.level=warn \
        >"$dir/prometheus.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
    for _ in $(seq 1 150); do
        if ready; then log "up (pid $(cat "$dir/server.pid"))"; echo "$url"; return 0; fi
        if ! pid_alive; then
            log "prometheus exited during start-up; last log lines:"
            tail -n 20 "$dir/prometheus.log" >&2 || true
            return 1
        fi
        sleep 0.1
    done
    log "prometheus not ready within 15 s"; return 1
}


case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) pid_alive && ready ;;
    version) server="$(find_server)" && "$server" --version 2>&1 | head -n 1 ;;
    *) echo "usage: $0 start|stop|status|version [DIR]" >&2; exit 2 ;;
esac
