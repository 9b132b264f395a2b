#!/usr/bin/env bash
# Latency of the console's device, link and topology routes on `seawatch demo`: starts the
# demo, lets it play WARM_S seconds (real time), signs in as admin, then sends N requests
# (one at a time) to each route for ship-1 and prints p50 / p95 / max in ms as a Markdown
# table (curl's time_total: connect to last byte).
#   console-pages-latency.sh [WARM_S] [N]
set -euo pipefail
warm="${1:-300}"; n="${2:-20}"
cd "$(dirname "$0")/../.."
bin="${SEAWATCH_BIN:-target/release/seawatch}"
[ -x "$bin" ] || cargo build --release -p seawatch-topologies --bin seawatch >&2
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$bin" demo --listen 127.0.0.1:$port --data "$work" >"$work/demo.out" 2>&1 &
base="http://127.0.0.1:$port"
for _ in $(seq 300); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
pw=$(cat "$work/initial-admin-password")
token=$(curl -sf -H 'Content-Type: application/json' -d "{\"user\":\"admin\",\"password\":\"$pw\"}" "$base/api/login" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
echo "demo playing for ${warm} s before measuring..." >&2
sleep "$warm"
echo "| route | requests | p50 ms | p95 ms | max ms | bytes |"
echo "|---|---|---|---|---|---|"
for path in \
  "/api/devices?ship=ship-1" \
  "/api/devices/core-sw-1?ship=ship-1" \
  "/api/devices/pms-db-1?ship=ship-1" \
  "/api/devices/core-sw-1?ship=ship-1&hours=24&points=240" \
  "/api/links?ship=ship-1" \
  "/api/links/vsat-1?ship=ship-1" \
  "/api/links/vsat-1?ship=ship-1&hours=6&points=240" \
  "/api/topology?ship=ship-1"; do
  : > "$work/t"
  for _ in $(seq "$n"); do
    curl -s -o "$work/body" -w '%{http_code} %{time_total} %{size_download}\n' -H "Authorization: Bearer $token" "$base$path" >> "$work/t"
  done
  python3 - "$path" "$work/t" <<'PY'
import math, sys
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
bad = [r[0] for r in rows if r[0] != "200"]
if bad:
    sys.exit(f"{sys.argv[1]}: status {bad[0]}")
ms = sorted(float(r[1]) * 1000 for r in rows)
q = lambda p: ms[max(0, math.ceil(p * len(ms)) - 1)]
print(f"| `{sys.argv[1]}` | {len(ms)} | {q(0.5):.1f} | {q(0.95):.1f} | {ms[-1]:.1f} | {rows[-1][2]} |")
PY
done
