#!/usr/bin/env bash
# The project's one test command: installs missing Debian packages (when it can),
# configures, builds and runs every test through CTest. GPU tests skip, saying why,
# on a machine without a GPU.
#
#   scripts/test.sh            # build into build/ and run all tests
#   MBV2_BUILD_DIR=out scripts/test.sh -R Reference   # extra args go to ctest
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup_deps.sh

build_dir=${MBV2_BUILD_DIR:-build}
configure_build "$build_dir"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" "$@"
