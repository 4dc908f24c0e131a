// Host-side parts of the cuDNN backend, checked without a GPU: the activation arena plan,
// filter reordering, strides, layer checks, the strict-FP32 engine filter, report strings,
// registration, and the not-supported paths that must never touch the device.
#include <gtest/gtest.h>

#include <set>

#include "common/backend.h"
#include "common/util.h"
#include "cudnn_ref/activation_arena.h"
#include "cudnn_ref/conv_graph.h"
#include "cudnn_ref/conv_layer.h"
#include "cudnn_ref/cudnn_backend.h"
#include "cudnn_ref/engine_config.h"
#include "cudnn_ref/layer_checks.h"
#include "test_support.h"

namespace mbv2 {
namespace {

using test::default_spec;
using test::default_weights;

// --- activation arena --------------------------------------------------------------------

void expect_arena_is_safe(const ModelSpec& spec, int batch) {
  const cudnn::ArenaPlan plan = cudnn::plan_arena(spec, batch);
  const std::vector<int> last = cudnn::last_readers(spec);
  const int count = int(spec.layers.size());
  ASSERT_EQ(plan.slot_of_layer.size(), size_t(count));
  EXPECT_EQ(plan.slot_of_layer.back(), -1) << "the last layer writes the caller's logits";
  for (int i = 0; i + 1 < count; ++i) {
    const int s = plan.slot_of_layer[size_t(i)];
    ASSERT_GE(s, 0) << "layer " << i;
    ASSERT_LT(size_t(s), plan.slot_floats.size());
    EXPECT_GE(plan.slot_floats[size_t(s)], spec.layers[size_t(i)].output_shape(batch).numel())
        << "slot too small for layer " << i;
    // No activation still to be read (by layer i or later) may share layer i's slot.
    for (int j = 0; j < i; ++j) {
      if (last[size_t(j)] >= i) {
        EXPECT_NE(plan.slot_of_layer[size_t(j)], s)
            << "layer " << i << " would overwrite layer " << j << "'s output, read until layer "
            << last[size_t(j)];
      }
    }
  }
}

TEST(CudnnArena, DefaultModelNeverOverwritesLiveActivations) {
  expect_arena_is_safe(default_spec(), 1);
  expect_arena_is_safe(default_spec(), 256);
  expect_arena_is_safe(mobilenet_v2(0.35, 96, 10), 3);
}

TEST(CudnnArena, DefaultModelNeedsFewSlots) {
  const cudnn::ArenaPlan plan = cudnn::plan_arena(default_spec(), 1);
  // A block holds its input (the residual) while expand, depthwise and project run: 4 slots.
  EXPECT_LE(plan.slot_floats.size(), 4u);
  int64_t total = 0;
  for (int64_t f : plan.slot_floats) total += f;
  // Far below keeping every activation (about 6.7 M floats per image).
  EXPECT_LT(total, 4'000'000);
}

TEST(CudnnArena, LastReadersFollowInputsAndResiduals) {
  const ModelSpec& spec = default_spec();
  const std::vector<int> last = cudnn::last_readers(spec);
  for (const Layer& l : spec.layers) {
    if (l.input_from >= 0) {
      EXPECT_GE(last[size_t(l.input_from)], l.index);
    }
    if (l.has_residual()) {
      EXPECT_GE(last[size_t(l.residual_from)], l.index);
    }
  }
  // Block 2's project output (layer 5, 24 channels) is the residual of block 3's project
  // (layer 8), read after block 3's expand (6) and depthwise (7).
  ASSERT_EQ(spec.layers[8].residual_from, 5);
  EXPECT_EQ(last[5], 8);
}

// --- layouts --------------------------------------------------------------------------------

TEST(CudnnLayout, StridesByHand) {
  EXPECT_EQ(cudnn::activation_strides(Layout::kNCHW, 2, 3, 4, 5),
            (std::vector<int64_t>{60, 20, 5, 1}));
  EXPECT_EQ(cudnn::activation_strides(Layout::kNHWC, 2, 3, 4, 5),
            (std::vector<int64_t>{60, 1, 15, 3}));
  EXPECT_EQ(cudnn::filter_strides(Layout::kNCHW, 8, 3, 3, 3), (std::vector<int64_t>{27, 9, 3, 1}));
  EXPECT_EQ(cudnn::filter_strides(Layout::kNHWC, 8, 3, 3, 3), (std::vector<int64_t>{27, 1, 9, 3}));
}

TEST(CudnnLayout, FilterReorderedToKrscForNhwc) {
  Layer l;
  l.kind = LayerKind::kConv;
  l.in_c = 3, l.out_c = 2, l.kernel = 2, l.groups = 1;
  std::vector<float> oihw(2 * 3 * 2 * 2);
  for (size_t i = 0; i < oihw.size(); ++i) oihw[i] = float(i);  // value = its OIHW offset
  EXPECT_EQ(cudnn::filter_in_layout(l, oihw, Layout::kNCHW), oihw);
  const std::vector<float> ohwi = cudnn::filter_in_layout(l, oihw, Layout::kNHWC);
  // Element (o=1, i=2, h=1, w=0): OIHW offset ((1*3+2)*2+1)*2+0 = 22, OHWI ((1*2+1)*2+0)*3+2 = 20.
  EXPECT_EQ(ohwi[20], 22.0f);
  // (o=0, i=1, h=0, w=1): OIHW ((0*3+1)*2+0)*2+1 = 5, OHWI ((0*2+0)*2+1)*3+1 = 4.
  EXPECT_EQ(ohwi[4], 5.0f);
  std::multiset<float> a(oihw.begin(), oihw.end()), b(ohwi.begin(), ohwi.end());
  EXPECT_EQ(a, b) << "a permutation";
}

TEST(CudnnLayout, DepthwiseFilterIsTheSameInBothLayouts) {
  const Layer& dw = default_spec().layers[1];
  ASSERT_TRUE(dw.is_depthwise());
  const std::vector<float>& w = default_weights().layers[1].weight;
  EXPECT_EQ(cudnn::filter_in_layout(dw, w, Layout::kNHWC), w);
}

// --- supports() -----------------------------------------------------------------------------

TEST(CudnnSupport, Fp32AndTf32CoverEveryDefaultLayer) {
  for (Precision p : {Precision::kFP32, Precision::kTF32})
    for (const Layer& l : default_spec().layers) {
      const Support s = cudnn::check_layer(l, {1, p});
      EXPECT_TRUE(s.supported) << l.describe() << ": " << s.reason;
    }
}

TEST(CudnnSupport, OtherPrecisionsAreNotSupportedWithAReason) {
  for (Precision p : {Precision::kFP16, Precision::kBF16, Precision::kFP64}) {
    const Support s = cudnn::check_layer(default_spec().layers[0], {1, p});
    EXPECT_FALSE(s.supported);
    EXPECT_NE(s.reason.find(to_string(p)), std::string::npos) << s.reason;
  }
}

TEST(CudnnSupport, InconsistentConvolutionsAreRejected) {
  Layer l = default_spec().layers[1];  // depthwise 32 channels
  l.groups = 5;
  EXPECT_FALSE(cudnn::check_layer(l, {1, Precision::kFP32}).supported);
  l = default_spec().layers[0];
  l.out_h += 1;
  EXPECT_FALSE(cudnn::check_layer(l, {1, Precision::kFP32}).supported);
  EXPECT_FALSE(cudnn::check_layer(default_spec().layers[0], {0, Precision::kFP32}).supported);
}

TEST(CudnnSupport, PrepareInputsAreChecked) {
  const ModelSpec& spec = default_spec();
  EXPECT_THROW(cudnn::check_prepare_inputs(spec, default_weights(), {0, Precision::kFP32}),
               InputError);
  ModelWeights short_weights = default_weights();
  short_weights.layers.pop_back();
  EXPECT_THROW(cudnn::check_prepare_inputs(spec, short_weights, {1, Precision::kFP32}), InputError);
  ModelWeights bad = default_weights();
  bad.layers[3].bias.pop_back();
  EXPECT_THROW(cudnn::check_prepare_inputs(spec, bad, {1, Precision::kFP32}), InputError);
  EXPECT_NO_THROW(cudnn::check_prepare_inputs(spec, default_weights(), {1, Precision::kFP32}));
}

TEST(CudnnSupport, BuffersMustBeAlignedAndNonNull) {
  alignas(16) float data[8] = {};
  EXPECT_NO_THROW(cudnn::check_buffer(data, "input", "layer 0"));
  EXPECT_THROW(cudnn::check_buffer(nullptr, "input", "layer 0"), InputError);
  EXPECT_THROW(cudnn::check_buffer(data + 1, "input", "layer 0"), InputError);
}

// --- strict FP32 engine filter --------------------------------------------------------------

cudnn::EngineInfo engine_with(std::vector<int> notes) {
  cudnn::EngineInfo info;
  info.engine_id = 7;
  info.numerical_notes = std::move(notes);
  return info;
}

TEST(CudnnEngineFilter, StrictFp32RejectsTensorCoresAndDownConversion) {
  std::string why;
  EXPECT_FALSE(cudnn::engine_allowed(engine_with({CUDNN_NUMERICAL_NOTE_TENSOR_CORE}),
                                     Precision::kFP32, &why));
  EXPECT_NE(why.find("tensor cores"), std::string::npos);
  EXPECT_FALSE(cudnn::engine_allowed(engine_with({CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS}),
                                     Precision::kFP32, &why));
  EXPECT_TRUE(cudnn::engine_allowed(engine_with({}), Precision::kFP32, &why));
  EXPECT_TRUE(cudnn::engine_allowed(engine_with({CUDNN_NUMERICAL_NOTE_FFT}), Precision::kFP32, &why));
}

TEST(CudnnEngineFilter, Tf32AllowsTensorCoresButNeverDownConversion) {
  EXPECT_TRUE(cudnn::engine_allowed(engine_with({CUDNN_NUMERICAL_NOTE_TENSOR_CORE}),
                                    Precision::kTF32, nullptr));
  EXPECT_FALSE(cudnn::engine_allowed(
      engine_with({CUDNN_NUMERICAL_NOTE_TENSOR_CORE, CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS}),
      Precision::kTF32, nullptr));
}

TEST(CudnnEngineFilter, NondeterministicEnginesAreRejected) {
  EXPECT_FALSE(cudnn::engine_allowed(engine_with({CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC}),
                                     Precision::kFP32, nullptr));
}

TEST(CudnnEngineInfo, ReportStrings) {
  cudnn::EngineInfo info = engine_with({CUDNN_NUMERICAL_NOTE_FFT});
  info.source = cudnn::ConfigSource::kModeA;
  info.rank = 2;
  info.knobs = {{CUDNN_KNOB_TYPE_TILE_SIZE, 3}, {CUDNN_KNOB_TYPE_STAGES, 4}};
  info.behavior_notes = {CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION};
  EXPECT_EQ(info.label(), "engine 7 (mode_a #2)");
  EXPECT_EQ(info.knobs_text(), "TILE_SIZE=3 STAGES=4");
  EXPECT_EQ(info.notes_text(), "numerical: FFT; behaviour: RUNTIME_COMPILATION");
  EXPECT_NE(info.key(), engine_with({}).key()) << "knobs are part of the identity";
  EXPECT_EQ(cudnn::knob_name(9999), "KNOB_9999");
  EXPECT_EQ(engine_with({}).knobs_text(), "default");
}

TEST(CudnnGraphRecipe, Names) {
  EXPECT_EQ((cudnn::GraphRecipe{true, true, false, false}).name(), "conv+bias+relu6");
  EXPECT_EQ((cudnn::GraphRecipe{true, false, true, false}).name(), "conv+bias+res");
  EXPECT_EQ((cudnn::GraphRecipe{true, false, true, true}).name(), "conv+res+bias");
  EXPECT_EQ((cudnn::GraphRecipe{false, false, false, false}).name(), "conv");
}

// --- registration and not-supported paths (no device needed) -------------------------------

TEST(CudnnBackendRegistry, TwoLayoutsOneFamily) {
  BackendRegistry registry;
  register_cudnn_backends(registry);
  const BackendInfo* nhwc = registry.find("cudnn-nhwc");
  const BackendInfo* nchw = registry.find("cudnn-nchw");
  ASSERT_NE(nhwc, nullptr);
  ASSERT_NE(nchw, nullptr);
  EXPECT_EQ(nhwc->family, "cudnn");
  EXPECT_EQ(nchw->family, "cudnn");
  EXPECT_EQ(nhwc->create()->layout(), Layout::kNHWC);
  EXPECT_EQ(nchw->create()->layout(), Layout::kNCHW);
  EXPECT_EQ(nhwc->create()->name(), "cudnn-nhwc");
}

TEST(CudnnBackendRegistry, UnsupportedPrecisionIsReportedNotThrown) {
  BackendRegistry registry;
  register_cudnn_backends(registry);
  std::unique_ptr<Backend> b = registry.find("cudnn-nhwc")->create();
  const ModelSpec& spec = default_spec();
  EXPECT_FALSE(b->supports(spec.layers[0], {1, Precision::kFP16}).supported);
  // Nothing can run, so prepare() must not need a device at all.
  ASSERT_NO_THROW(b->prepare(spec, default_weights(), {1, Precision::kFP16}));
  for (const Layer& l : spec.layers) {
    const LayerDescription d = b->describe(l.index);
    EXPECT_FALSE(d.support.supported);
    EXPECT_NE(d.support.reason.find("fp16"), std::string::npos) << d.support.reason;
  }
  alignas(16) static float dummy[16];
  EXPECT_THROW(b->run_layer(0, dummy, nullptr, dummy, nullptr), NotSupportedError);
  EXPECT_THROW(b->forward(dummy, dummy, nullptr), NotSupportedError);
  EXPECT_THROW(b->describe(int(spec.layers.size())), InputError);
}

TEST(CudnnBackendRegistry, CallsBeforePrepareAreInputErrors) {
  BackendRegistry registry;
  register_cudnn_backends(registry);
  std::unique_ptr<Backend> b = registry.find("cudnn-nchw")->create();
  alignas(16) static float dummy[16];
  EXPECT_THROW(b->run_layer(0, dummy, nullptr, dummy, nullptr), InputError);
  EXPECT_THROW(b->forward(dummy, dummy, nullptr), InputError);
}

}  // namespace
}  // namespace mbv2
