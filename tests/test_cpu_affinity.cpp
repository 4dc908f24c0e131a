// The timing thread's CPU choice (bench/cpu_affinity): cpulist parsing and a choice that
// depends on the machine only (GPU-local CPUs first, highest number), never on where the
// thread happened to run.
#include <gtest/gtest.h>

#include <vector>

#include "bench/cpu_affinity.h"

namespace mbv2 {
namespace {

TEST(CpuAffinity, ParsesLinuxCpuLists) {
  EXPECT_EQ(parse_cpu_list("0-3,8,10-11\n"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_EQ(parse_cpu_list("5"), (std::vector<int>{5}));
  EXPECT_EQ(parse_cpu_list("7,2-3,3"), (std::vector<int>{2, 3, 7}));  // sorted, unique
  EXPECT_EQ(parse_cpu_list(" 0 - 1 , 4"), (std::vector<int>{0, 1, 4}));
  EXPECT_TRUE(parse_cpu_list("").empty());
  EXPECT_EQ(parse_cpu_list("x,3-1,2-,9"), (std::vector<int>{9}));  // malformed parts skipped
}

TEST(CpuAffinity, PrefersTheHighestGpuLocalCpu) {
  const std::vector<int> allowed{0, 1, 2, 3, 4, 5, 6, 7};
  EXPECT_EQ(choose_timing_cpu(allowed, {0, 1, 2, 3}), 3);
  EXPECT_EQ(choose_timing_cpu(allowed, {}), 7);             // no NUMA information
  EXPECT_EQ(choose_timing_cpu(allowed, {8, 9, 10}), 7);     // local CPUs not allowed here
  EXPECT_EQ(choose_timing_cpu({2, 5}, {0, 1, 2, 3, 4}), 2);
  EXPECT_EQ(choose_timing_cpu({}, {0, 1}), -1);
  // The same inputs give the same CPU: nothing depends on the calling thread.
  EXPECT_EQ(choose_timing_cpu(allowed, {4, 5, 6}), choose_timing_cpu(allowed, {6, 5, 4}));
}

TEST(CpuAffinity, PinningWithoutSysfsInformationStillPins) {
  // An unknown bus id has no local_cpulist: the thread goes to its highest allowed CPU.
  const int cpu = pin_thread_near_gpu("not-a-device");
#if defined(__linux__)
  EXPECT_GE(cpu, 0);
#else
  EXPECT_EQ(cpu, -1);
#endif
}

}  // namespace
}  // namespace mbv2
