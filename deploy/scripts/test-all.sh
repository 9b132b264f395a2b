#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test of the workspace.
# Run from anywhere; CI calls it through .ci/run with CI=true.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

# Services the tests drive for real (ClickHouse, syslog-ng, Prometheus, NATS, SMTP) are
# installed and started by the scripts beside this one, when a test needs them.
for svc in deploy/scripts/services/*.sh; do
  [ -e "$svc" ] || continue
  echo "== service: $svc"
  bash "$svc"
done

# The sync tests start their own nats-server processes with this binary.
if nats_bin=$(bash deploy/scripts/nats-test-server.sh bin 2>/dev/null); then
  export SEAWATCH_NATS_SERVER="$nats_bin"
fi

# The assistant with its local LLM (feature `llm`: llama.cpp, built with the cmake and
# clang that services/packages.sh installs; the model comes from services/models.sh).
echo "== cargo clippy -p seawatch-assistant --features llm"
cargo clippy -p seawatch-assistant --features llm --all-targets -- -D warnings

echo "== short fuzz run of the decoders"
bash deploy/scripts/fuzz-short.sh

echo "== cargo test"
log=$(mktemp)
set +e
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
# The assistant's unit tests and its LLM tests again with the feature on (its embedding
# tests, tests/model.rs, ran above and do not change with it).
echo "== cargo test -p seawatch-assistant --features llm --lib --test llm"
cargo test -p seawatch-assistant --features llm --no-fail-fast --lib --test llm 2>&1 | tee -a "$log"
llm_rc=${PIPESTATUS[0]}
[ "$rc" -ne 0 ] || rc=$llm_rc
set -e
# One closing line over every test binary (the last binary alone may have no tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$rc"
