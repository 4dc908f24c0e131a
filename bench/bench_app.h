// The mbv2_bench program as a function: main() only forwards to it.
#pragma once

namespace mbv2 {
/// Runs the command line and returns the exit status: 0 every result that ran passed;
/// 1 a result was incorrect or failed to run (the report is still written); 2 bad flags
/// or input, no CUDA device, or a batch that does not fit in GPU memory.
int run_bench_app(int argc, char** argv);
}  // namespace mbv2
