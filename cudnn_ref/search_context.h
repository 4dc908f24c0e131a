// What every layer's engine search shares during prepare(): the cuDNN handle and stream,
// the limits (how many candidates, how much runtime compilation), the timer settings, the
// output checker, a growable workspace and the buffer holding the layer's reference output.
#pragma once

#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/device_memory.h"
#include "common/metrics.h"
#include "common/tensor.h"
#include "cudnn_ref/candidate_timer.h"
#include "cudnn_ref/output_check.h"

namespace mbv2::cudnn {

/// Caps that keep prepare() to a few seconds while still searching widely.
struct SearchLimits {
  int fused_graph_plans = 12;     ///< plans timed per fully fused graph recipe
  int partial_graph_plans = 4;    ///< per graph recipe that leaves ops to the legacy API
  int configs_per_plan = 3;       ///< configs gathered per plan wanted (many fail to finalize)
  int legacy_algos = 3;           ///< legacy cudnnConvolution*Forward algorithms tried
  int knob_bases = 2;             ///< fastest graph candidates whose knobs get varied
  int knob_variants_per_base = 4;
  int max_timed_per_layer = 32;   ///< candidates timed per layer, all sources together
  int64_t max_workspace_bytes = int64_t(1) << 30;
  int runtime_compiled_per_layer = 2;  ///< RUNTIME_COMPILATION plans finalized per layer
  double runtime_compile_budget_ms = 4000.0;  ///< for all layers of one prepare()
};

/// Counts of what one layer's search saw; printed into describe(i).details.
struct SearchStats {
  int heuristic_results = 0;
  int duplicates = 0;
  int filtered_by_notes = 0;
  int plans_failed = 0;
  int plans_built = 0;
  int workspace_too_large = 0;
  int runtime_compile_skipped = 0;
  int timed = 0;
  int pruned = 0;
  int run_failed = 0;
  int rejected_by_check = 0;
  int knob_variants = 0;
  double runtime_compile_ms = 0.0;
  double search_ms = 0.0;
  std::vector<std::string> problems;  ///< first few failures, for "why not supported"

  void note(const std::string& problem);
  /// "configs 40 (dup 10, filtered 14), plans 20 (+3 failed), timed 18 (pruned 5, ...)".
  std::string text() const;
};

class SearchContext {
 public:
  SearchContext(cudnnHandle_t handle, cudaStream_t stream, Precision precision);

  cudnnHandle_t handle() const { return handle_; }
  cudaStream_t stream() const { return stream_; }
  Precision precision() const { return precision_; }
  OutputChecker& checker() { return checker_; }

  SearchLimits limits;
  TimingOptions timing;
  double runtime_compile_ms_left = 0.0;

  /// Agreement a candidate must reach against the reference output (both FP32 GPU results,
  /// so half the per-layer tolerance the tests apply against the FP64 CPU reference).
  Tolerance check_tolerance() const;
  /// The search workspace, grown to at least `bytes` (the stream is synchronized first).
  void* workspace(size_t bytes);
  /// The reference-output buffer, grown to at least `count` floats.
  float* reference(size_t count);

 private:
  cudnnHandle_t handle_;
  cudaStream_t stream_;
  Precision precision_;
  OutputChecker checker_;
  DeviceBuffer<unsigned char> workspace_;
  DeviceBuffer<float> reference_;
};

}  // namespace mbv2::cudnn
