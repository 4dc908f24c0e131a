#!/usr/bin/env bash
# One full session on a GPU machine: build, test, sanitize our kernels, benchmark twice,
# compare the two runs, make plots. Every step logs to $OUT/logs/<step>.log; the logs are
# packed into $OUT/logs.tgz and the reports copied to $OUT. A short table prints last.
#
#   OUT=/tmp/out MBV2_STEPS=build,bench,test,sanitize scripts/gpu_session.sh [bench args]
# Steps run in the order below whatever the order in MBV2_STEPS; each is cut off after
# MBV2_TIMEOUT_<STEP> seconds (default 400), and the logs are packed after each step, so
# they come back even when the device call itself is cut off.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/out}
STEPS=${MBV2_STEPS:-build,test,sanitize,bench,bench2}
BUILD=${MBV2_BUILD_DIR:-build}
mkdir -p "$OUT/logs"
declare -A status seconds

step() {  # step <name> <command...>: run if selected, log, remember status and duration
  local name=$1; shift
  [[ ",$STEPS," == *",$name,"* ]] || return 0
  local t0=$SECONDS
  echo "=== $name: $*" | tee -a "$OUT/logs/session.log"
  local limit_var="MBV2_TIMEOUT_${name^^}"
  timeout -k 10 "${!limit_var:-400}" bash -c '"$@"' _ "$@" > "$OUT/logs/$name.log" 2>&1
  status[$name]=$?
  seconds[$name]=$((SECONDS - t0))
  echo "=== $name: exit ${status[$name]} in ${seconds[$name]} s" | tee -a "$OUT/logs/session.log"
  tail -n 25 "$OUT/logs/$name.log"
  tar -C "$OUT" -czf "$OUT/logs.tgz" logs  # after every step: a run cut off still returns its logs
}

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
  --format=csv > "$OUT/logs/gpu.csv" 2>&1

build() {
  local gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release && cmake --build "$BUILD" -j "$(nproc)"
}
tests() { ctest --test-dir "$BUILD" --output-on-failure -j "${MBV2_CTEST_JOBS:-4}" --timeout 900 ${MBV2_CTEST_ARGS:-}; }
sanitize() {
  local rc=0 exe
  for exe in "$BUILD"/tests/test_custom_layers "$BUILD"/tests/test_custom_network; do
    for tool in memcheck racecheck synccheck; do
      echo "--- compute-sanitizer --tool $tool $exe --gtest_filter=CustomSanitize.*"
      compute-sanitizer --tool "$tool" --error-exitcode 1 "$exe" --gtest_filter='CustomSanitize.*' || rc=1
    done
  done
  return $rc
}
# Custom-backend variants measured against each other in interleaved rounds
# (scripts/ab_b1.sh): MBV2_EXPERIMENTS holds one variant per line, as environment
# assignments ("MBV2_CUSTOM_BLOCK_TM=2,2", "X=1" for the defaults), optionally "@PATH ..." for
# another mbv2_bench binary; MBV2_EXP_ROUNDS rounds (default 3); MBV2_AB_ARGS the bench flags
# (default batch 1, CUDA graph). Reports under $OUT/ab/, a table of medians at the end.
experiments() {
  local variants=()
  while IFS= read -r line; do [[ -n $line ]] && variants+=("$line"); done <<< "${MBV2_EXPERIMENTS:-X=1
MBV2_CUSTOM_BLOCK_GEMM=pairs2}"
  MBV2_BUILD_DIR=$BUILD scripts/ab_b1.sh -r "${MBV2_EXP_ROUNDS:-3}" "${variants[@]}"
}
bench_run() {  # bench_run <report path> [args]
  local report=$1; shift
  /usr/bin/time -v "$BUILD/bench/mbv2_bench" --report="$report" "$@"
}

export -f build tests sanitize bench_run experiments
export BUILD OUT
# Correctness first (what must hold before any number counts), then the report, then
# what only adds to it: a call cut off short loses the least important steps.
step build build
step test tests
step sanitize sanitize
step bench bench_run "$OUT/report1.json" "$@"
step bench2 bench_run "$OUT/report2.json" "$@"
step experiments experiments
step pytorch python3 tools/pytorch_baseline.py --json "$OUT/logs/pytorch.json"
if [[ -f $OUT/report1.json && -f $OUT/report2.json ]]; then
  step compare "$BUILD/reports/mbv2_report" compare "$OUT/report1.json" "$OUT/report2.json" --all
fi
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
  --format=csv >> "$OUT/logs/gpu.csv" 2>&1

tar -C "$OUT" -czf "$OUT/logs.tgz" logs
echo
echo "| step | exit | seconds |"
echo "|---|---|---|"
for s in build test sanitize bench bench2 compare experiments pytorch; do
  [[ -n ${status[$s]+x} ]] && echo "| $s | ${status[$s]} | ${seconds[$s]} |"
done
