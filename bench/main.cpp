// mbv2_bench: see bench/bench_app.h and `mbv2_bench --help`.
#include "bench/bench_app.h"

int main(int argc, char** argv) { return mbv2::run_bench_app(argc, argv); }
