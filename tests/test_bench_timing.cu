// Sampling with CUDA events (bench/timing.h): K launches divided by K, the blocking
// kernel that keeps host enqueue cost out of the measurement, the host's time in the
// launch calls measured beside it, the blocker's timeout, the L2 flush staying outside
// the timed window, and the seeded device fill. GPU only.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>
#include <vector>

#include "bench/timing.h"
#include "common/cuda_check.h"
#include "common/device_memory.h"
#include "common/l2_flush.h"
#include "test_support.h"

namespace mbv2 {
namespace {

__global__ void spin_kernel(unsigned long long ns) {
  unsigned long long start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

std::function<void(cudaStream_t)> spin(double us) {
  return [us](cudaStream_t s) {
    spin_kernel<<<1, 1, 0, s>>>(static_cast<unsigned long long>(us * 1000.0));
    MBV2_CUDA_CHECK_LAST();
  };
}

/// A slow host: sleeps `host_sleep` in the launch call, then launches a `spin_us` kernel.
std::function<void(cudaStream_t)> slow_host(double spin_us, std::chrono::microseconds host_sleep) {
  return [inner = spin(spin_us), host_sleep](cudaStream_t s) {
    std::this_thread::sleep_for(host_sleep);
    inner(s);
  };
}

SampleSetup setup_for(const CudaStream& stream, StreamBlocker* blocker, int k) {
  SampleSetup s;
  s.stream = stream.get();
  s.blocker = blocker;
  s.launches = k;
  s.blocker_timeout_s = 2.0;
  return s;
}

/// Loads the spin kernel's module. Under lazy loading, a first launch while the blocking
/// kernel spins may wait for the device, so every test does this first.
void preload(const CudaStream& stream) {
  spin(1.0)(stream.get());
  stream.synchronize();
}

/// Median of a few samples: one slow sample (a context switch) must not fail the test.
double median_sample(const SampleSetup& s, const std::function<void(cudaStream_t)>& launch) {
  CudaEvent start, stop;
  SampleSetup plain = s;
  plain.blocker = nullptr;
  time_sample(plain, launch, start, stop);  // warm-up without the blocker: modules, clocks
  std::vector<double> v;
  for (int i = 0; i < 5; ++i) v.push_back(time_sample(s, launch, start, stop).gpu_s);
  std::sort(v.begin(), v.end());
  return v[2];
}

TEST(BenchTiming, KLaunchesDividedByK) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  preload(stream);
  StreamBlocker blocker;
  for (StreamBlocker* b : {&blocker, static_cast<StreamBlocker*>(nullptr)}) {
    const double per_launch = median_sample(setup_for(stream, b, 4), spin(50.0)) * 1e6;
    EXPECT_GT(per_launch, 48.0) << (b ? "blocked" : "unblocked");
    EXPECT_LT(per_launch, 70.0) << (b ? "blocked" : "unblocked");
  }
}

TEST(BenchTiming, BlockerKeepsHostEnqueueCostOut) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  preload(stream);
  StreamBlocker blocker;
  // A slow host: 300 µs between launches of a 10 µs kernel.
  const auto launch = slow_host(10.0, std::chrono::microseconds(300));
  const double blocked = median_sample(setup_for(stream, &blocker, 5), launch) * 1e6;
  const double unblocked = median_sample(setup_for(stream, nullptr, 5), launch) * 1e6;
  EXPECT_LT(blocked, 25.0) << "GPU time only";
  EXPECT_GT(unblocked, 150.0) << "the GPU waited for the host";
}

// The host's side, per launch: a launch that sleeps 2 ms on the host before a 5 µs kernel
// takes at least 2 ms of host time, while the blocked events see only the kernels.
TEST(BenchTiming, HostTimeIsMeasuredBesideBlockedGpuTime) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  preload(stream);
  StreamBlocker blocker;
  const auto launch = slow_host(5.0, std::chrono::milliseconds(2));
  CudaEvent start, stop;
  const SampleTime t = time_sample(setup_for(stream, &blocker, 3), launch, start, stop);
  EXPECT_GE(t.host_s, 2e-3) << "per launch, not per sample";
  EXPECT_LT(t.host_s, 50e-3);
  EXPECT_GT(t.gpu_s, 4e-6);
  EXPECT_LT(t.gpu_s, 0.2e-3) << "the events must not see the host's sleep";
  // Unblocked, the events see the host too; host_s is the same either way.
  SampleSetup plain = setup_for(stream, nullptr, 3);
  const SampleTime u = time_sample(plain, launch, start, stop);
  EXPECT_GE(u.host_s, 2e-3);
  EXPECT_GT(u.gpu_s, 1e-3);
}

TEST(BenchTiming, BlockerTimesOutInsteadOfHanging) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  preload(stream);
  StreamBlocker blocker;
  SampleSetup s = setup_for(stream, &blocker, 1);
  s.blocker_timeout_s = 0.2;
  // A launch that waits for the device waits for the blocking kernel itself.
  auto synchronising = [&](cudaStream_t st) {
    spin(5.0)(st);
    MBV2_CUDA_CHECK(cudaStreamSynchronize(st));
  };
  CudaEvent start, stop;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(time_sample(s, synchronising, start, stop), BlockerTimeout);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(waited, 0.15);
  EXPECT_LT(waited, 5.0);
  // The blocker is usable again and a normal sample is quick.
  EXPECT_GT(time_sample(setup_for(stream, &blocker, 1), spin(20.0), start, stop).gpu_s, 0.0);
}

TEST(BenchTiming, ExceptionInALaunchReleasesTheBlocker) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  preload(stream);
  StreamBlocker blocker;
  CudaEvent start, stop;
  auto throwing = [](cudaStream_t) { throw std::runtime_error("backend failed"); };
  EXPECT_THROW(time_sample(setup_for(stream, &blocker, 3), throwing, start, stop), std::runtime_error);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_GT(time_sample(setup_for(stream, &blocker, 1), spin(20.0), start, stop).gpu_s, 0.0);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(waited, 1.0) << "the previous blocking kernel must not have been left spinning";
}

TEST(BenchTiming, FlushIsOutsideTheTimedWindow) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  preload(stream);
  StreamBlocker blocker;
  L2Flusher flusher;
  SampleSetup s = setup_for(stream, &blocker, 1);
  s.flusher = &flusher;
  const double cold = median_sample(s, spin(20.0)) * 1e6;
  EXPECT_GT(cold, 19.0);
  EXPECT_LT(cold, 32.0) << "a 2x L2 memset takes tens of µs and must not be counted";
}

TEST(BenchTiming, FillUniformIsSeededAndInRange) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  const size_t n = size_t(1) << 20;
  DeviceBuffer<float> a(n), b(n), c(n);
  fill_uniform(a.get(), n, 7, -1.0f, 3.0f, stream.get());
  fill_uniform(b.get(), n, 7, -1.0f, 3.0f, stream.get());
  fill_uniform(c.get(), n, 8, -1.0f, 3.0f, stream.get());
  stream.synchronize();
  const std::vector<float> ha = a.download(), hb = b.download(), hc = c.download();
  EXPECT_EQ(ha, hb);
  EXPECT_NE(ha, hc);
  double sum = 0.0;
  for (float v : ha) {
    ASSERT_GE(v, -1.0f);
    ASSERT_LT(v, 3.0f);
    sum += v;
  }
  EXPECT_NEAR(sum / double(n), 1.0, 0.01);
}

}  // namespace
}  // namespace mbv2
