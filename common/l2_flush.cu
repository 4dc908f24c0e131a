#include "common/l2_flush.h"

namespace mbv2 {

L2Flusher::L2Flusher() {
  int device = 0;
  MBV2_CUDA_CHECK(cudaGetDevice(&device));
  int l2 = 0;
  MBV2_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
  l2_bytes_ = l2;
  // Twice the size: L2 is not strictly LRU (and is split in partitions on some parts), so
  // writing exactly its size can leave lines of the previous working set behind.
  if (l2 > 0) buffer_.allocate(2 * size_t(l2));
}

void L2Flusher::flush(cudaStream_t stream) {
  if (buffer_.empty()) return;
  MBV2_CUDA_CHECK(cudaMemsetAsync(buffer_.get(), 0, buffer_.bytes(), stream));
}

}  // namespace mbv2
