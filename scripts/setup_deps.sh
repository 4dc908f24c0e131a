# Sourced by scripts/test.sh and scripts/bench.sh: make sure the build dependencies are
# present (installing missing Debian packages when apt-get and root are available),
# then configure and build.

mbv2_missing=()
mbv2_need() {  # mbv2_need <debian package> <file or command that proves it is there>
  if [[ "$2" == /* ]]; then [[ -e "$2" ]] || mbv2_missing+=("$1")
  else command -v "$2" >/dev/null 2>&1 || mbv2_missing+=("$1"); fi
}
mbv2_need cmake cmake
mbv2_need g++ g++
mbv2_need libgtest-dev /usr/include/gtest/gtest.h
mbv2_need libbenchmark-dev /usr/include/benchmark/benchmark.h
mbv2_need nlohmann-json3-dev /usr/include/nlohmann/json.hpp
mbv2_need libpng-dev /usr/include/png.h
mbv2_need libjpeg-dev /usr/include/jpeglib.h
# The plot tests (reports/plot_report.py) run with Debian's matplotlib under /usr/bin/python3.
if ! /usr/bin/python3 -c 'import matplotlib, numpy' >/dev/null 2>&1; then
  mbv2_missing+=(python3-matplotlib python3-numpy)
fi
if ! command -v ninja >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
  mbv2_missing+=(ninja-build)  # optional: make works too
fi
if (( ${#mbv2_missing[@]} )); then
  if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
    echo "setup: installing ${mbv2_missing[*]}" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${mbv2_missing[@]}" >&2
  else
    echo "setup: missing packages: ${mbv2_missing[*]} (install them, e.g. with apt-get)" >&2
    exit 2
  fi
fi
if ! command -v nvcc >/dev/null 2>&1; then
  if [[ -x /usr/local/cuda/bin/nvcc ]]; then export PATH=/usr/local/cuda/bin:$PATH
  else echo "setup: nvcc not found: the CUDA toolkit is required to build" >&2; exit 2; fi
fi

configure_build() {  # configure_build <build dir> [target]: Release, Ninja when present
  local gen=() target=()
  command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
  [[ -n ${2:-} ]] && target=(--target "$2")
  if [[ ! -f "$1/CMakeCache.txt" ]]; then
    # shellcheck disable=SC2086
    cmake -S . -B "$1" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >&2
  fi
  cmake --build "$1" "${target[@]}" -j "${JOBS:-$(nproc)}" >&2
}
