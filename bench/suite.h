// The Google Benchmark suite: one benchmark per layer x backend x batch x regime and per
// backend x batch x end-to-end mode, with manual time from CUDA events.
//
// Every sample is kept here as well, so the report's statistics do not depend on which
// Google Benchmark version ran them: a repetition (one call of the benchmark function)
// contributes the mean of its samples, and the median of the last N repetitions is the
// headline (N = the repetitions asked for; earlier calls are Google Benchmark's iteration
// probes when --benchmark_min_time is given).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/run_state.h"

namespace mbv2 {

/// One registered benchmark and what it measured.
struct TimedCase {
  std::string name;
  bool is_layer = true;
  BatchRun* batch = nullptr;
  BackendRun* backend = nullptr;
  int layer = -1;          ///< per-layer cases
  bool cold = false;       ///< per-layer: L2 flushed before each sample
  bool graph = false;      ///< end to end: CUDA graph replay
  int launches = 1;        ///< K launches per sample
  int repetitions = 1;     ///< how many calls count
  std::vector<std::vector<double>> calls;  ///< per call, seconds per launch of each sample
  std::vector<std::vector<double>> host_calls;  ///< the same, host time inside the launch calls
  bool unblocked = false;  ///< the blocking kernel timed out once: sampled without it
  bool failed = false;
  Disposition failure = Disposition::kNotRun;
  std::string failure_note;
};

class Suite {
 public:
  Suite(BenchContext& ctx, std::vector<std::unique_ptr<BatchRun>>& batches);

  /// Registers every timeable case with Google Benchmark.
  void register_benchmarks();
  /// Runs them (Google Benchmark's console output goes to stderr). Throws FatalRunError
  /// after the run when a benchmark left the CUDA context unusable.
  void run();

  /// The case of a layer/regime or an end-to-end mode; null when none was registered.
  const TimedCase* find_layer(const BatchRun* batch, const BackendRun* backend, int layer,
                              bool cold) const;
  const TimedCase* find_e2e(const BatchRun* batch, const BackendRun* backend, bool graph) const;

 private:
  void run_case(TimedCase& tc, benchmark::State& state);
  void add(std::unique_ptr<TimedCase> tc);

  BenchContext& ctx_;
  std::vector<std::unique_ptr<BatchRun>>& batches_;
  std::vector<std::unique_ptr<TimedCase>> cases_;
  CudaEvent start_, stop_;
  std::string fatal_error_;  ///< set when a case left the CUDA context unusable
};

/// Benchmark names, e.g. "layer/03_features.2.conv.0.0/custom/b1/warm".
std::string layer_benchmark_name(const Layer& layer, const std::string& backend, int batch,
                                 const std::string& regime);
/// "e2e/cudnn-nhwc/b256/graph".
std::string e2e_benchmark_name(const std::string& backend, int batch, const std::string& mode);

/// Passes argv[0] and the --benchmark_* flags to benchmark::Initialize (with our default of
/// displaying aggregates only unless the flags say otherwise).
void initialize_google_benchmark(const std::string& argv0, const CliOptions& options);

/// --benchmark_list_tests: registers every name the options describe and lets Google
/// Benchmark print them; needs no GPU.
void list_benchmark_names(const CliOptions& options, const ModelSpec& spec);

/// Statistics of a case: the last `repetitions` calls, each contributing its mean.
/// Empty when the case never ran (filtered out) or failed.
std::optional<Timing> case_timing(const TimedCase& tc);
/// The same statistics of the host's time inside the launch calls (`host_calls`).
std::optional<Timing> case_host_timing(const TimedCase& tc);

}  // namespace mbv2
