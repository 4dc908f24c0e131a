#include "bench/timing.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>

#include "common/cuda_check.h"
#include "common/util.h"

namespace mbv2 {

namespace {

__device__ __forceinline__ unsigned long long global_timer_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// One thread spins on host-mapped memory until the host releases it or time runs out.
__global__ void block_stream_kernel(volatile int* flags, unsigned long long timeout_ns) {
  const unsigned long long start = global_timer_ns();
  while (flags[0] == 0) {
    if (global_timer_ns() - start > timeout_ns) {
      flags[1] = 1;
      break;
    }
  }
}

// splitmix64 of the element index: reproducible and independent of the launch shape.
__global__ void fill_uniform_kernel(float* ptr, size_t count, uint64_t seed, float lo, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count;
       i += size_t(gridDim.x) * blockDim.x) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    ptr[i] = lo + scale * float(double(z >> 40) * (1.0 / 16777216.0));
  }
}

}  // namespace

StreamBlocker::StreamBlocker() {
  void* host = nullptr;
  MBV2_CUDA_CHECK(cudaHostAlloc(&host, 2 * sizeof(int), cudaHostAllocMapped | cudaHostAllocPortable));
  host_flags_ = static_cast<volatile int*>(host);
  host_flags_[0] = 1;
  host_flags_[1] = 0;
  void* device = nullptr;
  const cudaError_t err = cudaHostGetDevicePointer(&device, host, 0);
  if (err != cudaSuccess) {
    cudaFreeHost(host);
    MBV2_CUDA_CHECK(err);
  }
  device_flags_ = static_cast<int*>(device);
}

StreamBlocker::~StreamBlocker() {
  if (host_flags_) {
    host_flags_[0] = 1;  // never leave a kernel spinning on memory about to be freed
    MBV2_CUDA_CHECK_NOTHROW(cudaDeviceSynchronize());
    MBV2_CUDA_CHECK_NOTHROW(cudaFreeHost(const_cast<int*>(host_flags_)));
  }
}

void StreamBlocker::block(cudaStream_t stream, double timeout_s) {
  if (blocked_) throw std::logic_error("StreamBlocker::block: already blocking");
  // A released kernel may not have seen the flag yet (an exception skipped the wait for the
  // sample's events); resetting the flag under it would keep it spinning.
  if (last_stream_) MBV2_CUDA_CHECK(cudaStreamSynchronize(last_stream_));
  last_stream_ = nullptr;
  host_flags_[0] = 0;
  host_flags_[1] = 0;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const auto timeout_ns = static_cast<unsigned long long>(std::max(timeout_s, 1e-3) * 1e9);
  block_stream_kernel<<<1, 1, 0, stream>>>(device_flags_, timeout_ns);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    host_flags_[0] = 1;
    MBV2_CUDA_CHECK(err);
  }
  blocked_ = true;
  last_stream_ = stream;
}

void StreamBlocker::release() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  host_flags_[0] = 1;
  std::atomic_thread_fence(std::memory_order_seq_cst);
  blocked_ = false;
}

bool StreamBlocker::timed_out() const { return host_flags_[1] != 0; }

namespace {
/// Releases the blocker on every path out of a sample, exceptions included.
class ReleaseGuard {
 public:
  explicit ReleaseGuard(StreamBlocker* b) : b_(b) {}
  ~ReleaseGuard() {
    if (b_) b_->release();
  }
  void release_now() {
    if (b_) b_->release();
    b_ = nullptr;
  }
  ReleaseGuard(const ReleaseGuard&) = delete;
  ReleaseGuard& operator=(const ReleaseGuard&) = delete;

 private:
  StreamBlocker* b_;
};
}  // namespace

SampleTime time_sample(const SampleSetup& setup, const std::function<void(cudaStream_t)>& launch,
                       CudaEvent& start, CudaEvent& stop) {
  const int k = std::max(1, setup.launches);
  if (setup.blocker) setup.blocker->block(setup.stream, setup.blocker_timeout_s);
  ReleaseGuard guard(setup.blocker);
  if (setup.flusher) setup.flusher->flush(setup.stream);
  start.record(setup.stream);
  // Only the launch calls: the event records and the blocker are the harness's, not the caller's.
  const auto host_start = std::chrono::steady_clock::now();
  for (int i = 0; i < k; ++i) launch(setup.stream);
  const auto host_stop = std::chrono::steady_clock::now();
  stop.record(setup.stream);
  guard.release_now();
  stop.synchronize();
  if (setup.blocker && setup.blocker->timed_out())
    throw BlockerTimeout(
        "the stream-blocking kernel timed out while launches were enqueued (does the backend "
        "synchronise with the device inside a launch?)");
  SampleTime t;
  t.gpu_s = double(stop.elapsed_ms_since(start)) * 1e-3 / k;
  t.host_s = std::chrono::duration<double>(host_stop - host_start).count() / k;
  return t;
}

void fill_uniform(float* ptr, size_t count, uint64_t seed, float lo, float hi,
                  cudaStream_t stream) {
  if (count == 0) return;
  const int threads = 256;
  const int blocks = int(std::min<size_t>(ceil_div<size_t>(count, threads), 8192));
  fill_uniform_kernel<<<blocks, threads, 0, stream>>>(ptr, count, seed, lo, hi - lo);
  MBV2_CUDA_CHECK_LAST();
}

}  // namespace mbv2
