// Agreement metrics on hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/metrics.h"

namespace mbv2 {
namespace {

TEST(Metrics, ExactMatchPasses) {
  const std::vector<float> a{1, -2, 3};
  const Agreement r = compare(a.data(), a.data(), 3, {1e-6, 1e-6});
  EXPECT_TRUE(r.pass);
  EXPECT_EQ(r.max_abs, 0.0);
  EXPECT_EQ(r.rel_l2, 0.0);
  EXPECT_EQ(r.count, 3);
}

TEST(Metrics, HandComputedErrors) {
  // ref = (3, 4): ||ref|| = 5. out = (3, 4.5): ||diff|| = 0.5 -> rel-L2 0.1.
  const std::vector<float> ref{3, 4}, out{3, 4.5f};
  const Agreement r = compare(out.data(), ref.data(), 2, {0.2, 0.2});
  EXPECT_NEAR(r.rel_l2, 0.1, 1e-12);
  EXPECT_NEAR(r.max_abs, 0.5, 1e-12);
  EXPECT_NEAR(r.max_rel, 0.125, 1e-12);
  EXPECT_DOUBLE_EQ(r.ref_max_abs, 4.0);
  EXPECT_TRUE(r.pass);
  EXPECT_FALSE(compare(out.data(), ref.data(), 2, {0.05, 0.2}).pass);  // rel-L2 too high
  EXPECT_FALSE(compare(out.data(), ref.data(), 2, {0.2, 0.1}).pass);   // max abs 0.5 > 0.4
}

TEST(Metrics, NanAndInfNeverPass) {
  const std::vector<float> ref{1, 2, 3};
  std::vector<float> out{1, std::numeric_limits<float>::quiet_NaN(), 3};
  Agreement r = compare(out.data(), ref.data(), 3, {1e9, 1e9});
  EXPECT_FALSE(r.pass);
  EXPECT_EQ(r.nan_count, 1);
  EXPECT_NE(r.reason.find("NaN"), std::string::npos);
  out[1] = std::numeric_limits<float>::infinity();
  r = compare(out.data(), ref.data(), 3, {1e9, 1e9});
  EXPECT_FALSE(r.pass);
  EXPECT_EQ(r.inf_count, 1);
}

TEST(Metrics, LayoutAwareCompare) {
  HostTensor a({1, 2, 1, 2}, Layout::kNCHW);
  a.data = {1, 2, 3, 4};  // c0 = (1, 2), c1 = (3, 4)
  HostTensor b = to_layout(a, Layout::kNHWC);
  EXPECT_EQ(b.data, (std::vector<float>{1, 3, 2, 4}));
  EXPECT_TRUE(compare(b, a, {0, 0}).pass);
}

TEST(Metrics, TopKAndSoftmax) {
  const std::vector<float> v{0.5f, 3.0f, -1.0f, 3.0f, 2.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_EQ(top_k(v.data(), 6, 3), (std::vector<int>{1, 3, 4}));
  const std::vector<float> l{0.0f, std::log(3.0f)};
  const auto p = softmax(l.data(), 2);
  EXPECT_NEAR(p[0], 0.25, 1e-7);
  EXPECT_NEAR(p[1], 0.75, 1e-7);
}

TEST(Metrics, TolerancesTightenWithPrecision) {
  EXPECT_LT(layer_tolerance(Precision::kFP32).rel_l2, layer_tolerance(Precision::kTF32).rel_l2);
  EXPECT_LE(network_tolerance(Precision::kFP32).rel_l2, 1e-4);
}

}  // namespace
}  // namespace mbv2
