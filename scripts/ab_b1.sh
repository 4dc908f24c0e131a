#!/usr/bin/env bash
# Interleaved A/B of custom-backend variants, end to end: every round runs every variant once,
# so drift of the machine (clocks, temperature, neighbours) lands on all of them alike.
#
#   scripts/ab_b1.sh [-r ROUNDS] [-b BENCH] VARIANT...
#
# A VARIANT is a set of environment assignments ("MBV2_CUSTOM_BLOCK_TM=2,2", "X=1" for the
# defaults), optionally starting with @PATH to run another mbv2_bench binary (e.g. a build of
# the main branch: "@/tmp/main/build/bench/mbv2_bench X=1"). BENCH (default
# ${MBV2_BUILD_DIR:-build}/bench/mbv2_bench) runs the others. MBV2_AB_ARGS replaces the bench
# flags (default: batch 1, CUDA graph, L2 as it is). Each run's report goes to
# $OUT/ab/<variant>-r<round>.json; one line per run, then a table of the medians per variant.
# Exit 1 when a run fails or its report has no custom end-to-end result.
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=3
bench="${MBV2_BUILD_DIR:-build}/bench/mbv2_bench"
while getopts "r:b:" opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    b) bench=$OPTARG ;;
    *) echo "usage: scripts/ab_b1.sh [-r ROUNDS] [-b BENCH] VARIANT..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -eq 0 || ! $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/ab_b1.sh [-r ROUNDS] [-b BENCH] VARIANT... (ROUNDS a positive integer)" >&2
  exit 2
fi
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT/ab"
args=${MBV2_AB_ARGS:---batches=1 --l2=none --modes=graph}
rc=0
for ((r = 1; r <= rounds; r++)); do
  v=0
  for variant in "$@"; do
    v=$((v + 1))
    exe=$bench vars=$variant
    if [[ $variant == @* ]]; then
      exe=${variant%% *}; exe=${exe#@}
      vars=${variant#"@$exe"}
    fi
    report="$OUT/ab/v$v-r$r.json"
    rm -f "$report"
    # shellcheck disable=SC2086  # the assignments and flags are meant to split
    env $vars "$exe" --backends=custom $args --report="$report" > "$OUT/ab/v$v-r$r.log" 2>&1
    status=$?
    echo "round $r v$v [$variant] exit $status"
    [[ $status -ne 0 ]] && rc=1
  done
done
python3 - "$OUT/ab" "$rounds" "$@" <<'PY' || rc=1
import json, os, statistics, sys
d, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ok = True
rows = []
for v, name in enumerate(variants, 1):
    per_key = {}
    for r in range(1, rounds + 1):
        path = os.path.join(d, f"v{v}-r{r}.json")
        try:
            report = json.load(open(path))
        except (OSError, ValueError) as e:
            print(f"v{v} round {r}: no report ({e.__class__.__name__})")
            ok = False
            continue
        for e2e in report.get("end_to_end", []):
            for res in e2e.get("results", []):
                if res.get("backend") == "custom" and "timing" in res:
                    key = f"b{e2e['batch']} {e2e['mode']}"
                    per_key.setdefault(key, []).append(res["timing"]["median_us"])
    if not per_key:
        print(f"v{v}: no custom end-to-end result")
        ok = False
    for key, xs in sorted(per_key.items()):
        rows.append((f"v{v} {name}", key, xs))
print()
print("| variant | run | µs per round | mean |")
print("|---|---|---|---:|")
for name, key, xs in rows:
    print(f"| {name} | {key} | {' / '.join(f'{x:.2f}' for x in xs)} | {statistics.mean(xs):.2f} |")
sys.exit(0 if ok else 1)
PY
exit $rc
