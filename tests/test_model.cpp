// The model spec against torchvision's own layer shapes (data/testdata/torchvision_shapes.json,
// recorded by forward hooks in PyTorch) and hand-computed counts.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "common/model.h"
#include "common/util.h"
#include "test_support.h"

namespace mbv2 {
namespace {

nlohmann::json load_shapes() {
  std::ifstream in(test::data_path("testdata/torchvision_shapes.json"));
  EXPECT_TRUE(in.good());
  return nlohmann::json::parse(in);
}

TEST(ModelSpec, DefaultHas54LayersAndKnownTotals) {
  const ModelSpec spec = mobilenet_v2();
  ASSERT_EQ(spec.layers.size(), 54u);
  int convs = 0, depthwise = 0, residual = 0;
  for (const Layer& l : spec.layers) {
    convs += l.is_conv();
    depthwise += l.is_depthwise();
    residual += l.has_residual();
  }
  EXPECT_EQ(convs, 52);
  EXPECT_EQ(depthwise, 17);
  EXPECT_EQ(residual, 10);
  // 3,487,816 parameters after BatchNorm folding (3,504,872 in torchvision with BN).
  EXPECT_EQ(spec.param_count(), 3487816);
  // 0.60 GFLOP per image (2 x 300.8 M multiply-adds).
  EXPECT_NEAR(double(spec.flops(1)) / 1e9, 0.60, 0.005);
  EXPECT_EQ(spec.flops(256), 256 * spec.flops(1));
  EXPECT_EQ(spec.layers[0].describe(), "conv3x3 s2 3->32 224x224->112x112 +relu6");
  EXPECT_EQ(spec.layers[52].kind, LayerKind::kGlobalAvgPool);
  EXPECT_EQ(spec.layers[53].kind, LayerKind::kLinear);
  EXPECT_EQ(spec.layers[53].out_c, 1000);
}

TEST(ModelSpec, FlopsAndBytesHandComputed) {
  const ModelSpec spec = mobilenet_v2();
  const Layer& stem = spec.layers[0];
  // 2 * 32 out channels * 112*112 pixels * 3 in channels * 9 taps.
  EXPECT_EQ(stem.flops(1), 2LL * 32 * 112 * 112 * 3 * 9);
  // input 3*224*224 + output 32*112*112 + weights 32*27 + bias 32, 4 bytes each.
  EXPECT_EQ(stem.min_bytes(1), 4LL * (3 * 224 * 224 + 32 * 112 * 112 + 32 * 27 + 32));
  const Layer& dw = spec.layers[1];  // features.1.conv.0.0: depthwise 32 ch, 112x112
  EXPECT_TRUE(dw.is_depthwise());
  EXPECT_EQ(dw.flops(2), 2LL * 2 * 32 * 112 * 112 * 9);
  // First residual block: features.3 (24 -> 144 -> 144 -> 24 at 56x56) adds features.2's output.
  const Layer& proj = spec.layers[8];
  EXPECT_EQ(proj.name, "features.3.conv.2");
  ASSERT_TRUE(proj.has_residual());
  EXPECT_EQ(spec.layers[size_t(proj.residual_from)].name, "features.2.conv.2");
  EXPECT_EQ(proj.min_bytes(1),
            4LL * (144 * 56 * 56 + 24 * 56 * 56 * 2 + 24 * 144 + 24));
  EXPECT_EQ(spec.layers[52].flops(1), 1280LL * 7 * 7);
  EXPECT_EQ(spec.layers[53].flops(1), 2LL * 1280 * 1000);
}

TEST(ModelSpec, MakeDivisibleMatchesTorchvision) {
  EXPECT_EQ(make_divisible(32 * 1.0), 32);
  EXPECT_EQ(make_divisible(16 * 0.75), 16);  // 12 -> 16
  EXPECT_EQ(make_divisible(24 * 0.75), 24);  // 18 -> 16, < 0.9*18 -> 24
  EXPECT_EQ(make_divisible(32 * 1.4), 48);   // 44.8 -> 48
  EXPECT_EQ(make_divisible(16 * 0.35), 8);
  EXPECT_EQ(make_divisible(96 * 0.35), 32);  // 33.6 -> 32
  EXPECT_EQ(make_divisible(1280 * 1.4), 1792);
}

TEST(ModelSpec, MatchesTorchvisionShapesForEveryConfig) {
  const nlohmann::json shapes = load_shapes();
  ASSERT_GE(shapes["configs"].size(), 7u);
  for (const auto& cfg : shapes["configs"]) {
    const double width = cfg["width_mult"];
    const int res = cfg["resolution"], classes = cfg["num_classes"];
    SCOPED_TRACE("width " + std::to_string(width) + " res " + std::to_string(res));
    const ModelSpec spec = mobilenet_v2(width, res, classes);
    const auto& layers = cfg["layers"];
    ASSERT_EQ(spec.layers.size(), layers.size());
    EXPECT_EQ(spec.param_count(), cfg["num_params_folded"].get<int64_t>());
    int residual_blocks = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      const auto& t = layers[i];
      const Layer& l = spec.layers[i];
      SCOPED_TRACE("layer " + std::to_string(i));
      const std::string op = t["op"];
      if (op == "conv") {
        ASSERT_EQ(l.kind, LayerKind::kConv);
        EXPECT_EQ(l.name, t["name"].get<std::string>());
        EXPECT_EQ(l.in_c, t["in_channels"].get<int>());
        EXPECT_EQ(l.out_c, t["out_channels"].get<int>());
        EXPECT_EQ(l.kernel, t["kernel"][0].get<int>());
        EXPECT_EQ(l.stride, t["stride"][0].get<int>());
        EXPECT_EQ(l.pad, t["padding"][0].get<int>());
        EXPECT_EQ(l.groups, t["groups"].get<int>());
        EXPECT_EQ(l.in_h, t["in_hw"][0].get<int>());
        EXPECT_EQ(l.in_w, t["in_hw"][1].get<int>());
        EXPECT_EQ(l.out_h, t["out_hw"][0].get<int>());
        EXPECT_EQ(l.out_w, t["out_hw"][1].get<int>());
        EXPECT_EQ(to_string(l.act), t["act"].get<std::string>());
        if (t.contains("residual")) {
          EXPECT_EQ(l.has_residual(), t["residual"].get<bool>());
          residual_blocks += t["residual"].get<bool>();
        } else {
          EXPECT_FALSE(l.has_residual());
        }
      } else if (op == "pool") {
        EXPECT_EQ(l.kind, LayerKind::kGlobalAvgPool);
        EXPECT_EQ(l.in_c, t["channels"].get<int>());
        EXPECT_EQ(l.in_h, t["in_hw"][0].get<int>());
      } else {
        EXPECT_EQ(l.kind, LayerKind::kLinear);
        EXPECT_EQ(l.in_c, t["in_features"].get<int>());
        EXPECT_EQ(l.out_c, t["out_features"].get<int>());
      }
    }
    EXPECT_EQ(residual_blocks, cfg["num_residual_blocks"].get<int>());
  }
}

TEST(ModelSpec, FlopsFromTorchvisionShapes) {
  // An independent FLOP count from torchvision's recorded shapes.
  const nlohmann::json shapes = load_shapes();
  const auto& cfg = shapes["configs"][0];
  int64_t flops = 0;
  for (const auto& t : cfg["layers"]) {
    if (t["op"] == "conv") {
      const int64_t k = t["kernel"][0];
      flops += 2LL * t["out_channels"].get<int64_t>() * t["out_hw"][0].get<int64_t>() *
               t["out_hw"][1].get<int64_t>() *
               (t["in_channels"].get<int64_t>() / t["groups"].get<int64_t>()) * k * k;
    } else if (t["op"] == "pool") {
      flops += t["channels"].get<int64_t>() * t["in_hw"][0].get<int64_t>() * t["in_hw"][1].get<int64_t>();
    } else {
      flops += 2LL * t["in_features"].get<int64_t>() * t["out_features"].get<int64_t>();
    }
  }
  EXPECT_EQ(mobilenet_v2().flops(1), flops);
}

TEST(ModelSpec, RejectsBadArguments) {
  EXPECT_THROW(mobilenet_v2(0.0), InputError);
  EXPECT_THROW(mobilenet_v2(-1.0), InputError);
  EXPECT_THROW(mobilenet_v2(1.0, 8), InputError);
  EXPECT_THROW(mobilenet_v2(1.0, 224, 0), InputError);
  try {
    mobilenet_v2(1.0, 5);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("resolution"), std::string::npos);
  }
}

}  // namespace
}  // namespace mbv2
