#include "common/device_memory.h"

#include <limits>

#include "common/util.h"

namespace mbv2 {

bool cuda_device_available(std::string* reason) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later queries start clean
    if (reason) *reason = std::string("no usable CUDA device (") + cudaGetErrorString(err) + ")";
    return false;
  }
  if (count == 0) {
    if (reason) *reason = "no CUDA device found";
    return false;
  }
  return true;
}

namespace {
__global__ void fill_nan_kernel(float* ptr, size_t count) {
  const float nan = __int_as_float(0x7fc00000);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x)
    ptr[i] = nan;
}
}  // namespace

void fill_nan(float* ptr, size_t count, cudaStream_t stream) {
  if (count == 0) return;
  const int threads = 256;
  const int blocks = int(std::min<size_t>(ceil_div<size_t>(count, threads), 4096));
  fill_nan_kernel<<<blocks, threads, 0, stream>>>(ptr, count);
  MBV2_CUDA_CHECK_LAST();
}

}  // namespace mbv2
