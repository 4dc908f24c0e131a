#include "cudnn_ref/device_fill.h"

#include <algorithm>
#include <vector>

#include "common/cuda_check.h"
#include "common/device_memory.h"
#include "common/tensor.h"

namespace mbv2::cudnn {

void fill_uniform(float* dst, size_t count, uint64_t seed, cudaStream_t stream) {
  if (count == 0) return;
  constexpr size_t kPattern = size_t(1) << 20;
  const size_t pattern = std::min(count, kPattern);
  std::vector<float> host(pattern);
  SplitMix64 rng(seed);
  for (float& v : host) {
    v = float(rng.uniform(-1.0, 1.0));
    if (v == 0.0f) v = 0.5f;
  }
  DeviceBuffer<float> source(pattern);
  source.upload(host);
  for (size_t done = 0; done < count; done += pattern) {
    const size_t n = std::min(pattern, count - done);
    CUDA_CHECK(cudaMemcpyAsync(dst + done, source.get(), n * sizeof(float),
                               cudaMemcpyDeviceToDevice, stream));
  }
  CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace mbv2::cudnn
