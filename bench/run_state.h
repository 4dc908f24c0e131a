// What a benchmark run holds between its phases, in order: prepare.h -> verification.h ->
// calibration.h -> suite.h (timing) -> report_assembly.h. One BatchRun per batch size,
// one BackendRun per backend in it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/cli_options.h"
#include "bench/model_setup.h"
#include "bench/timing.h"
#include "common/backend.h"
#include "common/device_memory.h"
#include "common/l2_flush.h"
#include "common/report.h"

namespace mbv2 {

/// How much each benchmark samples. A repetition is one call of the benchmark function
/// (Google Benchmark's repetition) of `iterations` samples; its mean is one value of the
/// statistics, whose median is the headline.
struct TimingPlan {
  int layer_repetitions = 7;
  int layer_iterations = 10;
  int e2e_repetitions = 11;
  int e2e_iterations = 10;
  int warmup_samples = 3;         ///< untimed samples before a benchmark's first repetition
  double warm_window_us = 100.0;  ///< a warm sample runs K launches lasting at least this
  int max_launches = 50;          ///< cap on K
  double blocker_timeout_s = 2.0;  ///< enqueueing K launches takes milliseconds
};

/// The plan for the options (--quick shrinks it; --benchmark_repetitions overrides counts).
TimingPlan timing_plan(const CliOptions& options);

/// The outcome of one verification (or of the reason it did not happen).
struct Verdict {
  Disposition disposition = Disposition::kNotRun;
  std::string note;
  std::optional<AgreementReport> agreement;
};

struct LayerCase {
  bool selected = false;  ///< chosen by --layers
  Verdict verdict;
  std::string what_ran;
  double estimate_us = 0.0;  ///< calibration: one launch, warm
  int launches = 1;          ///< K for warm samples
  /// Verified (passed or incorrect): may be timed.
  bool timeable() const {
    return verdict.disposition == Disposition::kPassed ||
           verdict.disposition == Disposition::kIncorrect;
  }
};

struct E2eCase {
  Verdict verdict;
  std::vector<std::vector<int>> top5;  ///< first images of the batch
  bool top5_match = false;
  bool timeable() const {
    return verdict.disposition == Disposition::kPassed ||
           verdict.disposition == Disposition::kIncorrect;
  }
};

struct BackendRun {
  const BackendInfo* info = nullptr;
  std::unique_ptr<Backend> backend;
  Verdict prepared;  ///< kPassed once prepare() succeeded
  double prepare_s = 0.0;
  std::vector<LayerCase> layers;  ///< indexed like ModelSpec::layers
  E2eCase stream, graph;
  std::string forward_description;
  DeviceBuffer<float> input;   ///< the batch in layout(), for forward()
  DeviceBuffer<float> logits;  ///< [batch, classes]
  CudaGraph graph_exec;
};

struct BatchRun {
  int batch = 1;
  std::vector<std::unique_ptr<BackendRun>> backends;  ///< in --backends order
  /// Harness buffers for run_layer, sized for the largest selected layer.
  DeviceBuffer<float> layer_in, layer_res, layer_out;
};

/// Shared by every phase.
struct BenchContext {
  const CliOptions& options;
  const ModelSetup& setup;
  const BackendRegistry& registry;
  TimingPlan plan;
  CudaStream stream;
  StreamBlocker blocker;
  L2Flusher flusher;
  int run_errors = 0;  ///< results that failed to run because something threw

  BenchContext(const CliOptions& o, const ModelSetup& s, const BackendRegistry& r)
      : options(o), setup(s), registry(r), plan(timing_plan(o)) {}
};

}  // namespace mbv2
