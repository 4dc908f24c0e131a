#include "cudnn_ref/candidate_timer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/cuda_check.h"
#include "common/device_memory.h"

namespace mbv2::cudnn {

void recover_after_failure(cudaStream_t stream) {
  (void)cudaGetLastError();
  const cudaError_t st = cudaStreamSynchronize(stream);
  if (st != cudaSuccess) {
    (void)cudaGetLastError();
    const cudaError_t again = cudaStreamSynchronize(stream);
    if (again != cudaSuccess)
      throw CudaError(again, std::string("CUDA context unusable after a failed cuDNN candidate: ") +
                                 cudaGetErrorName(again));
  }
}

namespace {

double elapsed_us(const CudaEvent& start, const CudaEvent& stop) {
  return double(stop.elapsed_ms_since(start)) * 1000.0;
}

}  // namespace

TimingResult time_candidate(const std::function<void(cudaStream_t)>& run, cudaStream_t stream,
                            double best_us, const TimingOptions& options) {
  TimingResult result;
  const int samples = std::max(1, options.samples);

  // Eager: the first call loads modules and surfaces execution errors; the second is timed
  // only to size the graph.
  double eager_us = 0.0;
  try {
    run(stream);
    CUDA_CHECK_LAST();
    CUDA_CHECK(cudaStreamSynchronize(stream));
    CudaEvent start, stop;
    start.record(stream);
    run(stream);
    stop.record(stream);
    stop.synchronize();
    eager_us = elapsed_us(start, stop);
  } catch (const std::exception& e) {
    recover_after_failure(stream);
    result.error = e.what();
    return result;
  }

  if (best_us > 0.0 && eager_us > options.prune_factor * best_us + options.eager_slack_us) {
    result.ok = true;
    result.pruned = true;
    result.median_us = result.min_us = eager_us;
    return result;
  }

  const double per_call = std::max(eager_us, 0.5);
  result.calls_per_graph = int(std::clamp(std::ceil(options.target_sample_us / per_call), 1.0,
                                          double(std::max(1, options.max_calls_per_graph))));
  const int calls = result.calls_per_graph;

  CudaGraph graph;
  try {
    graph.capture(stream, [&](cudaStream_t s) {
      for (int i = 0; i < calls; ++i) run(s);
    });
    for (int i = 0; i < options.warmup_launches; ++i) graph.launch(stream);
    CUDA_CHECK(cudaStreamSynchronize(stream));
  } catch (const std::exception& e) {
    recover_after_failure(stream);
    result.error = std::string("not capturable into a CUDA graph: ") + e.what();
    return result;
  }

  std::vector<CudaEvent> starts(static_cast<size_t>(samples));
  std::vector<CudaEvent> stops(static_cast<size_t>(samples));
  starts[0].record(stream);
  graph.launch(stream);
  stops[0].record(stream);
  stops[0].synchronize();
  const double first = elapsed_us(starts[0], stops[0]) / calls;
  if (best_us > 0.0 && first > options.prune_factor * best_us) {
    result.ok = true;
    result.pruned = true;
    result.median_us = result.min_us = first;
    return result;
  }
  // An untimed replay first, then the samples queued back to back: while one replay runs the
  // host enqueues the next, so no sample but the first includes host launch latency (and
  // the median drops that one).
  graph.launch(stream);
  for (int i = 1; i < samples; ++i) {
    starts[size_t(i)].record(stream);
    graph.launch(stream);
    stops[size_t(i)].record(stream);
  }
  stops[size_t(samples - 1)].synchronize();

  std::vector<double> us(static_cast<size_t>(samples));
  us[0] = first;
  for (int i = 1; i < samples; ++i)
    us[size_t(i)] = elapsed_us(starts[size_t(i)], stops[size_t(i)]) / calls;
  std::sort(us.begin(), us.end());
  result.ok = true;
  result.min_us = us.front();
  result.median_us = us[us.size() / 2];
  return result;
}

}  // namespace mbv2::cudnn
