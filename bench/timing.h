// Taking one timed sample on a stream with CUDA events, nvbench-style.
//
// Every sample in the suite (per layer and end to end) holds the stream with a blocking
// kernel while the launches are enqueued, then releases it: the events then measure GPU
// time alone, not how fast the host can enqueue (a cuDNN call costs several µs of CPU, a
// batch-1 layer a few µs of GPU). Unblocked, batch-1 cuDNN forward() rows timed the host
// CPU and moved by ~30% between runs. The host's enqueue time is measured separately.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <stdexcept>

#include "common/device_memory.h"
#include "common/l2_flush.h"

namespace mbv2 {

/// Holds a stream behind a spinning one-thread kernel until release(); the kernel gives
/// up after a timeout so a backend that synchronises inside a launch cannot hang the run.
class StreamBlocker {
 public:
  StreamBlocker();
  ~StreamBlocker();
  StreamBlocker(const StreamBlocker&) = delete;
  StreamBlocker& operator=(const StreamBlocker&) = delete;

  /// Enqueues the blocking kernel. The previous block must have completed.
  void block(cudaStream_t stream, double timeout_s);
  /// Lets the kernel finish.
  void release();
  /// Whether the last blocking kernel ran into its timeout (valid once it completed).
  bool timed_out() const;

 private:
  volatile int* host_flags_ = nullptr;  ///< [0] release, [1] timed out (mapped pinned memory)
  int* device_flags_ = nullptr;
  bool blocked_ = false;
  cudaStream_t last_stream_ = nullptr;  ///< where the last blocking kernel was enqueued
};

/// The blocking kernel gave up before the launches were enqueued: the sample is invalid.
/// Usually a launch that waited on the device, e.g. a kernel module loaded lazily on first
/// use; taking the sample again without the blocker works.
class BlockerTimeout : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How one sample is taken.
struct SampleSetup {
  cudaStream_t stream = nullptr;
  StreamBlocker* blocker = nullptr;  ///< hold the stream while enqueueing
  L2Flusher* flusher = nullptr;      ///< flush L2 before the first launch (cold)
  int launches = 1;                  ///< K launches between the two events
  double blocker_timeout_s = 10.0;
};

/// One sample, seconds per launch.
struct SampleTime {
  double gpu_s = 0.0;   ///< between the two events
  double host_s = 0.0;  ///< wall time of the host inside the launch calls (steady_clock)
};

/// Runs `launch` K times between two events and returns the time per launch. Throws
/// BlockerTimeout when the blocking kernel timed out (the measurement is invalid).
SampleTime time_sample(const SampleSetup& setup, const std::function<void(cudaStream_t)>& launch,
                       CudaEvent& start, CudaEvent& stop);

/// Fills `count` floats with seeded uniform values in [lo, hi) on the device.
void fill_uniform(float* ptr, size_t count, uint64_t seed, float lo, float hi,
                  cudaStream_t stream);

}  // namespace mbv2
