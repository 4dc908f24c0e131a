// Device facts, measured ceilings, clocks and the L2 flusher (common/device_info.h,
// common/l2_flush.h). The CPU parts always run; the GPU parts skip without a device.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <string>

#include "common/device_info.h"
#include "common/device_memory.h"
#include "common/l2_flush.h"
#include "test_support.h"

namespace mbv2 {
namespace {

TEST(BenchDevice, GpuSlug) {
  EXPECT_EQ(gpu_slug("NVIDIA H100 80GB HBM3"), "h100-80gb-hbm3");
  EXPECT_EQ(gpu_slug("NVIDIA H200"), "h200");
  EXPECT_EQ(gpu_slug("Tesla V100-SXM2-16GB"), "tesla-v100-sxm2-16gb");
  EXPECT_EQ(gpu_slug("  NVIDIA  GeForce RTX 4090 "), "geforce-rtx-4090");
  EXPECT_EQ(gpu_slug(""), "unknown-gpu");
  EXPECT_EQ(gpu_slug("NVIDIA"), "nvidia");
}

ClockReading live(int sm, unsigned long long reasons = 0) {
  ClockReading r;
  r.live = true;
  r.sm_mhz = sm;
  r.sm_max_mhz = 1980;
  r.mem_mhz = 2619;
  r.event_reasons = reasons;
  return r;
}

TEST(BenchDevice, ThrottlingIsAClockDropOrAHardwareSlowdown) {
  Clocks c = summarize_clocks(live(1980), live(1965));
  EXPECT_FALSE(c.throttled) << c.throttle_note;
  EXPECT_EQ(c.sm_mhz_before, 1980);
  EXPECT_EQ(c.sm_mhz_after, 1965);
  EXPECT_EQ(c.sm_mhz_max, 1980);
  EXPECT_EQ(c.mem_mhz, 2619);

  c = summarize_clocks(live(1980), live(1500));  // more than 10% down
  EXPECT_TRUE(c.throttled);
  EXPECT_NE(c.throttle_note.find("1980 -> 1500"), std::string::npos) << c.throttle_note;

  c = summarize_clocks(live(1980), live(1900, 0x40));  // hardware thermal slowdown
  EXPECT_TRUE(c.throttled);
  EXPECT_NE(c.throttle_note.find("hw thermal"), std::string::npos) << c.throttle_note;

  c = summarize_clocks(live(1755, 0x4), live(1740, 0x4));  // power cap alone: noted, not flagged
  EXPECT_FALSE(c.throttled);
  EXPECT_NE(c.throttle_note.find("power cap"), std::string::npos) << c.throttle_note;

  ClockReading rated;
  rated.sm_mhz = rated.sm_max_mhz = 1980;
  c = summarize_clocks(rated, rated);
  EXPECT_FALSE(c.throttled);
  EXPECT_NE(c.throttle_note.find("NVML"), std::string::npos) << c.throttle_note;
}

TEST(BenchDevice, FactsMatchTheRuntime) {
  MBV2_SKIP_WITHOUT_GPU();
  const DeviceReport d = query_device_facts(0);
  cudaDeviceProp prop{};
  ASSERT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_EQ(d.name, prop.name);
  EXPECT_EQ(d.compute_capability, std::to_string(prop.major) + "." + std::to_string(prop.minor));
  EXPECT_EQ(d.sm_count, prop.multiProcessorCount);
  EXPECT_EQ(d.l2_bytes, prop.l2CacheSize);
  EXPECT_GT(d.memory_bytes, int64_t(1) << 30);
  int runtime = 0;
  ASSERT_EQ(cudaRuntimeGetVersion(&runtime), cudaSuccess);
  EXPECT_EQ(d.cuda_runtime, std::to_string(runtime / 1000) + "." + std::to_string((runtime % 1000) / 10));
  EXPECT_FALSE(d.driver.empty());
  EXPECT_TRUE(d.cudnn.empty()) << "filled by the bench, not here";
}

TEST(BenchDevice, CeilingsAreMeasuredAndPlausible) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  const Ceilings c = measure_ceilings(stream.get());
  // Wide bounds around any data-centre GPU of the last decade (H100: ~3000 GB/s counted
  // read + write, ~60000 GFLOP/s FP32); the point is "measured, sane", not a spec check.
  EXPECT_GT(c.bandwidth_gbps, 100.0);
  EXPECT_LT(c.bandwidth_gbps, 20000.0);
  EXPECT_GT(c.fp32_gflops, 1000.0);
  EXPECT_LT(c.fp32_gflops, 500000.0);

  // The FMA rate cannot beat the hardware: SMs x FP32 lanes x 2 FLOP x clock. 128 lanes
  // per SM is the most any NVIDIA part has; the rated clock bounds the boost clock.
  const DeviceReport d = query_device_facts(0);
  const ClockReading clocks = read_clocks(0);
  const double peak = double(d.sm_count) * 128 * 2 * double(std::max(clocks.sm_max_mhz, 1)) * 1e-3;
  EXPECT_LT(c.fp32_gflops, peak * 1.05) << "peak bound " << peak;
}

TEST(BenchDevice, ClocksReadUnderLoad) {
  MBV2_SKIP_WITHOUT_GPU();
  CudaStream stream;
  const ClockReading r = read_clocks_under_load(0, stream.get());
  EXPECT_GT(r.sm_mhz, 100);
  EXPECT_GE(r.sm_max_mhz, r.sm_mhz / 2);
  EXPECT_GT(r.mem_mhz, 0);
  if (!r.live) GTEST_LOG_(INFO) << "NVML not available: rated clocks only";
}

TEST(BenchDevice, L2FlusherWritesTwiceTheL2) {
  MBV2_SKIP_WITHOUT_GPU();
  int l2 = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0), cudaSuccess);
  L2Flusher flusher;
  EXPECT_EQ(flusher.l2_bytes(), l2);
  EXPECT_EQ(flusher.buffer_bytes(), 2 * size_t(l2));
  CudaStream stream;
  for (int i = 0; i < 3; ++i) flusher.flush(stream.get());
  EXPECT_NO_THROW(stream.synchronize());
}

}  // namespace
}  // namespace mbv2
