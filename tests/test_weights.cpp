// Weights bound to the spec: the real file, BatchNorm folding against unfolded
// computation, every mismatch as a clear error, and synthetic weights' ranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include "common/metrics.h"
#include "common/npy.h"
#include "common/reference.h"
#include "common/file_io.h"
#include "common/safetensors.h"
#include "common/util.h"
#include "common/weights.h"
#include "test_support.h"

namespace mbv2 {
namespace {

using test::temp_path;

// The real weights file as a list of tensors, for making broken variants of it.
std::vector<std::pair<std::string, SafeTensor>> real_tensors() {
  const SafetensorsFile f = read_safetensors(test::data_path("mobilenet_v2.safetensors"));
  return {f.tensors.begin(), f.tensors.end()};
}

void expect_load_error(const std::vector<std::pair<std::string, SafeTensor>>& tensors,
                       const std::string& needle) {
  const std::string path = temp_path("mbv2_test_bad_weights.safetensors");
  write_safetensors(path, tensors);
  try {
    load_weights(test::default_spec(), path);
    ADD_FAILURE() << "expected InputError containing " << needle;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(Weights, RealFileLoads) {
  const ModelWeights& w = test::default_weights();
  const ModelSpec& spec = test::default_spec();
  ASSERT_EQ(w.layers.size(), 54u);
  int64_t total = 0;
  for (const Layer& l : spec.layers) {
    EXPECT_EQ(int64_t(w.layers[size_t(l.index)].weight.size()), l.weight_count()) << l.name;
    EXPECT_EQ(int64_t(w.layers[size_t(l.index)].bias.size()), l.bias_count()) << l.name;
    total += int64_t(w.layers[size_t(l.index)].weight.size() + w.layers[size_t(l.index)].bias.size());
  }
  EXPECT_EQ(total, 3487816);
  EXPECT_FALSE(w.bn_folded_at_load);
  EXPECT_EQ(w.hash.size(), 16u);
  // Dequantized int8 with one scale per tensor: at most 256 distinct values per conv weight.
  for (const Layer& l : spec.layers) {
    if (!l.is_conv()) continue;
    const auto& v = w.layers[size_t(l.index)].weight;
    EXPECT_LE(std::set<float>(v.begin(), v.end()).size(), 256u) << l.name;
  }
}

TEST(Weights, MissingTensorIsNamed) {
  auto t = real_tensors();
  t.erase(std::remove_if(t.begin(), t.end(),
                         [](const auto& p) { return p.first == "features.5.conv.1.0.weight"; }),
          t.end());
  expect_load_error(t, "missing tensor 'features.5.conv.1.0.weight'");
}

TEST(Weights, MissingBiasAndNoBatchNormIsNamed) {
  auto t = real_tensors();
  t.erase(std::remove_if(t.begin(), t.end(),
                         [](const auto& p) { return p.first == "classifier.1.bias"; }),
          t.end());
  expect_load_error(t, "missing tensor 'classifier.1.bias'");
}

TEST(Weights, WrongShapeIsNamed) {
  auto t = real_tensors();
  for (auto& [name, tensor] : t)
    if (name == "features.0.0.weight") tensor = make_f32_tensor({32, 3, 1, 9}, tensor.as_float(name));
  expect_load_error(t, "'features.0.0.weight' has shape [32, 3, 1, 9], expected [32, 3, 3, 3]");
}

TEST(Weights, WrongDtypeIsNamed) {
  auto t = real_tensors();
  for (auto& [name, tensor] : t)
    if (name == "features.0.0.bias") tensor.dtype = "I32";  // same byte size, wrong type
  expect_load_error(t, "'features.0.0.bias' has dtype I32");
}

TEST(Weights, UnexpectedTensorIsNamed) {
  auto t = real_tensors();
  t.emplace_back("features.99.weight", make_f32_tensor({1}, {1.0f}));
  expect_load_error(t, "unexpected tensor 'features.99.weight'");
}

TEST(Weights, WrongModelForFile) {
  // The width-1.0 file cannot load into a width-0.75 model: the first conv is named.
  try {
    load_weights(mobilenet_v2(0.75), test::data_path("mobilenet_v2.safetensors"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("features.0.0.weight"), std::string::npos) << e.what();
  }
}

TEST(Weights, CorruptAndMissingFiles) {
  EXPECT_THROW(load_weights(test::default_spec(), "/nonexistent.safetensors"), InputError);
  const std::string path = temp_path("mbv2_test_truncated.safetensors");
  const auto bytes = read_file_bytes(test::data_path("mobilenet_v2.safetensors"), "weights");
  write_file_bytes(path, bytes.data(), bytes.size() / 2);
  try {
    load_weights(test::default_spec(), path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(Weights, SaveLoadRoundTrip) {
  const ModelSpec spec = mobilenet_v2(0.5, 96, 17);
  const ModelWeights w = synthetic_weights(spec, 7);
  const std::string path = temp_path("mbv2_test_roundtrip_weights.safetensors");
  save_weights(spec, w, path);
  const ModelWeights back = load_weights(spec, path);
  for (size_t i = 0; i < w.layers.size(); ++i) {
    EXPECT_EQ(back.layers[i].weight, w.layers[i].weight);
    EXPECT_EQ(back.layers[i].bias, w.layers[i].bias);
  }
  std::remove(path.c_str());
}

TEST(BatchNormFolding, HandComputed) {
  // One output channel, two weights: w = [1, 2], conv bias 0.5;
  // BN gamma 2, beta 1, mean 0.5, var 3 (eps 1): scale = 2 / sqrt(4) = 1.
  std::vector<float> w{1.0f, 2.0f}, b{0.5f};
  fold_batchnorm(w, b, {2.0f}, {1.0f}, {0.5f}, {3.0f}, 1.0);
  EXPECT_FLOAT_EQ(w[0], 1.0f);
  EXPECT_FLOAT_EQ(w[1], 2.0f);
  EXPECT_FLOAT_EQ(b[0], 1.0f);  // (0.5 - 0.5) * 1 + 1
  // gamma 3, var 8 (eps 1): scale 1; mean 2, beta -1: b = (0 - 2) * 1 - 1 = -3.
  std::vector<float> w2{4.0f}, b2{0.0f};
  fold_batchnorm(w2, b2, {3.0f}, {-1.0f}, {2.0f}, {8.0f}, 1.0);
  EXPECT_FLOAT_EQ(w2[0], 4.0f);
  EXPECT_FLOAT_EQ(b2[0], -3.0f);
  std::vector<float> w3{1.0f}, b3{0.0f};
  EXPECT_THROW(fold_batchnorm(w3, b3, {1.0f}, {0.0f}, {0.0f}, {-5.0f}, 1e-5), InputError);
}

TEST(BatchNormFolding, MatchesUnfoldedComputation) {
  // conv -> BN computed separately in FP64 equals the folded conv, on a 3x3 conv with
  // 5 input and 4 output channels and random BN statistics.
  Layer l;
  l.kind = LayerKind::kConv;
  l.in_c = 5, l.in_h = 6, l.in_w = 7, l.out_c = 4, l.out_h = 6, l.out_w = 7;
  l.kernel = 3, l.pad = 1;
  LayerWeights conv = synthetic_layer_weights(l, 3);
  SplitMix64 rng(11);
  std::vector<float> gamma(4), beta(4), mean(4), var(4);
  for (int o = 0; o < 4; ++o) {
    gamma[size_t(o)] = float(rng.uniform(0.5, 1.5));
    beta[size_t(o)] = float(rng.uniform(-0.5, 0.5));
    mean[size_t(o)] = float(rng.uniform(-0.5, 0.5));
    var[size_t(o)] = float(rng.uniform(0.2, 3.0));
  }
  const HostTensor x = random_tensor(l.input_shape(2), Layout::kNCHW, 5);
  const HostTensor y = reference_layer(l, conv, x, nullptr, Layout::kNCHW);
  LayerWeights folded = conv;
  fold_batchnorm(folded.weight, folded.bias, gamma, beta, mean, var);
  const HostTensor yf = reference_layer(l, folded, x, nullptr, Layout::kNCHW);
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 4; ++o)
      for (int h = 0; h < 6; ++h)
        for (int w = 0; w < 7; ++w) {
          const double bn = (double(y.at(n, o, h, w)) - mean[size_t(o)]) /
                                std::sqrt(double(var[size_t(o)]) + kBatchNormEps) * gamma[size_t(o)] +
                            beta[size_t(o)];
          EXPECT_NEAR(yf.at(n, o, h, w), bn, 1e-5 * (1 + std::fabs(bn)));
        }
}

TEST(BatchNormFolding, UnfoldedTorchvisionStateDictMatchesPyTorch) {
  // A full torchvision state_dict (width 0.25, 10 classes) with real BatchNorm tensors and
  // num_batches_tracked counters: folded at load, the FP64 reference must reproduce
  // PyTorch's eval-mode logits.
  const ModelSpec spec = mobilenet_v2(0.25, 64, 10);
  const ModelWeights w = load_weights(spec, test::data_path("testdata/mbv2_w025_c10_bn.safetensors"));
  EXPECT_TRUE(w.bn_folded_at_load);
  const HostTensor x = read_npy_tensor(test::data_path("testdata/mbv2_w025_c10_input.npy"), {2, 3, 64, 64});
  const NpyArray golden = read_npy(test::data_path("testdata/mbv2_w025_c10_logits.npy"));
  const ReferenceRun run = reference_forward(spec, w, x);
  ASSERT_EQ(golden.values.size(), run.logits_f64.size());
  double d2 = 0, r2 = 0;
  for (size_t i = 0; i < golden.values.size(); ++i) {
    d2 += (run.logits_f64[i] - golden.values[i]) * (run.logits_f64[i] - golden.values[i]);
    r2 += golden.values[i] * golden.values[i];
  }
  EXPECT_LT(std::sqrt(d2 / r2), 1e-6);
}

TEST(SyntheticWeights, KeepActivationsInARealisticRange) {
  for (const ModelSpec& spec : {mobilenet_v2(), mobilenet_v2(0.35, 96, 10), mobilenet_v2(1.4, 224)}) {
    SCOPED_TRACE(spec.str());
    const ModelWeights w = synthetic_weights(spec, 1);
    const HostTensor x = random_tensor(spec.input_shape(1), Layout::kNCHW, 2, -2.0f, 2.0f);
    const ReferenceRun run = reference_forward(spec, w, x, /*keep_activations=*/true);
    for (const Layer& l : spec.layers) {
      const auto& a = run.activations[size_t(l.index)].data;
      double s2 = 0;
      size_t zeros = 0, clipped = 0;
      for (float v : a) {
        s2 += double(v) * v;
        zeros += v == 0.0f;
        clipped += v == 6.0f;
      }
      const double rms = std::sqrt(s2 / double(a.size()));
      EXPECT_GT(rms, 0.05) << l.name;
      EXPECT_LT(rms, 10.0) << l.name;
      EXPECT_LT(double(zeros) / double(a.size()), 0.95) << l.name;
      EXPECT_LT(double(clipped) / double(a.size()), 0.5) << l.name;
    }
  }
  // Same seed, same weights; another seed, other weights.
  const ModelSpec spec = mobilenet_v2();
  EXPECT_EQ(synthetic_weights(spec, 5).hash, synthetic_weights(spec, 5).hash);
  EXPECT_NE(synthetic_weights(spec, 5).hash, synthetic_weights(spec, 6).hash);
}

}  // namespace
}  // namespace mbv2
