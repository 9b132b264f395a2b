#!/usr/bin/env bash
# A switch CLI with state, the forced command of the test sshd (sshd-test-server.sh).
# Runs each line of $SSH_ORIGINAL_COMMAND in order, as one session:
#   show interfaces status | show running-config | interface Gi1/0/N | shutdown | no shutdown
# State: $1/ports (one "Gi1/0/N enabled|disabled" a line, 8 ports); every applied change is
# appended to $1/applied.log ("Gi1/0/7 shutdown"). $1/unplugged names a port whose cable
# is out (it stays notconnect when enabled). An unknown command: "% ..." and exit 1.
set -uo pipefail
dir="$1"
ports="$dir/ports"
exec 9>"$dir/lock"
flock 9
if [ ! -f "$ports" ]; then
    for i in 1 2 3 4 5 6 7 8; do echo "Gi1/0/$i enabled"; done >"$ports"
fi
unplugged="$(cat "$dir/unplugged" 2>/dev/null || true)"
iface=""
status=0
while IFS= read -r line; do
    line="$(echo "$line" | sed 's/^ *//; s/ *$//')"
    [ -z "$line" ] && continue
    case "$line" in
        "show interfaces status")
            printf '%-10s %-12s\n' Port Status
            while read -r p st; do
                if [ "$st" = disabled ]; then s=disabled
                elif [ "$p" = "$unplugged" ]; then s=notconnect
                else s=connected; fi
                printf '%-10s %s\n' "$p" "$s"
            done <"$ports" ;;
        "show running-config")
            echo "hostname $(hostname -s)"
            while read -r p st; do
                echo "interface $p"
                [ "$st" = disabled ] && echo " shutdown"
                echo "!"
            done <"$ports" ;;
        "interface "*)
            name="${line#interface }"
            if grep -q "^$name " "$ports"; then iface="$name"
            else echo "% Invalid interface $name"; status=1; break; fi ;;
        "shutdown"|"no shutdown")
            if [ -z "$iface" ]; then echo "% not in interface mode"; status=1; break; fi
            st=enabled; [ "$line" = shutdown ] && st=disabled
            sed -i "s#^$iface .*#$iface $st#" "$ports"
            echo "$iface $line" >>"$dir/applied.log" ;;
        *)
            echo "% Unknown command: $line"; status=1; break ;;
    esac
done <<<"${SSH_ORIGINAL_COMMAND:-}"
exit "$status"
