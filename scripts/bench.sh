#!/usr/bin/env bash
# Build mbv2-bench (Release, into build/) and run the default suite: batch 1 and 256,
# every backend, every layer, warm and cold L2, stream and graph end to end. Extra
# arguments go to mbv2_bench, e.g.  scripts/bench.sh --quick  or
# scripts/bench.sh --report=reports/nvidia-h200-fp32.json
#
# Missing Debian packages are installed (when root and apt-get are there) by the same
# helper the test command uses, scripts/setup_deps.sh.
#
# Environment: MBV2_BUILD_DIR (default build), CMAKE_ARGS (extra configure flags),
#              JOBS (parallel build jobs, default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_deps.sh

build_dir=${MBV2_BUILD_DIR:-build}
echo "bench.sh: building mbv2_bench in $build_dir" >&2
configure_build "$build_dir" mbv2_bench

# The markdown summary is the only thing on stdout; progress and Google Benchmark's table
# go to stderr. The report lands in reports/latest-<gpu>-<precision>.json unless --report
# says otherwise.
exec "$build_dir/bench/mbv2_bench" "$@"
