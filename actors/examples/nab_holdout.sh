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
# A: the default of decision 0015; B-G: the candidates of decision 0018: B = no
# re-report during a rest; C = B with the shape-novelty channels weighted 0.7 in the
# Bonferroni bound; D = B with one shape-novelty channel (8x1); E = C and D; F = B with
# a 100-sample rest; G = B with rest level 0.15 and a 60-sample rest; H = B with a
# 60-sample rest.
# Decision 0019: every candidate names ART= explicitly (the default has the ART
# gate on). I = the default of decision 0019 (B with the ART gate: 8 blocks of 4 samples, vigilance
# 0.97, factor 0.7, hold 2); J/K = I with blocks of 3/6 samples; L = I with 6 blocks;
# M = I with rest level 0.15; N = I with a 60-sample rest; O = I with factor 0.8; P = I
# with 32 categories (the final default). J-O inherit ARTK from the default.
AB="ART=0 LENP=0"
CFG[A]="$AB RESTESC=1 WEIGHTS=1,1,1 NOV=8x1,8x8 REST=30 ALERT=0.17"
CFG[B]="$AB RESTESC=0 WEIGHTS=1,1,1 NOV=8x1,8x8 REST=30 ALERT=0.17"
CFG[C]="$AB RESTESC=0 WEIGHTS=1,0.7,1 NOV=8x1,8x8 REST=30 ALERT=0.17"
CFG[D]="$AB RESTESC=0 WEIGHTS=1,1,1 NOV=8x1 REST=30 ALERT=0.17"
CFG[E]="$AB RESTESC=0 WEIGHTS=1,0.7,1 NOV=8x1 REST=30 ALERT=0.17"
CFG[F]="$AB RESTESC=0 WEIGHTS=1,1,1 NOV=8x1,8x8 REST=100 ALERT=0.17"
CFG[G]="$AB RESTESC=0 WEIGHTS=1,1,1 NOV=8x1,8x8 REST=60 ALERT=0.15"
CFG[H]="$AB RESTESC=0 WEIGHTS=1,1,1 NOV=8x1,8x8 REST=60 ALERT=0.17"
AI="LENP=0 RESTESC=0 WEIGHTS=1,1,1 NOV=8x1,8x8 ART=8 ARTB=4 ARTRHO=0.97 ARTF=0.7 ARTHOLD=2"
CFG[I]="$AI ARTK=64 REST=30 ALERT=0.17"
CFG[P]="$AI ARTK=32 REST=30 ALERT=0.17"
CFG[J]="$AI ARTB=3 REST=30 ALERT=0.17"
CFG[K]="$AI ARTB=6 REST=30 ALERT=0.17"
CFG[L]="$AI ART=6 REST=30 ALERT=0.17"
CFG[M]="$AI REST=30 ALERT=0.15"
CFG[N]="$AI REST=60 ALERT=0.17"
CFG[O]="$AI ARTF=0.8 REST=30 ALERT=0.17"
# Decision 0020: every candidate names LENP= (the length penalty, default 0).
# Q = P with rest level 0.16 and a 60-sample rest; R = Q with one shape-novelty channel
# (8x1); S = R with rest level 0.155 and length penalty 0.2; T = Q with 64 categories;
# U = Q with length penalty 0.2 and rest level 0.155; V = S with 64 categories.
AQ="$AI ARTK=32 REST=60 LENP=0"
CFG[Q]="$AQ ALERT=0.16"
CFG[R]="$AQ ALERT=0.16 NOV=8x1"
CFG[S]="$AI ARTK=32 REST=60 NOV=8x1 ALERT=0.155 LENP=0.2"
CFG[T]="$AQ ALERT=0.16 ARTK=64"
CFG[U]="$AI ARTK=32 REST=60 ALERT=0.155 LENP=0.2 NOV=8x1,8x8"
CFG[V]="$AI ARTK=64 REST=60 NOV=8x1 ALERT=0.155 LENP=0.2"
# Decision 0054 (one configuration on board and on NAB; the default changed, so each
# candidate names every knob that differs): W = the shared default (history 6000, rest
# 60 without rising-edge suppression, sequence memory with 512 slots, ART gate with 32
# categories, one 8x1 novelty channel, no length penalty); X = the NAB default before
# 0054 (V of 0020); Y = the device detectors' ensemble before 0054; Z = W with the
# NAB-sized tables (2048 slots, 64 categories).
CFG[W]="SUPPRESS=0 REST=60 SEQ=8 SEQSLOTS=512 ART=8 ARTK=32 NOV=8x1 LENP=0 HISTORY=6000"
CFG[X]="SUPPRESS=100 REST=60 SEQ=8 SEQSLOTS=2048 ART=8 ARTK=64 NOV=8x1 LENP=0.2 HISTORY=6000"
CFG[Y]="SUPPRESS=0 REST=0 SEQ=0 ART=0 NOV=8x1,8x8 LENP=0 HISTORY=1000"
CFG[Z]="SUPPRESS=0 REST=60 SEQ=8 SEQSLOTS=2048 ART=8 ARTK=64 NOV=8x1 LENP=0 HISTORY=6000"
KEYS=${KEYS:-"A B C D E F G H I J K L M N O P Q R S T U V"}
for h in $CATS; do
  train="artificialNoAnomaly"; for c in $CATS; do [ $c != $h ] && train="$train,$c"; done
  best=""; bs=-999
  for k in $KEYS; do
    s=$(env ${CFG[$k]} CATS=$train $B $D | awk '{print $2}')
    t=$(env ${CFG[$k]} CATS=$h $B $D | awk '{print $2}')
    echo "  hold $h cfg $k train $s test $t"
    if (( $(echo "$s > $bs" | bc) )); then bs=$s; best=$k; bt=$t; fi
  done
  echo "HOLDOUT $h: chosen $best (train $bs) -> held-out $bt"
done
