// RAII device resources, NaN poisoning and graph capture on the GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "common/device_memory.h"
#include "common/tensor.h"
#include "test_support.h"

namespace mbv2 {
namespace {

__global__ void axpy_kernel(float a, const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += a * x[i];
}

TEST(DeviceAvailability, ReportsAReasonWhenAbsent) {
  std::string why;
  if (!cuda_device_available(&why)) {
    EXPECT_FALSE(why.empty());
    GTEST_SKIP() << "GPU test skipped: " << why;
  }
  EXPECT_TRUE(why.empty());
}

TEST(DeviceBuffer, UploadDownloadAndMove) {
  MBV2_SKIP_WITHOUT_GPU();
  const HostTensor t = random_tensor({1, 3, 5, 7}, Layout::kNCHW, 42);
  DeviceBuffer<float> a(t.data.size());
  a.upload(t.data);
  DeviceBuffer<float> b = std::move(a);
  EXPECT_EQ(a.get(), nullptr);
  EXPECT_EQ(b.size(), t.data.size());
  EXPECT_EQ(b.download(), t.data);
  EXPECT_THROW(b.upload(std::vector<float>(t.data.size() + 1)), std::out_of_range);
}

// upload() must be complete for work on any stream: a kernel on a non-blocking stream,
// launched right after it, sees every element (pageable cudaMemcpy alone can return before
// its DMA lands). Several rounds with fresh values, so stale contents cannot pass.
TEST(DeviceBuffer, UploadIsVisibleToANonBlockingStreamAtOnce) {
  MBV2_SKIP_WITHOUT_GPU();
  const int n = 24 << 20;  // 96 MiB: many DMA chunks
  DeviceBuffer<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  CudaStream stream;
  for (int round = 0; round < 3; ++round) {
    std::vector<float> host(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) host[size_t(i)] = float(i % 1000) + float(round) * 1000.0f;
    MBV2_CUDA_CHECK(cudaMemsetAsync(y.get(), 0, y.bytes(), stream.get()));
    x.upload(host);
    axpy_kernel<<<(n + 255) / 256, 256, 0, stream.get()>>>(1.0f, x.get(), y.get(), n);
    MBV2_CUDA_CHECK_LAST();
    stream.synchronize();
    const std::vector<float> back = y.download();
    size_t wrong = 0;
    for (int i = 0; i < n; ++i) wrong += back[size_t(i)] != host[size_t(i)];
    EXPECT_EQ(wrong, 0u) << "round " << round;
  }
}

TEST(DeviceBuffer, HugeAllocationThrowsCudaError) {
  MBV2_SKIP_WITHOUT_GPU();
  try {
    DeviceBuffer<float> huge(size_t(1) << 42);  // 16 TiB
    FAIL() << "allocation of 16 TiB succeeded";
  } catch (const CudaError& e) {
    EXPECT_EQ(e.code(), cudaErrorMemoryAllocation);
  }
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // not sticky: the context stays usable
}

TEST(FillNan, PoisonsEveryElement) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  DeviceBuffer<float> buf(1000003);
  fill_nan(buf.get(), buf.size(), stream.get());
  stream.synchronize();
  for (float v : buf.download()) ASSERT_TRUE(std::isnan(v));
}

TEST(CudaGraph, CaptureAndReplayMatchesStream) {
  MBV2_SKIP_WITHOUT_GPU();
  const int n = 4097;
  const HostTensor x = random_tensor({1, 1, 1, n}, Layout::kNCHW, 1);
  DeviceBuffer<float> dx(n), dy(n);
  dx.upload(x.data);
  dy.upload(std::vector<float>(n, 1.0f));
  CudaStream stream;
  CudaGraph graph;
  graph.capture(stream.get(), [&](cudaStream_t s) {
    axpy_kernel<<<(n + 255) / 256, 256, 0, s>>>(2.0f, dx.get(), dy.get(), n);
    CUDA_CHECK_LAST();
  });
  ASSERT_TRUE(graph.ready());
  graph.launch(stream.get());
  graph.launch(stream.get());
  stream.synchronize();
  const std::vector<float> y = dy.download();
  // Two replays of y += 2x: (1 + 2x) + 2x, rounded twice (FMA), so compare in FP64.
  for (int i = 0; i < n; ++i)
    ASSERT_NEAR(y[size_t(i)], 1.0 + 4.0 * x.data[size_t(i)], 1e-6) << i;
  CudaEvent start, stop;
  start.record(stream.get());
  graph.launch(stream.get());
  stop.record(stream.get());
  stop.synchronize();
  EXPECT_GT(stop.elapsed_ms_since(start), 0.0f);
}

}  // namespace
}  // namespace mbv2
