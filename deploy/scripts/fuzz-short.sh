#!/usr/bin/env bash
# A short coverage-guided fuzz run of the ingest decoders and the sync wire decoder (cargo-fuzz / libFuzzer with
# AddressSanitizer), for CI. The toolchain is stable: RUSTC_BOOTSTRAP unlocks the
# nightly flags cargo-fuzz needs. A crash fails the run and leaves the input in
# actors/fuzz/artifacts/.
#   fuzz-short.sh [SECONDS_PER_TARGET]   (default 20; SEAWATCH_FUZZ_SECS overrides)
set -euo pipefail
secs="${SEAWATCH_FUZZ_SECS:-${1:-20}}"
cd "$(dirname "$0")/../../actors/fuzz"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
# Keep the sanitizer builds apart from the workspace's own artifacts.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/fuzz"
for target in syslog_decode syslog_framer remote_write sync_wire; do
  corpus=$(mktemp -d)
  echo "== fuzz $target for ${secs}s"
  cargo fuzz run -O "$target" "$corpus" "seeds/$target" -- \
    -max_total_time="$secs" -max_len=4096 -print_final_stats=1 2>&1 | tail -4
  rm -rf "$corpus"
done
