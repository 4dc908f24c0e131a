#!/usr/bin/env bash
# Per-kernel GPU time of one custom forward() at batch 1 under Nsight Compute, at the
# GPU's own clocks and caches (no clock locking, no cache flush), for a few option sets,
# plus full ncu sections for one fused-block kernel. Run on a GPU machine after a build:
#   OUT=/tmp/out MBV2_BUILD_DIR=build scripts/profile_b1.sh
# Writes $OUT/ncu-<n>.csv (one per variant), $OUT/ncu-variants.txt, $OUT/ncu-full.txt
# (and with MBV2_PROFILE_SOURCE=1 $OUT/ncu-full.ncu-rep, $OUT/ncu-source.csv).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
BUILD=${MBV2_BUILD_DIR:-build}
BENCH="$BUILD/bench/mbv2_bench --infer --backend=custom"
mkdir -p "$OUT"
n=0
while IFS= read -r vars; do
  [[ -z $vars ]] && continue
  n=$((n + 1))
  echo "$n: $vars" >> "$OUT/ncu-variants.txt"
  env $vars timeout 90 ncu --clock-control none --cache-control none \
    --metrics gpu__time_duration.sum --csv $BENCH > "$OUT/ncu-$n.csv" 2>&1
done <<< "${MBV2_PROFILE_VARIANTS:-MBV2_CUSTOM_BLOCK_FUSION=0
MBV2_CUSTOM_BLOCK_FUSION=1}"
# Full sections of one block kernel: by default the first 14x14 block (the 7th fused block
# with every block fused); MBV2_PROFILE_FULL="<env assignments> skip=<n>" picks another
# (skip=13: the first 7x7 block), MBV2_PROFILE_FULL=none none.
full=${MBV2_PROFILE_FULL:-MBV2_CUSTOM_BLOCK_FUSION=1 skip=6}
# MBV2_PROFILE_SOURCE=1 also keeps the report ($OUT/ncu-full.ncu-rep, with the CUDA source:
# the build has -lineinfo) and exports its per-instruction page (stall samples, shared
# wavefronts and bank conflicts per SASS line) to $OUT/ncu-source.csv.
if [[ $full != none ]]; then
  skip=${full##*skip=}
  keep=()
  [[ ${MBV2_PROFILE_SOURCE:-0} == 1 ]] && keep=(--import-source yes -f -o "$OUT/ncu-full")
  env ${full% skip=*} timeout 120 ncu --clock-control none --set full -k regex:ir_block \
    --launch-skip "$skip" --launch-count 1 "${keep[@]}" $BENCH > "$OUT/ncu-full.txt" 2>&1
  if [[ ${#keep[@]} -gt 0 && -f $OUT/ncu-full.ncu-rep ]]; then
    ncu -i "$OUT/ncu-full.ncu-rep" --page details > "$OUT/ncu-full.txt" 2>&1
    ncu -i "$OUT/ncu-full.ncu-rep" --page source --csv --print-source sass > "$OUT/ncu-source.csv" 2>&1
  fi
fi
exit 0
