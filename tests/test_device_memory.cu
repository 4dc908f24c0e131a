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
