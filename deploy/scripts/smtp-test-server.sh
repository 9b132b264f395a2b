#!/usr/bin/env bash
# Throwaway SMTP server (aiosmtpd) for seawatch's mail tests.
#
#   smtp-test-server.sh bin                 install aiosmtpd if missing; print the python path
#   smtp-test-server.sh start DIR           start deploy/smtp/test_smtp_server.py on
#                                           127.0.0.1:$SMTP_PORT, wait until it greets;
#                                           print HOST:PORT (last line); pid in DIR/server.pid
#   smtp-test-server.sh mode DIR MODE       accept | refuse | drop | tempfail | drop-after-data
#                                           (see the python file; read on every connection)
#   smtp-test-server.sh stop DIR            SIGTERM, then SIGKILL
#   smtp-test-server.sh kill DIR            SIGKILL (a crash)
#
# SMTP_TLS=starttls|tls serves TLS with a certificate for 127.0.0.1 signed by a throwaway
# CA, made here with openssl (DIR/ca.pem is what a client trusts); SMTP_AUTH=user:password
# requires authentication (see the python file).
# Received messages land in DIR/maildir/new/, one file each. aiosmtpd (PyPI) is installed
# into the venv $HOME/.cache/seawatch-smtp (SMTP_VENV) when missing. Messages go to stderr.
set -euo pipefail

cmd="${1:-bin}"
dir="${2:-/tmp/seawatch-smtp-test}"
venv="${SMTP_VENV:-$HOME/.cache/seawatch-smtp}"
version="1.4.6"
server_py="$(cd "$(dirname "${BASH_SOURCE[0]}")/../smtp" && pwd)/test_smtp_server.py"

log() { echo "smtp-test-server: $*" >&2; }

has_aiosmtpd() { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; }

bin() {
    if has_aiosmtpd; then echo "$venv/bin/python"; return 0; fi
    command -v python3 >/dev/null 2>&1 || { log "no python3 to install aiosmtpd"; return 1; }
    log "installing aiosmtpd==$version into $venv"
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q "aiosmtpd==$version" >&2 \
        || { log "pip install of aiosmtpd==$version failed"; return 1; }
    has_aiosmtpd || { log "installed, but aiosmtpd does not import"; return 1; }
    echo "$venv/bin/python"
}

# pid_alive and stop
. "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

# True when the server at $SMTP_PORT sends its 220 greeting (over TLS with SMTP_TLS=tls).
greets() {
    local line
    if [ "${SMTP_TLS:-none}" = "tls" ]; then
        "$python" - "$1" <<'PY' 2>/dev/null
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2) as s:
    with ctx.wrap_socket(s) as t:
        sys.exit(0 if t.recv(3) == b"220" else 1)
PY
        return
    fi
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    read -r -t 2 line <&3 || { exec 3>&-; return 1; }
    exec 3>&-
    [ "${line:0:3}" = "220" ]
}

# A CA and a server certificate for 127.0.0.1 and localhost, once per DIR.
certs() {
    [ -f "$dir/server.pem" ] && return 0
    command -v openssl >/dev/null 2>&1 || { log "SMTP_TLS needs openssl"; return 1; }
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=seawatch test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
}

case "$cmd" in
    bin) bin ;;
    start)
        : "${SMTP_PORT:?SMTP_PORT must be set}"
        python="$(bin)" || exit 1
        mkdir -p "$dir/maildir/new" "$dir/maildir/tmp" "$dir/maildir/cur"
        if [ "${SMTP_TLS:-none}" != "none" ]; then certs || exit 1; fi
        if pid_alive; then log "already running (pid $(cat "$dir/server.pid"))"; echo "127.0.0.1:$SMTP_PORT"; exit 0; fi
        # The greeting check needs the accepting mode; keep a mode the test chose.
        saved_mode=""
        [ -f "$dir/mode" ] && saved_mode="$(cat "$dir/mode")" && rm -f "$dir/mode"
        setsid "$python" "$server_py" "$dir" "$SMTP_PORT" >>"$dir/server.log" 2>&1 </dev/null &
        echo $! >"$dir/server.pid"
        for _ in $(seq 1 200); do
            if greets "$SMTP_PORT"; then
                [ -n "$saved_mode" ] && echo "$saved_mode" >"$dir/mode"
                echo "127.0.0.1:$SMTP_PORT"; exit 0
            fi
            pid_alive || { log "exited; log:"; tail -20 "$dir/server.log" >&2; exit 1; }
            sleep 0.05
        done
        log "no greeting on $SMTP_PORT after 10 s"; tail -20 "$dir/server.log" >&2; exit 1 ;;
    mode)
        m="${3:?usage: mode DIR accept|refuse|drop|tempfail|drop-after-data}"
        case "$m" in
            accept|refuse|drop|tempfail|drop-after-data) ;;
            *) log "unknown mode $m"; exit 2 ;;
        esac
        mkdir -p "$dir"
        echo "$m" >"$dir/mode.tmp" && mv "$dir/mode.tmp" "$dir/mode" ;;
    stop) stop ;;
    kill)
        if pid_alive; then kill -KILL "$(cat "$dir/server.pid")"; fi
        rm -f "$dir/server.pid" ;;
    *) log "unknown command $cmd"; exit 2 ;;
esac
