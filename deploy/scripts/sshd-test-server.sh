#!/usr/bin/env bash
# Throwaway OpenSSH server (Debian's openssh-server) for seawatch's runbook ssh tests: a
# non-system sshd on a loopback port with its own host key, config and client key, whose
# forced command is deploy/sshd/switch-cli.sh (a switch CLI with state in DIR).
#
#   sshd-test-server.sh bin          print the sshd path (exit 1 when openssh-server is missing)
#   sshd-test-server.sh start DIR    keys + config in DIR, start on 127.0.0.1:$SSHD_PORT, wait
#                                    for the SSH banner; print HOST:PORT (last line). Files:
#                                    DIR/client_key (login key), DIR/known_hosts (the host
#                                    key), DIR/ports + DIR/applied.log (switch state)
#   sshd-test-server.sh rekey DIR    a new host key (the next start presents a changed key:
#                                    DIR/known_hosts keeps the first one)
#   sshd-test-server.sh stop DIR     SIGTERM, then SIGKILL
#   sshd-test-server.sh kill DIR     SIGKILL
set -euo pipefail

cmd="${1:-bin}"
dir="${2:-/tmp/seawatch-sshd-test}"
switch_cli="$(cd "$(dirname "${BASH_SOURCE[0]}")/../sshd" && pwd)/switch-cli.sh"
log() { echo "sshd-test-server: $*" >&2; }
. "$(dirname "${BASH_SOURCE[0]}")/lib/pidfile.sh"

bin() {
    for b in /usr/sbin/sshd "$(command -v sshd 2>/dev/null || true)"; do
        [ -n "$b" ] && [ -x "$b" ] && { echo "$b"; return 0; }
    done
    log "no sshd (install Debian's openssh-server)"; return 1
}

banner() {
    local line
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    read -r -t 2 line <&3 || { exec 3>&-; return 1; }
    exec 3>&-
    [ "${line:0:8}" = "SSH-2.0-" ]
}

case "$cmd" in
    bin) bin ;;
    start)
        : "${SSHD_PORT:?SSHD_PORT must be set}"
        sshd="$(bin)" || exit 1
        mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
        if pid_alive; then echo "127.0.0.1:$SSHD_PORT"; exit 0; fi
        [ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C seawatch-test-host -f "$dir/host_key"
        [ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C seawatch-test-client -f "$dir/client_key"
        chmod 600 "$dir/host_key" "$dir/client_key"
        echo "command=\"bash $switch_cli $dir\",no-pty,no-port-forwarding,no-agent-forwarding,no-X11-forwarding $(cat "$dir/client_key.pub")" >"$dir/authorized_keys"
        # the clients' known_hosts: written once, so a rekeyed server presents a changed key
        [ -f "$dir/known_hosts" ] || echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
        cat >"$dir/sshd_config" <<CFG
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile none
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AllowUsers $(id -un)
PermitRootLogin prohibit-password
LogLevel VERBOSE
CFG
        # sshd run as root needs its privilege-separation directory
        [ "$(id -u)" = 0 ] && mkdir -p /run/sshd
        setsid "$sshd" -D -e -f "$dir/sshd_config" >>"$dir/server.log" 2>&1 </dev/null &
        echo $! >"$dir/server.pid"
        for _ in $(seq 1 200); do
            if banner "$SSHD_PORT"; then echo "127.0.0.1:$SSHD_PORT"; exit 0; fi
            pid_alive || { log "exited; log:"; tail -20 "$dir/server.log" >&2; exit 1; }
            sleep 0.05
        done
        log "no banner on $SSHD_PORT after 10 s"; tail -20 "$dir/server.log" >&2; exit 1 ;;
    rekey)
        rm -f "$dir/host_key" "$dir/host_key.pub"
        ssh-keygen -q -t ed25519 -N '' -C seawatch-test-host -f "$dir/host_key" ;;
    stop) stop ;;
    kill)
        if pid_alive; then kill -KILL "$(cat "$dir/server.pid")"; fi
        rm -f "$dir/server.pid" ;;
    *) log "unknown command $cmd"; exit 2 ;;
esac
