// The FP64 CPU reference: hand-computed cases for every layer kind, layout
// independence, and the whole network against PyTorch's golden logits.
#include <gtest/gtest.h>

#include <cmath>

#include "common/image.h"
#include "common/metrics.h"
#include "common/npy.h"
#include "common/reference.h"
#include "common/util.h"
#include "test_support.h"

namespace mbv2 {
namespace {

Layer conv_layer(int in_c, int out_c, int h, int w, int k, int stride, int groups, Activation act) {
  Layer l;
  l.kind = LayerKind::kConv;
  l.in_c = in_c, l.out_c = out_c, l.in_h = h, l.in_w = w;
  l.kernel = k, l.stride = stride, l.pad = (k - 1) / 2, l.groups = groups;
  l.out_h = conv_out_size(h, k, stride, l.pad);
  l.out_w = conv_out_size(w, k, stride, l.pad);
  l.act = act;
  return l;
}

HostTensor tensor_nchw(Shape4 s, std::vector<float> v) {
  HostTensor t(s, Layout::kNCHW);
  t.data = std::move(v);
  return t;
}

TEST(Reference, Pointwise1x1WithBiasAndRelu6) {
  // 2 input channels, 2 output channels, one 1x2 image.
  // out[o] = b[o] + sum_i W[o][i] * x[i]; W = [[1, 2], [-3, 4]], b = [0.5, -1].
  const Layer l = conv_layer(2, 2, 1, 2, 1, 1, 1, Activation::kRelu6);
  LayerWeights w{{1, 2, -3, 4}, {0.5f, -1.0f}};
  const HostTensor x = tensor_nchw({1, 2, 1, 2}, {1, 3, 2, -1});  // pixel0 = (1, 2), pixel1 = (3, -1)
  const HostTensor y = reference_layer(l, w, x, nullptr, Layout::kNCHW);
  // pixel0: o0 = 0.5 + 1 + 4 = 5.5; o1 = -1 - 3 + 8 = 4. pixel1: o0 = 0.5 + 3 - 2 = 1.5;
  // o1 = -1 - 9 - 4 = -14 -> relu6 -> 0.
  EXPECT_FLOAT_EQ(y.at(0, 0, 0, 0), 5.5f);
  EXPECT_FLOAT_EQ(y.at(0, 1, 0, 0), 4.0f);
  EXPECT_FLOAT_EQ(y.at(0, 0, 0, 1), 1.5f);
  EXPECT_FLOAT_EQ(y.at(0, 1, 0, 1), 0.0f);
  // Upper clip: scale the weights up and o0 of pixel 0 saturates at 6.
  LayerWeights big{{10, 20, -3, 4}, {0.5f, -1.0f}};
  EXPECT_FLOAT_EQ(reference_layer(l, big, x, nullptr, Layout::kNCHW).at(0, 0, 0, 0), 6.0f);
}

TEST(Reference, Conv3x3PaddingHandComputed) {
  // One channel, 3x3 input 1..9, all-ones 3x3 kernel, pad 1: each output is the sum of
  // its in-bounds neighbourhood.
  const Layer l = conv_layer(1, 1, 3, 3, 3, 1, 1, Activation::kNone);
  LayerWeights w{std::vector<float>(9, 1.0f), {0.0f}};
  const HostTensor x = tensor_nchw({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const HostTensor y = reference_layer(l, w, x, nullptr, Layout::kNCHW);
  const float expect[9] = {12, 21, 16, 27, 45, 33, 24, 39, 28};
  for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(y.data[size_t(i)], expect[i]) << i;
}

TEST(Reference, DepthwiseStride2HandComputed) {
  // Two channels, 3x3 images, stride 2, pad 1 -> 2x2 outputs. Channel 0 kernel = centre 1
  // (picks input (2*oh, 2*ow)); channel 1 kernel = all 0.5 with bias 1 and inputs
  // 0.1 * (1..9), so each output is 1 + 0.5 * (sum of its 4 in-bounds taps).
  const Layer l = conv_layer(2, 2, 3, 3, 3, 2, 2, Activation::kRelu6);
  std::vector<float> k(18, 0.0f);
  k[4] = 1.0f;
  for (int i = 9; i < 18; ++i) k[size_t(i)] = 0.5f;
  LayerWeights w{k, {0.0f, 1.0f}};
  const HostTensor x = tensor_nchw({1, 2, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9,  //
                                                  0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f});
  const HostTensor y = reference_layer(l, w, x, nullptr, Layout::kNCHW);
  EXPECT_EQ(y.shape, (Shape4{1, 2, 2, 2}));
  // Channel 0: 1, 3, 7, 9 -> the last two clip at 6.
  const float expect[8] = {1, 3, 6, 6,
                           1 + 0.5f * 1.2f, 1 + 0.5f * 1.6f, 1 + 0.5f * 2.4f, 1 + 0.5f * 2.8f};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(y.data[size_t(i)], expect[i], 1e-6) << i;
}

TEST(Reference, GroupedConvUsesOnlyItsGroup) {
  // groups = 2, 4 in and 2 out channels: output 0 sees inputs 0..1, output 1 sees 2..3.
  const Layer l = conv_layer(4, 2, 1, 1, 1, 1, 2, Activation::kNone);
  LayerWeights w{{1, 10, 100, 1000}, {0, 0}};
  const HostTensor x = tensor_nchw({1, 4, 1, 1}, {1, 2, 3, 4});
  const HostTensor y = reference_layer(l, w, x, nullptr, Layout::kNCHW);
  EXPECT_FLOAT_EQ(y.data[0], 1 * 1 + 10 * 2.0f);
  EXPECT_FLOAT_EQ(y.data[1], 100 * 3 + 1000 * 4.0f);
}

TEST(Reference, ResidualAddedAfterTheConv) {
  Layer l = conv_layer(1, 1, 1, 2, 1, 1, 1, Activation::kNone);
  l.residual_from = 0;
  LayerWeights w{{2.0f}, {1.0f}};
  const HostTensor x = tensor_nchw({1, 1, 1, 2}, {3, -4});
  const HostTensor r = tensor_nchw({1, 1, 1, 2}, {0.25f, 10});
  const HostTensor y = reference_layer(l, w, x, &r, Layout::kNCHW);
  EXPECT_FLOAT_EQ(y.data[0], 7.25f);  // 1 + 2*3 + 0.25
  EXPECT_FLOAT_EQ(y.data[1], 3.0f);   // 1 - 8 + 10
  EXPECT_THROW(reference_layer(l, w, x, nullptr, Layout::kNCHW), InputError);
}

TEST(Reference, PoolAndLinearHandComputed) {
  Layer pool;
  pool.kind = LayerKind::kGlobalAvgPool;
  pool.in_c = 2, pool.in_h = 2, pool.in_w = 2, pool.out_c = 2, pool.out_h = 1, pool.out_w = 1;
  const HostTensor x = tensor_nchw({1, 2, 2, 2}, {1, 2, 3, 4, -8, 0, 0, 0});
  const HostTensor p = reference_layer(pool, {}, x, nullptr, Layout::kNHWC);
  EXPECT_FLOAT_EQ(p.data[0], 2.5f);
  EXPECT_FLOAT_EQ(p.data[1], -2.0f);
  Layer fc;
  fc.kind = LayerKind::kLinear;
  fc.in_c = 2, fc.in_h = 1, fc.in_w = 1, fc.out_c = 3, fc.out_h = 1, fc.out_w = 1;
  LayerWeights w{{1, 1, 2, -1, 0, 0.5f}, {0, 1, -1}};
  const HostTensor y = reference_layer(fc, w, p, nullptr, Layout::kNCHW);
  EXPECT_FLOAT_EQ(y.data[0], 0.5f);        // 2.5 - 2
  EXPECT_FLOAT_EQ(y.data[1], 1 + 5 + 2.0f);  // 1 + 2*2.5 + 2
  EXPECT_FLOAT_EQ(y.data[2], -1 - 1.0f);   // -1 + 0.5 * -2
}

TEST(Reference, NchwAndNhwcAgreeOnEveryKind) {
  const ModelSpec spec = mobilenet_v2(0.35, 64, 10);
  const ModelWeights w = synthetic_weights(spec, 3);
  for (int i : {0, 1, 2, 3, 4, 9, 50, 51, 52, 53}) {
    const Layer& l = spec.layers[size_t(i)];
    SCOPED_TRACE(l.name);
    const HostTensor x = random_tensor(l.input_shape(2), Layout::kNCHW, uint64_t(i));
    HostTensor r;
    if (l.has_residual()) r = random_tensor(l.output_shape(2), Layout::kNHWC, 100 + uint64_t(i));
    const HostTensor a = reference_layer(l, w.layers[size_t(i)], x, l.has_residual() ? &r : nullptr,
                                         Layout::kNCHW);
    const HostTensor xh = to_layout(x, Layout::kNHWC);
    const HostTensor b = reference_layer(l, w.layers[size_t(i)], xh, l.has_residual() ? &r : nullptr,
                                         Layout::kNHWC);
    const HostTensor bn = to_layout(b, Layout::kNCHW);
    EXPECT_EQ(a.data, bn.data);
  }
}

TEST(Reference, ShapeMismatchIsAnError) {
  const ModelSpec& spec = test::default_spec();
  const HostTensor wrong = random_tensor({1, 3, 100, 100}, Layout::kNCHW, 1);
  EXPECT_THROW(reference_layer(spec.layers[0], test::default_weights().layers[0], wrong, nullptr,
                               Layout::kNCHW),
               InputError);
  EXPECT_THROW(reference_forward(spec, test::default_weights(), wrong), InputError);
}

TEST(ReferenceNetwork, MatchesPyTorchGoldenLogits) {
  for (const std::string photo : {"coffee", "chelsea"}) {
    SCOPED_TRACE(photo);
    const HostTensor x = read_npy_tensor(test::data_path(photo + "_input.npy"), {1, 3, 224, 224});
    const NpyArray golden = read_npy(test::data_path(photo + "_logits_f64.npy"));
    const ReferenceRun run = reference_forward(test::default_spec(), test::default_weights(), x);
    std::vector<float> g(golden.values.begin(), golden.values.end());
    const Agreement a = compare(run.logits.data.data(), golden.values.data(), 1000, {1e-5, 1e-4});
    EXPECT_TRUE(a.pass) << a.reason;
    EXPECT_LE(a.rel_l2, 1e-5);
    EXPECT_EQ(top_k(run.logits.data.data(), 1000, 5), top_k(g.data(), 1000, 5));
  }
}

TEST(ReferenceNetwork, CoffeePhotoIsEspresso) {
  const HostTensor x = load_image_tensor(test::data_path("coffee.png"), 224);
  const ReferenceRun run = reference_forward(test::default_spec(), test::default_weights(), x);
  EXPECT_EQ(top_k(run.logits.data.data(), 1000, 1)[0], 967);
  const auto p = softmax(run.logits.data.data(), 1000);
  EXPECT_GT(p[967], 0.9);
}

TEST(ReferenceNetwork, KeptActivationsChainToTheLogits) {
  // Feeding layer i the kept float activation of layer i-1 reproduces layer i's output.
  const ModelSpec spec = mobilenet_v2(0.35, 64, 10);
  const ModelWeights w = synthetic_weights(spec, 9);
  const HostTensor x = random_tensor(spec.input_shape(2), Layout::kNCHW, 4, -2, 2);
  const ReferenceRun run = reference_forward(spec, w, x, true, Layout::kNHWC);
  for (const Layer& l : spec.layers) {
    if (l.index == 0) continue;
    const HostTensor* res = l.has_residual() ? &run.activations[size_t(l.residual_from)] : nullptr;
    const HostTensor y = reference_layer(l, w.layers[size_t(l.index)],
                                         run.activations[size_t(l.input_from)], res, Layout::kNHWC);
    EXPECT_TRUE(compare(y, run.activations[size_t(l.index)], {1e-6, 1e-5}).pass) << l.name;
  }
}

}  // namespace
}  // namespace mbv2
