#!/usr/bin/env bash
# Throwaway OTLP/HTTP traces receiver for seawatch's trace tests (no collector binary is
# installable here): deploy/otlp/otlp_receiver.py decodes POST /v1/traces with the official
# OpenTelemetry protobuf definitions (PyPI opentelemetry-proto) and writes the spans as
# JSON lines.
#
#   otlp-receiver.sh bin              install opentelemetry-proto if missing; print the python path
#   otlp-receiver.sh start DIR        start the receiver on 127.0.0.1:$OTLP_PORT, wait until
#                                     it answers; print http://127.0.0.1:PORT (last line);
#                                     pid in DIR/server.pid, spans in DIR/spans.jsonl
#   otlp-receiver.sh stop DIR         SIGTERM, then SIGKILL
#
# opentelemetry-proto (and the protobuf it requires) is installed into the venv
# $HOME/.cache/seawatch-otlp (OTLP_VENV) when missing. Messages go to stderr.
set -euo pipefail

cmd="${1:-bin}"
dir="${2:-/tmp/seawatch-otlp-test}"
venv="${OTLP_VENV:-$HOME/.cache/seawatch-otlp}"
version="1.45.2"
server_py="$(cd "$(dirname "${BASH_SOURCE[0]}")/../otlp" && pwd)/otlp_receiver.py"

log() { echo "otlp-receiver: $*" >&2; }

has_proto() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -c \
        'from opentelemetry.proto.collector.trace.v1 import trace_service_pb2' 2>/dev/null
}

bin() {
    if has_proto; then echo "$venv/bin/python"; return 0; fi
    command -v python3 >/dev/null 2>&1 || { log "no python3 to install opentelemetry-proto"; return 1; }
    log "installing opentelemetry-proto==$version into $venv"
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q "opentelemetry-proto==$version" >&2 \
        || { log "pip install of opentelemetry-proto==$version failed"; return 1; }
    has_proto || { log "installed, but opentelemetry-proto does not import"; return 1; }
    echo "$venv/bin/python"
}

# pid_alive and stop
. "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

ready() {
    local line
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'GET /ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    read -r -t 2 line <&3 || { exec 3>&-; return 1; }
    exec 3>&-
    [[ "$line" == HTTP/1.?\ 200* ]]
}

case "$cmd" in
    bin) bin ;;
    start)
        : "${OTLP_PORT:?OTLP_PORT must be set}"
        python="$(bin)" || exit 1
        mkdir -p "$dir"
        if pid_alive; then log "already running (pid $(cat "$dir/server.pid"))"; echo "http://127.0.0.1:$OTLP_PORT"; exit 0; fi
        setsid "$python" "$server_py" "$dir" "$OTLP_PORT" >>"$dir/server.log" 2>&1 </dev/null &
        echo $! >"$dir/server.pid"
        for _ in $(seq 1 200); do
            if ready "$OTLP_PORT"; then echo "http://127.0.0.1:$OTLP_PORT"; exit 0; fi
            pid_alive || { log "exited; log:"; tail -20 "$dir/server.log" >&2; exit 1; }
            sleep 0.05
        done
        log "not answering on $OTLP_PORT after 10 s"; tail -20 "$dir/server.log" >&2; exit 1 ;;
    stop) stop ;;
    *) log "unknown command $cmd"; exit 2 ;;
esac
