#!/usr/bin/env bash
# Same load, same machine, same run: loggen (syslog-ng's load generator) sends RFC 5424
# over TCP for SECS seconds, first to syslog-ng 3.x writing a file, then to `seawatch ship`
# writing its durable event log. Prints both rates and their ratio as JSON.
#   bench-vs-syslog-ng.sh [SECS] [CONNECTIONS]
set -euo pipefail
secs="${1:-10}"; conns="${2:-4}"
cd "$(dirname "$0")/../.."
command -v loggen >/dev/null || { echo "loggen missing: apt-get install syslog-ng-core" >&2; exit 2; }
bin="${SEAWATCH_BIN:-target/release/seawatch}"
[ -x "$bin" ] || cargo build --release -p seawatch-topologies --bin seawatch >&2
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
rate=1000000  # per connection: far above what either side takes, so both run flat out

# --- syslog-ng writing a plain file
p1=$(port)
cat > "$work/syslog-ng.conf" <<CONF
@version: 3.38
options { flush_lines(1000); log_fifo_size(100000); stats_freq(0); };
source s_net { network(ip(127.0.0.1) port($p1) transport("tcp") flags(syslog-protocol) max-connections(64) log-iw-size(200000)); };
destination d_file { file("$work/out.log"); };
log { source(s_net); destination(d_file); };
CONF
syslog-ng -F -f "$work/syslog-ng.conf" -R "$work/persist" -p "$work/pid" -c "$work/ctl" >"$work/sng.log" 2>&1 &
sng=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p1) 2>/dev/null && break; sleep 0.1; done
loggen --inet --stream --syslog-proto --size 200 --rate $rate --interval "$secs" --active-connections "$conns" 127.0.0.1 "$p1" >"$work/lg1.out" 2>&1 || true
sleep 1; kill $sng 2>/dev/null || { echo "syslog-ng exited early:" >&2; cat "$work/sng.log" >&2; }; wait $sng 2>/dev/null || true
sng_lines=$(wc -l < "$work/out.log")

# --- seawatch ship writing its durable event log
p2=$(port); h2=$(port)
"$bin" ship --data "$work/sw" --syslog 127.0.0.1:$p2 --listen 127.0.0.1:$h2 >"$work/sw.out" 2>&1 &
sw=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$h2) 2>/dev/null && break; sleep 0.1; done
loggen --inet --stream --syslog-proto --size 200 --rate $rate --interval "$secs" --active-connections "$conns" 127.0.0.1 "$p2" >"$work/lg2.out" 2>&1 || true
sleep 2
metric() { curl -s "http://127.0.0.1:$h2/metrics" 2>/dev/null | awk -v m="$1" '$1 ~ "^"m {print $2}' | head -1; }
sw_durable=$(metric 'seawatch_eventlog_events_total' || echo 0)
kill $sw; wait $sw 2>/dev/null || true

sent1=$(grep -o 'sent=[0-9]*\|count=[0-9]*' "$work/lg1.out" | tail -1 | cut -d= -f2 || echo "?")
sent2=$(grep -o 'sent=[0-9]*\|count=[0-9]*' "$work/lg2.out" | tail -1 | cut -d= -f2 || echo "?")
python3 - "$secs" "$sng_lines" "${sw_durable:-0}" "$sent1" "$sent2" <<'PY'
import json, sys
secs, sng, sw = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
print(json.dumps({
  "secs": secs,
  "syslog_ng_lines_written": sng, "syslog_ng_msgs_per_s": sng / secs,
  "seawatch_durable_events": int(sw), "seawatch_events_per_s": sw / secs,
  "ratio_seawatch_over_syslog_ng": (sw / sng) if sng else None,
  "loggen_sent_to_syslog_ng": sys.argv[4], "loggen_sent_to_seawatch": sys.argv[5],
}, indent=2))
PY
