#!/bin/bash
# NAB hold-out check (docs/benchmarks.md): for each labelled category, pick the best of a
# few candidate configurations on the other categories and report it on the held-out one.
# Build first: cargo build --release -p seawatch-actors --example nab_eval
# Usage: actors/examples/nab_holdout.sh [NAB_DIR]   (B= overrides the nab_eval binary)
set -u
D=${1:-../shared/data/nab}
B=${B:-${CARGO_TARGET_DIR:-target}/release/examples/nab_eval}
CATS="artificialWithAnomaly realAWSCloudwatch realKnownCause realTraffic"
declare -A CFG
# A: the previous default (mode 3 without the sequence memory); B: the default since
# decision 0015 (sequence memory on); C-F: variants of B.
S="SEQ=8 SEQRUNS=0"
CFG[A]="SEQ=0"
CFG[B]="$S"
CFG[C]="$S SEQCOLLAPSE=0"
CFG[D]="$S SEQK=4"
CFG[E]="$S NOV=8x1"
CFG[F]="$S REST=100"
for h in $CATS; do
  train="artificialNoAnomaly"; for c in $CATS; do [ $c != $h ] && train="$train,$c"; done
  best=""; bs=-999
  for k in A B C D E F; do
    s=$(env ${CFG[$k]} CATS=$train $B $D | awk '{print $2}')
    t=$(env ${CFG[$k]} CATS=$h $B $D | awk '{print $2}')
    echo "  hold $h cfg $k train $s test $t"
    if (( $(echo "$s > $bs" | bc) )); then bs=$s; best=$k; bt=$t; fi
  done
  echo "HOLDOUT $h: chosen $best (train $bs) -> held-out $bt"
done
