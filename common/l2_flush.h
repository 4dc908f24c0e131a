// Evicting the L2 cache before a cold sample, the nvbench way: write a buffer
// twice the size of L2 on the benchmark's stream, so no line the measured kernel
// could reuse (its weights, its input) is still resident when it starts.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "common/device_memory.h"

namespace mbv2 {

class L2Flusher {
 public:
  /// Sizes the scratch buffer from the current device's L2 (cudaDevAttrL2CacheSize), times 2.
  L2Flusher();
  L2Flusher(const L2Flusher&) = delete;
  L2Flusher& operator=(const L2Flusher&) = delete;

  /// Enqueues the flush on `stream` (a no-op on a device that reports no L2).
  void flush(cudaStream_t stream);

  int64_t l2_bytes() const { return l2_bytes_; }
  size_t buffer_bytes() const { return buffer_.bytes(); }

 private:
  int64_t l2_bytes_ = 0;
  DeviceBuffer<unsigned char> buffer_;
};

}  // namespace mbv2
