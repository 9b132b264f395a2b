#!/usr/bin/env bash
# Throwaway VictoriaMetrics (single node) for seawatch's integration tests.
#
#   victoriametrics-test-server.sh bin     [DIR]  install if missing; print the binary path
#   victoriametrics-test-server.sh start   [DIR]  install if missing, start, wait for /health,
#                                                 print the base URL on stdout (last line)
#   victoriametrics-test-server.sh stop    [DIR]  SIGTERM, then SIGKILL
#   victoriametrics-test-server.sh kill    [DIR]  SIGKILL (a crash, for outage tests)
#   victoriametrics-test-server.sh status  [DIR]  exit 0 if the server in DIR answers /health
#
# DIR (default /tmp/seawatch-victoriametrics-test) holds the data, log and pid file; it is
# kept across stop/start, so a restarted server sees its data. Port: VM_HTTP_PORT (default
# 18428), loopback only. VM_DEDUP (default empty: off) is passed as
# -dedup.minScrapeInterval; seawatch's exactly-once never relies on it. Retention is 100
# years so tests may write old timestamps. Debian's package is `victoria-metrics`
# (/usr/bin/victoria-metrics); VM_NO_INSTALL=1 never runs apt-get. Messages go to stderr.
set -euo pipefail

cmd="${1:-start}"
dir="${2:-${VM_TEST_DIR:-/tmp/seawatch-victoriametrics-test}}"
port="${VM_HTTP_PORT:-18428}"
url="http://127.0.0.1:${port}"

log() { echo "victoriametrics-test-server: $*" >&2; }

find_server() {
    for c in victoria-metrics /usr/bin/victoria-metrics victoria-metrics-prod; do
        if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi
    done
    return 1
}

install_server() {
    if [ "${VM_NO_INSTALL:-0}" = "1" ]; then
        log "victoria-metrics not found and VM_NO_INSTALL=1"; return 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        log "victoria-metrics not found and apt-get is not available"; return 1
    fi
    local sudo=""
    if [ "$(id -u)" != "0" ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            log "victoria-metrics not found and not root (no sudo)"; return 1; fi
    fi
    log "installing victoria-metrics from the distribution (apt-get)"
    # The package's service start fails in policy-rc.d-less containers; we never use it.
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q victoria-metrics >&2; then
        $sudo apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q victoria-metrics >&2 || return 1
    fi
}

bin() { find_server || { install_server >&2 && find_server; }; }

health() { curl -fsS --max-time 1 "${url}/health" >/dev/null 2>&1; }

# pid_alive and stop
. "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

start() {
    if pid_alive && health; then log "already running (pid $(cat "$dir/server.pid"))"; echo "$url"; return 0; fi
    if health; then log "port $port already answers /health but not from $dir"; return 1; fi
    local server
    server="$(bin)" || { log "cannot install victoria-metrics"; return 1; }
    mkdir -p "$dir/data"
    local args=(
        "-storageDataPath=$dir/data"
        "-httpListenAddr=127.0.0.1:$port"
        "-retentionPeriod=100y"
        "-loggerLevel=WARN"
        # Tests read what they just wrote.
        "-search.disableCache"
        "-search.latencyOffset=0s"
    )
    if [ -n "${VM_DEDUP:-}" ]; then args+=("-dedup.minScrapeInterval=${VM_DEDUP}"); fi
    log "starting $server on $url (dir $dir)"
    # setsid: own process group, out of reach of a harness killing its children.
    setsid "$server" "${args[@]}" >>"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$dir/server.pid"
    for _ in $(seq 1 150); do
        if health; then log "up (pid $(cat "$dir/server.pid"))"; echo "$url"; return 0; fi
        if ! pid_alive; then
            log "server exited during start-up; last log lines:"
            tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
    log "server did not answer /health within 15 s"; return 1
}

crash() {
    if ! [ -f "$dir/server.pid" ]; then log "not running (no pid file in $dir)"; return 0; fi
    local pid; pid="$(cat "$dir/server.pid")"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/server.pid"
    log "killed"
}

case "$cmd" in
    bin) bin ;;
    start) start ;;
    stop) stop ;;
    kill) crash ;;
    status) pid_alive && health ;;
    *) echo "usage: $0 bin|start|stop|kill|status [DIR]" >&2; exit 2 ;;
esac
