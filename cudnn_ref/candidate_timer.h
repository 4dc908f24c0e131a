// Times one candidate (an engine plan, a legacy call sequence, a cuBLASLt algorithm) the
// way forward() will run it: captured into a CUDA graph and replayed, so host launch
// overhead is out of the measurement and a candidate that cannot be captured is rejected.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <string>

namespace mbv2::cudnn {

struct TimingOptions {
  int warmup_launches = 1;         ///< graph replays before the samples (eager runs came first)
  int samples = 5;                 ///< timed graph replays; the median is the result
  double target_sample_us = 30.0;  ///< calls per graph are chosen to reach about this
  int max_calls_per_graph = 8;
  /// A candidate whose first sample is slower than this factor times the best median so far
  /// stops there (counted as pruned).
  double prune_factor = 3.0;
  /// The eager timing includes host launch latency, so it prunes only beyond
  /// prune_factor * best + this slack (in microseconds).
  double eager_slack_us = 25.0;
};

struct TimingResult {
  bool ok = false;
  bool pruned = false;
  double median_us = 0.0;  ///< per call
  double min_us = 0.0;
  int calls_per_graph = 1;
  std::string error;  ///< why it could not run or be captured
};

/// `run` enqueues one execution of the candidate on the stream it is given and may throw.
/// Runs it eagerly twice (errors surface here; the second run is timed to size the graph and
/// to drop hopeless candidates early), captures `calls_per_graph` calls into a CUDA graph,
/// replays it `warmup_launches` times, then times `samples` replays with CUDA events.
/// `best_us` is the best median so far (0: none) for pruning. CUDA errors that poison the
/// context (illegal address and the like) are rethrown as CudaError.
TimingResult time_candidate(const std::function<void(cudaStream_t)>& run, cudaStream_t stream,
                            double best_us, const TimingOptions& options);

/// After a candidate failed: clears a non-sticky CUDA error, and throws CudaError when the
/// failure broke the CUDA context (nothing after it could run).
void recover_after_failure(cudaStream_t stream);

}  // namespace mbv2::cudnn
