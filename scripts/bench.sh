#!/usr/bin/env bash
# Build mbv2-bench (Release, into build/) and run the default suite: batch 1 and 256,
# every backend, every layer, warm and cold L2, stream and graph end to end. Extra
# arguments go to mbv2_bench, e.g.  scripts/bench.sh --quick  or
# scripts/bench.sh --report=reports/h100-80gb-hbm3-fp32.json
#
# Missing build dependencies are installed with apt-get only where apt-get exists and a
# dependency is really missing (checked with dpkg -s / header presence first), so a
# machine that has everything, with or without a network, never calls apt.
#
# Environment: BUILD_DIR (default build), CMAKE_ARGS (extra configure flags),
#              JOBS (parallel build jobs, default: all cores).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-$root/build}"
jobs="${JOBS:-$(nproc 2>/dev/null || echo 4)}"

say() { printf 'bench.sh: %s\n' "$*" >&2; }

# --- dependencies ---------------------------------------------------------------------
# Debian/Ubuntu package -> a file that proves it is there (header or program).
declare -A probe=(
  [cmake]=/usr/bin/cmake
  [g++]=/usr/bin/g++
  [ninja-build]=/usr/bin/ninja
  [libbenchmark-dev]=/usr/include/benchmark/benchmark.h
  [libgtest-dev]=/usr/include/gtest/gtest.h
  [nlohmann-json3-dev]=/usr/include/nlohmann/json.hpp
  [libpng-dev]=/usr/include/png.h
  [libjpeg-dev]=/usr/include/jpeglib.h
)
missing=()
for pkg in "${!probe[@]}"; do
  file="${probe[$pkg]}"
  if [[ -e "$file" ]]; then continue; fi
  if command -v dpkg >/dev/null 2>&1 && dpkg -s "$pkg" >/dev/null 2>&1; then continue; fi
  # Programs installed elsewhere (a newer cmake in /usr/local, say) count too.
  case "$pkg" in
    cmake) command -v cmake >/dev/null 2>&1 && continue ;;
    g++) command -v g++ >/dev/null 2>&1 && continue ;;
    ninja-build) command -v ninja >/dev/null 2>&1 && continue ;;
  esac
  missing+=("$pkg")
done
if ((${#missing[@]})); then
  if command -v apt-get >/dev/null 2>&1; then
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
      if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
        say "missing packages ${missing[*]} and no root/sudo to install them"; exit 2; fi
    fi
    say "installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    # Ninja is optional; everything else is needed.
    needed=()
    for pkg in "${missing[@]}"; do [[ "$pkg" == ninja-build ]] || needed+=("$pkg"); done
    if ((${#needed[@]})); then say "missing ${needed[*]} and no apt-get to install them"; exit 2; fi
  fi
fi
if ! command -v nvcc >/dev/null 2>&1 && [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  say "the CUDA toolkit (nvcc) is not installed; see README.md"
  exit 2
fi
if ! command -v nvcc >/dev/null 2>&1; then export PATH="/usr/local/cuda/bin:$PATH"; fi

# --- configure and build ----------------------------------------------------------------
generator=()
if [[ ! -f "$build_dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi
say "configuring $build_dir (Release)"
# shellcheck disable=SC2086
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >&2
say "building mbv2_bench with $jobs jobs"
cmake --build "$build_dir" --target mbv2_bench -j "$jobs" >&2

# --- run ----------------------------------------------------------------------------------
# The markdown summary is the only thing on stdout; progress and Google Benchmark's table
# go to stderr. The report lands in reports/latest-<gpu>-<precision>.json unless --report
# says otherwise.
cd "$root"
exec "$build_dir/bench/mbv2_bench" "$@"
