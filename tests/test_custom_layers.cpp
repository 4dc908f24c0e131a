// The custom backend layer by layer: every layer of the default model (real weights) at
// batches 1, 3 and 32, other widths / resolutions, and hand-built awkward shapes (channel
// counts that are not multiples of 4, odd spatial sizes, 1x1 images, kernels other than 3x3)
// against the FP64 CPU reference. Plus the API contract (registration, supports(), errors)
// and CustomSanitize.*: every kernel variant once at small sizes, the filter to run under
//   compute-sanitizer --tool memcheck  tests/test_custom_layers --gtest_filter='CustomSanitize.*'
//   compute-sanitizer --tool racecheck tests/test_custom_layers --gtest_filter='CustomSanitize.*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/backend.h"
#include "common/device_memory.h"
#include "common/metrics.h"
#include "common/reference.h"
#include "common/util.h"
#include "custom/custom_backend.h"
#include "custom/conv_pool.h"
#include "custom/custom_options.h"
#include "custom/gemm_plan.h"
#include "custom/ir_block.h"
#include "custom/stem_conv.h"
#include "custom/tile_block.h"
#include "test_support.h"

namespace mbv2 {
namespace {

using test::conv_layer;
using test::upload;

// Runs layer i of a prepared backend on fresh random inputs and checks it against the
// FP64 reference; the output buffer is NaN-poisoned first so unwritten elements fail.
void expect_layer_matches(Backend& backend, const ModelSpec& spec, const ModelWeights& weights,
                          int i, int batch, uint64_t seed) {
  const Layer& l = spec.layers[size_t(i)];
  SCOPED_TRACE("layer " + std::to_string(i) + " " + l.describe() + " batch " +
               std::to_string(batch) + " [" + backend.describe(i).kernel + "]");
  const HostTensor in = random_tensor(l.input_shape(batch), Layout::kNHWC, seed, -1.0f, 2.0f);
  HostTensor res;
  if (l.has_residual()) res = random_tensor(l.output_shape(batch), Layout::kNHWC, seed ^ 0x5eed);
  const HostTensor ref = reference_layer(l, weights.layers[size_t(i)], in,
                                         l.has_residual() ? &res : nullptr, Layout::kNHWC);
  CudaStream stream;
  DeviceBuffer<float> d_in = upload(in), d_res, d_out(size_t(l.output_shape(batch).numel()));
  if (l.has_residual()) d_res = upload(res);
  fill_nan(d_out.get(), d_out.size(), stream.get());
  backend.run_layer(i, d_in.get(), d_res.get(), d_out.get(), stream.get());
  stream.synchronize();
  HostTensor out(l.output_shape(batch), Layout::kNHWC);
  out.data = d_out.download();
  const Agreement a = compare(out, ref, layer_tolerance(Precision::kFP32));
  EXPECT_TRUE(a.pass) << a.reason << " (rel-L2 " << a.rel_l2 << ", NaN " << a.nan_count << ")";
}

std::unique_ptr<Backend> prepared(const ModelSpec& spec, const ModelWeights& weights, int batch,
                                  const CustomOptions& options = {}) {
  std::unique_ptr<Backend> backend = make_custom_backend(options);
  backend->prepare(spec, weights, {batch, Precision::kFP32});
  return backend;
}

void expect_all_layers_match(const ModelSpec& spec, const ModelWeights& weights, int batch,
                             const CustomOptions& options = {}) {
  std::unique_ptr<Backend> backend = prepared(spec, weights, batch, options);
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    ASSERT_TRUE(backend->describe(int(i)).support.supported) << backend->describe(int(i)).support.reason;
    expect_layer_matches(*backend, spec, weights, int(i), batch, 1000 + i);
  }
}

Layer linear_layer(int in_c, int out_c) {
  Layer l;
  l.name = "fc";
  l.kind = LayerKind::kLinear;
  l.in_c = in_c, l.out_c = out_c, l.in_h = l.in_w = l.out_h = l.out_w = 1;
  return l;
}

Layer pool_layer(int c, int h, int w) {
  Layer l;
  l.name = "pool";
  l.kind = LayerKind::kGlobalAvgPool;
  l.in_c = l.out_c = c, l.in_h = h, l.in_w = w, l.out_h = l.out_w = 1;
  return l;
}

// A one-layer model around a hand-built layer (forward() is then unavailable, run_layer works).
void expect_hand_layer_matches(Layer l, int batch, const CustomOptions& options = {}) {
  ModelSpec spec;
  spec.name = "hand";
  spec.resolution = l.in_h;
  spec.num_classes = l.out_c;
  l.index = 0;
  l.input_from = -1;
  spec.layers = {l};
  ModelWeights weights;
  weights.layers = {synthetic_layer_weights(l, 42)};
  std::unique_ptr<Backend> backend = prepared(spec, weights, batch, options);
  ASSERT_TRUE(backend->describe(0).support.supported) << backend->describe(0).support.reason;
  expect_layer_matches(*backend, spec, weights, 0, batch, 7);
}

std::vector<Layer> awkward_layers() {
  const Activation r6 = Activation::kRelu6, none = Activation::kNone;
  return {
      conv_layer(13, 27, 15, 17, 1, 1, 1, r6),          // pointwise, scalar A and C
      conv_layer(13, 27, 15, 17, 1, 1, 1, none, true),  // + residual, scalar
      conv_layer(16, 24, 15, 17, 1, 1, 1, none, true),  // vector path, odd pixel count
      conv_layer(4, 5, 3, 3, 1, 1, 1, r6),              // tiny K and N
      conv_layer(21, 21, 15, 17, 3, 1, 21, r6),         // depthwise, scalar channels
      conv_layer(21, 21, 15, 17, 3, 2, 21, r6),         // depthwise stride 2, odd sizes
      conv_layer(24, 24, 15, 17, 3, 2, 24, r6),         // float4 channels, stride 2
      conv_layer(24, 24, 15, 17, 3, 1, 24, r6, true),   // depthwise + residual
      conv_layer(8, 8, 9, 7, 5, 2, 8, r6),              // generic depthwise 5x5
      conv_layer(8, 8, 1, 1, 3, 2, 8, r6),              // 1x1 image
      conv_layer(3, 32, 15, 17, 3, 2, 1, r6),           // stem fast path, odd sizes
      conv_layer(3, 13, 15, 17, 3, 2, 1, r6),           // stem, 13 channels
      conv_layer(3, 16, 1, 1, 3, 2, 1, r6),             // stem on a 1x1 image
      conv_layer(5, 12, 11, 9, 3, 1, 1, none, true),    // generic direct conv + residual
      linear_layer(13, 27),                             // classifier, scalar K
      linear_layer(64, 30),
      pool_layer(21, 5, 3),  // scalar channels
      pool_layer(136, 5, 3),
  };
}

// ---------------------------------------------------------------------------
// API contract (no GPU needed)

TEST(CustomBackendApi, RegisteredAsCustomNhwc) {
  BackendRegistry registry;
  register_custom_backends(registry);
  const BackendInfo* info = registry.find("custom");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->family, "custom");
  std::unique_ptr<Backend> backend = info->create();
  EXPECT_EQ(backend->name(), "custom");
  EXPECT_EQ(backend->layout(), Layout::kNHWC);
}

TEST(CustomBackendApi, SupportsEveryDefaultLayerInFp32Only) {
  std::unique_ptr<Backend> backend = make_custom_backend({});
  const ModelSpec spec = mobilenet_v2();
  for (const Layer& l : spec.layers) {
    EXPECT_TRUE(backend->supports(l, {1, Precision::kFP32}).supported) << l.describe();
    EXPECT_TRUE(backend->supports(l, {256, Precision::kFP32}).supported) << l.describe();
    const Support fp16 = backend->supports(l, {1, Precision::kFP16});
    EXPECT_FALSE(fp16.supported);
    EXPECT_NE(fp16.reason.find("fp16"), std::string::npos) << fp16.reason;
  }
  const Support grouped = backend->supports(conv_layer(8, 8, 5, 5, 3, 1, 2, Activation::kNone),
                                            {1, Precision::kFP32});
  EXPECT_FALSE(grouped.supported);
  EXPECT_FALSE(grouped.reason.empty());
}

TEST(CustomBackendApi, OptionsFromEnvironmentRejectBadValues) {
  ::setenv("MBV2_CUSTOM_PW_TILE", "7x7", 1);
  EXPECT_THROW(CustomOptions::from_env(), InputError);
  ::setenv("MBV2_CUSTOM_PW_TILE", "64x32", 1);
  ::setenv("MBV2_CUSTOM_FUSION", "maybe", 1);
  EXPECT_THROW(CustomOptions::from_env(), InputError);
  ::setenv("MBV2_CUSTOM_FUSION", "1", 1);
  ::setenv("MBV2_CUSTOM_PW_SPLITK", "3", 1);
  ::setenv("MBV2_CUSTOM_PW_CLUSTER", "2", 1);
  EXPECT_THROW(CustomOptions::from_env(), InputError);
  ::setenv("MBV2_CUSTOM_PW_CLUSTER", "0", 1);
  ::setenv("MBV2_CUSTOM_BLOCK_FUSION", "sometimes", 1);
  EXPECT_THROW(CustomOptions::from_env(), InputError);
  ::setenv("MBV2_CUSTOM_BLOCK_FUSION", "auto", 1);
  EXPECT_EQ(CustomOptions::from_env().block_fusion, -1);
  ::setenv("MBV2_CUSTOM_BLOCK_FUSION", "0", 1);
  ::setenv("MBV2_CUSTOM_BLOCK_SLICES", "1", 1);
  EXPECT_THROW(CustomOptions::from_env(), InputError);
  ::setenv("MBV2_CUSTOM_BLOCK_SLICES", "17", 1);
  EXPECT_THROW(CustomOptions::from_env(), InputError);
  ::setenv("MBV2_CUSTOM_BLOCK_SLICES", "16", 1);
  for (const char* bad : {"3,1", "4", "4,4,4", "1;2", "-1,2"}) {
    ::setenv("MBV2_CUSTOM_BLOCK_TM", bad, 1);
    EXPECT_THROW(CustomOptions::from_env(), InputError) << bad;
  }
  ::setenv("MBV2_CUSTOM_BLOCK_TM", "1,4", 1);
  ::setenv("MBV2_CUSTOM_BLOCK_ROWS", "x", 1);
  EXPECT_THROW(CustomOptions::from_env(), InputError);
  ::setenv("MBV2_CUSTOM_BLOCK_ROWS", "3", 1);
  ::setenv("MBV2_CUSTOM_BLOCK_LATE_WP", "later", 1);
  EXPECT_THROW(CustomOptions::from_env(), InputError);
  ::setenv("MBV2_CUSTOM_BLOCK_LATE_WP", "0", 1);
  for (const char* bad : {"-1", "12545", "x", "1e3"}) {
    ::setenv("MBV2_CUSTOM_TILE_BLOCK", bad, 1);
    EXPECT_THROW(CustomOptions::from_env(), InputError) << bad;
  }
  ::setenv("MBV2_CUSTOM_TILE_BLOCK", "784", 1);
  for (const char* bad : {"4x", "x7", "0x3", "4x7x", "4*7", "4x7 ", "big"}) {
    ::setenv("MBV2_CUSTOM_TILE_BLOCK_TILE", bad, 1);
    EXPECT_THROW(CustomOptions::from_env(), InputError) << bad;
  }
  ::setenv("MBV2_CUSTOM_TILE_BLOCK_TILE", "4x7", 1);
  for (const char* name : {"MBV2_CUSTOM_CONV_POOL", "MBV2_CUSTOM_TILE_DW_PROJECT"}) {
    ::setenv(name, "2", 1);
    EXPECT_THROW(CustomOptions::from_env(), InputError) << name;
  }
  ::setenv("MBV2_CUSTOM_CONV_POOL", "1", 1);
  ::setenv("MBV2_CUSTOM_TILE_DW_PROJECT", "0", 1);
  for (const char* bad : {"17", "-1", "x", "2x"}) {
    ::setenv("MBV2_CUSTOM_TILE_KSPLIT", bad, 1);
    EXPECT_THROW(CustomOptions::from_env(), InputError) << bad;
  }
  ::setenv("MBV2_CUSTOM_TILE_KSPLIT", "3", 1);
  for (const char* name : {"MBV2_CUSTOM_BLOCK_FIXED_TM", "MBV2_CUSTOM_TILE_FIXED_TM"}) {
    ::setenv(name, "2", 1);
    EXPECT_THROW(CustomOptions::from_env(), InputError) << name;
    ::setenv(name, "0", 1);
  }
  for (const char* bad : {"3", "5", "-1", "one"}) {
    ::setenv("MBV2_CUSTOM_STEM_PPT", bad, 1);
    EXPECT_THROW(CustomOptions::from_env(), InputError) << bad;
  }
  ::setenv("MBV2_CUSTOM_STEM_PPT", "2", 1);
  for (const char* name : {"MBV2_CUSTOM_BLOCK_GEMM", "MBV2_CUSTOM_TILE_GEMM"}) {
    for (const char* bad : {"rows", "pairs3", "2", "Rows4", "mixed"}) {
      ::setenv(name, bad, 1);
      EXPECT_THROW(CustomOptions::from_env(), InputError) << name << "=" << bad;
    }
  }
  ::setenv("MBV2_CUSTOM_BLOCK_GEMM", "pairs4", 1);
  ::setenv("MBV2_CUSTOM_TILE_GEMM", "rows2", 1);
  const CustomOptions o = CustomOptions::from_env();
  EXPECT_EQ(o.stem_ppt, 2);
  EXPECT_EQ(o.block_gemm_layout, 1);
  EXPECT_EQ(o.block_tm_lds, 4);
  EXPECT_EQ(o.tile_gemm_layout, 0);
  EXPECT_EQ(o.tile_tm_lds, 2);
  EXPECT_NE(o.str().find("block_gemm=pairs4 tile_gemm=rows2 stem_ppt=2"), std::string::npos) << o.str();
  EXPECT_EQ(o.tile_ksplit, 3);
  EXPECT_NE(o.str().find("tile_ksplit=3"), std::string::npos) << o.str();
  EXPECT_TRUE(o.conv_pool);
  EXPECT_FALSE(o.tile_dw_project);
  EXPECT_NE(o.str().find("tile_dw_project=0 conv_pool=1"), std::string::npos) << o.str();
  EXPECT_EQ(o.tile_block_px, 784);
  EXPECT_EQ(o.tile_block_th, 4);
  EXPECT_EQ(o.tile_block_tw, 7);
  EXPECT_NE(o.str().find("tile_block=784 tile_block_tile=4x7"), std::string::npos) << o.str();
  EXPECT_FALSE(o.block_late_wp);
  EXPECT_NE(o.str().find("block_fixed_tm=0 block_late_wp=0 tile_fixed_tm=0"), std::string::npos) << o.str();
  EXPECT_FALSE(o.block_fixed_tm);
  EXPECT_FALSE(o.tile_fixed_tm);
  EXPECT_EQ(o.block_slices, 16);
  EXPECT_EQ(o.block_rows, 3);
  EXPECT_EQ(o.block_tm_expand, 1);
  EXPECT_EQ(o.block_tm_project, 4);
  EXPECT_NE(o.str().find("block_rows=3 block_tm=1,4"), std::string::npos) << o.str();
  EXPECT_EQ(o.block_fusion, 0);
  EXPECT_FALSE(o.pw_cluster);
  EXPECT_TRUE(o.fusion);
  EXPECT_EQ(o.pw_tile, "64x32");
  EXPECT_EQ(o.pw_splitk, 3);
  ::unsetenv("MBV2_CUSTOM_PW_TILE");
  ::unsetenv("MBV2_CUSTOM_FUSION");
  ::unsetenv("MBV2_CUSTOM_PW_SPLITK");
  ::unsetenv("MBV2_CUSTOM_PW_CLUSTER");
  ::unsetenv("MBV2_CUSTOM_BLOCK_FUSION");
  ::unsetenv("MBV2_CUSTOM_BLOCK_SLICES");
  ::unsetenv("MBV2_CUSTOM_BLOCK_TM");
  ::unsetenv("MBV2_CUSTOM_BLOCK_ROWS");
  ::unsetenv("MBV2_CUSTOM_BLOCK_LATE_WP");
  ::unsetenv("MBV2_CUSTOM_TILE_BLOCK");
  ::unsetenv("MBV2_CUSTOM_CONV_POOL");
  ::unsetenv("MBV2_CUSTOM_TILE_DW_PROJECT");
  ::unsetenv("MBV2_CUSTOM_TILE_KSPLIT");
  ::unsetenv("MBV2_CUSTOM_BLOCK_FIXED_TM");
  ::unsetenv("MBV2_CUSTOM_TILE_FIXED_TM");
  ::unsetenv("MBV2_CUSTOM_STEM_PPT");
  ::unsetenv("MBV2_CUSTOM_BLOCK_GEMM");
  ::unsetenv("MBV2_CUSTOM_TILE_GEMM");
  ::setenv("MBV2_CUSTOM_TILE_BLOCK_TILE", "auto", 1);
  const CustomOptions d = CustomOptions::from_env();
  ::unsetenv("MBV2_CUSTOM_TILE_BLOCK_TILE");
  EXPECT_EQ(d.tile_block_px, CustomOptions().tile_block_px);
  EXPECT_EQ(d.tile_block_th, 0);
  EXPECT_FALSE(d.conv_pool);
  EXPECT_EQ(d.tile_ksplit, 0);
  EXPECT_TRUE(d.block_fixed_tm);
  EXPECT_TRUE(d.tile_fixed_tm);
  EXPECT_EQ(d.str().find("fixed_tm"), std::string::npos) << d.str();
  EXPECT_NE(d.str().find("block_gemm=mixed2 tile_gemm=pairs4"), std::string::npos) << d.str();
  EXPECT_EQ(d.stem_ppt, 0);
  EXPECT_TRUE(d.tile_dw_project);
  EXPECT_EQ(d.fusion, CustomOptions().fusion);
  EXPECT_EQ(d.pdl, CustomOptions().pdl);
  EXPECT_EQ(d.block_fusion, -1);
  EXPECT_TRUE(d.block_late_wp);
  EXPECT_EQ(d.str().find("block_late_wp"), std::string::npos) << d.str();
  EXPECT_TRUE(d.pw_tile.empty());
}

// The blocks of `spec` with an expand layer (expand, depthwise, project) as the block kernels
// see them at `batch`, named by their expand layer.
std::vector<std::pair<std::string, custom::IrBlockShape>> default_block_shapes(const ModelSpec& spec, int batch) {
  std::vector<std::pair<std::string, custom::IrBlockShape>> out;
  for (size_t i = 0; i + 2 < spec.layers.size(); ++i) {
    const Layer& e = spec.layers[i];
    const Layer& d = spec.layers[i + 1];
    const Layer& p = spec.layers[i + 2];
    if (e.role != LayerRole::kExpand) continue;
    custom::IrBlockShape s;
    s.n = batch, s.h = e.in_h, s.w = e.in_w, s.cin = e.in_c, s.ch = e.out_c;
    s.oh = d.out_h, s.ow = d.out_w, s.cout = p.out_c, s.stride = d.stride, s.pad = d.pad;
    s.residual = p.has_residual();
    out.emplace_back(e.name, s);
  }
  return out;
}

// The whole-block planner (host only): every block of the default model at batch 1 and 256
// gets a cut whose slices cover the hidden channels exactly once, whose bands cover the
// output rows, and whose shared memory fits; impossible shapes are refused with a reason.
TEST(CustomIrBlockPlan, CoversEveryDefaultBlockWithinSharedMemory) {
  const ModelSpec spec = mobilenet_v2();
  const size_t limit = 227 * 1024;
  int blocks = 0;
  for (int batch : {1, 256}) {
    for (const auto& [name, s] : default_block_shapes(spec, batch)) {
      ++blocks;
      const custom::IrBlockPlan plan = custom::plan_ir_block(s, 132, limit);
      SCOPED_TRACE(name + " batch " + std::to_string(batch) + ": " + plan.str(batch));
      ASSERT_TRUE(plan.ok) << plan.reason;
      EXPECT_EQ(plan.slice_ch % 4, 0);
      EXPECT_GE(plan.slices, 2);
      EXPECT_LE(plan.slices, custom::kIrBlockMaxPortableSlices);
      EXPECT_GE(plan.slices * plan.slice_ch, s.ch);
      EXPECT_LT((plan.slices - 1) * plan.slice_ch, s.ch);  // no empty slice
      EXPECT_GE(plan.bands * plan.rows, s.oh);
      EXPECT_LT((plan.bands - 1) * plan.rows, s.oh);
      EXPECT_EQ(plan.in_rows, (plan.rows - 1) * s.stride + 3);
      EXPECT_LE(plan.smem_bytes, limit);
      EXPECT_TRUE(plan.tm_expand == 1 || plan.tm_expand == 2 || plan.tm_expand == 4);
      EXPECT_TRUE(plan.tm_project == 1 || plan.tm_project == 2 || plan.tm_project == 4);
      // The fewest rows per band that fit one wave of one block per SM (or, at batch 256,
      // where none does, more rows than that).
      if (plan.rows > 1) {
        const int64_t fewer = int64_t((s.oh + plan.rows - 2) / (plan.rows - 1)) * batch * plan.slices;
        EXPECT_GT(fewer, 132);
      }
      if (batch == 1) {
        EXPECT_LE(int64_t(plan.bands) * plan.slices, 132);
      }
      if (batch == 1 && s.ch == 960 && s.cout == 320) {
        EXPECT_FALSE(plan.stage_project);  // 120 x 320 floats of projection weights do not fit
      }
    }
  }
  EXPECT_EQ(blocks, 2 * 16);
}

TEST(CustomIrBlockPlan, RefusesWhatTheKernelCannotRun) {
  custom::IrBlockShape s;
  s.n = 1, s.h = s.w = 14, s.cin = 64, s.ch = 384, s.oh = s.ow = 14, s.cout = 64;
  ASSERT_TRUE(custom::plan_ir_block(s, 132, 227 * 1024).ok);
  const custom::IrBlockPlan tiny = custom::plan_ir_block(s, 132, 4 * 1024);
  EXPECT_FALSE(tiny.ok);
  EXPECT_NE(tiny.reason.find("shared memory"), std::string::npos) << tiny.reason;
  custom::IrBlockShape narrow = s;
  narrow.ch = 4;
  EXPECT_FALSE(custom::plan_ir_block(narrow, 132, 227 * 1024).ok);
  custom::IrBlockShape wrong = s;
  wrong.oh = 13;  // not what a 3x3 stride-1 pad-1 depthwise makes of 14 rows
  EXPECT_FALSE(custom::plan_ir_block(wrong, 132, 227 * 1024).ok);
  custom::IrBlockShape s2 = s;
  s2.stride = 2, s2.oh = s2.ow = 7;
  EXPECT_TRUE(custom::plan_ir_block(s2, 132, 227 * 1024).ok);
  // The kernel adds only its own input as the residual: same shape, stride 1.
  custom::IrBlockShape res = s;
  res.residual = true;
  EXPECT_TRUE(custom::plan_ir_block(res, 132, 227 * 1024).ok);
  res.stride = 2, res.oh = res.ow = 7;
  const custom::IrBlockPlan strided = custom::plan_ir_block(res, 132, 227 * 1024);
  EXPECT_FALSE(strided.ok);
  EXPECT_NE(strided.reason.find("residual"), std::string::npos) << strided.reason;
  res = s, res.residual = true, res.cout = 96;
  EXPECT_FALSE(custom::plan_ir_block(res, 132, 227 * 1024).ok);
}

// Forced choices (the MBV2_CUSTOM_BLOCK_* knobs) are honoured where they fit and still cover
// the block exactly once.
TEST(CustomIrBlockPlan, HonoursForcedChoices) {
  custom::IrBlockShape s;
  s.n = 1, s.h = s.w = 14, s.cin = 64, s.ch = 384, s.oh = s.ow = 14, s.cout = 64;
  custom::IrBlockForce f;
  f.slices = 4, f.rows = 5, f.tm_expand = 1, f.tm_project = 2;
  const custom::IrBlockPlan p = custom::plan_ir_block(s, 132, 227 * 1024, 16, f);
  ASSERT_TRUE(p.ok) << p.reason;
  EXPECT_EQ(p.slices, 4);
  EXPECT_EQ(p.slice_ch, 96);
  EXPECT_EQ(p.rows, 5);
  EXPECT_EQ(p.in_rows, 7);
  EXPECT_EQ(p.bands, 3);  // 5 + 5 + 4 rows
  EXPECT_EQ(p.tm_expand, 1);
  EXPECT_EQ(p.tm_project, 2);
  EXPECT_FALSE(p.late_project_weights);
  custom::IrBlockForce late = f;
  late.late_project_weights = true;
  const custom::IrBlockPlan pl = custom::plan_ir_block(s, 132, 227 * 1024, 16, late);
  ASSERT_TRUE(pl.ok) << pl.reason;
  EXPECT_TRUE(pl.late_project_weights);
  EXPECT_EQ(pl.smem_bytes, p.smem_bytes);
  EXPECT_NE(pl.str(1).find("smem late"), std::string::npos) << pl.str(1);
  f.slices = 16, f.rows = 100;  // more rows than the output has: the whole image in one band
  const custom::IrBlockPlan all = custom::plan_ir_block(s, 132, 227 * 1024, 16, f);
  ASSERT_TRUE(all.ok) << all.reason;
  EXPECT_EQ(all.rows, 14);
  EXPECT_EQ(all.bands, 1);
  f.rows = 14;  // does not fit 80 KB: the most rows that do
  const custom::IrBlockPlan small = custom::plan_ir_block(s, 132, 80 * 1024, 16, f);
  ASSERT_TRUE(small.ok) << small.reason;
  EXPECT_LT(small.rows, 14);
  EXPECT_LE(small.smem_bytes, size_t(80 * 1024));
}

TEST(CustomBackendApi, BadInputGetsClearErrors) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(0.35, 32, 10);
  const ModelWeights weights = synthetic_weights(spec, 3);
  std::unique_ptr<Backend> backend = make_custom_backend({});
  DeviceBuffer<float> buf(1 << 16);
  EXPECT_THROW(backend->run_layer(0, buf.get(), nullptr, buf.get(), nullptr), InputError);
  EXPECT_THROW(backend->forward(buf.get(), buf.get(), nullptr), InputError);
  ModelWeights short_weights = weights;
  short_weights.layers[3].weight.pop_back();
  EXPECT_THROW(backend->prepare(spec, short_weights, {2, Precision::kFP32}), InputError);
  backend->prepare(spec, weights, {2, Precision::kFP32});
  EXPECT_THROW(backend->run_layer(-1, buf.get(), nullptr, buf.get(), nullptr), InputError);
  EXPECT_THROW(backend->run_layer(54, buf.get(), nullptr, buf.get(), nullptr), InputError);
  EXPECT_THROW(backend->run_layer(0, nullptr, nullptr, buf.get(), nullptr), InputError);
  int residual_layer = -1;
  for (const Layer& l : spec.layers)
    if (l.has_residual()) residual_layer = l.index;
  ASSERT_GE(residual_layer, 0);
  EXPECT_THROW(backend->run_layer(residual_layer, buf.get(), nullptr, buf.get(), nullptr), InputError);
  EXPECT_THROW(backend->forward(nullptr, buf.get(), nullptr), InputError);
  EXPECT_FALSE(backend->describe(0).kernel.empty());
}

// ---------------------------------------------------------------------------
// The default model, real weights

TEST(CustomLayers, DefaultModelBatch1) {
  MBV2_SKIP_WITHOUT_GPU();
  expect_all_layers_match(test::default_spec(), test::default_weights(), 1);
}

TEST(CustomLayers, DefaultModelBatch3) {
  MBV2_SKIP_WITHOUT_GPU();
  expect_all_layers_match(test::default_spec(), test::default_weights(), 3);
}

TEST(CustomLayers, DefaultModelBatch32) {
  MBV2_SKIP_WITHOUT_GPU();
  expect_all_layers_match(test::default_spec(), test::default_weights(), 32);
}

// The 1x1 layers with every tile, both GEMM main loops and every split-K reduction (none,
// cluster, global; 12 splits is past the largest cluster): each tile's index math, not
// just the ones the planner happens to pick.
// The stem's fast path with 4, 2 and 1 output pixels per thread (128 / 256 / 512 threads at
// batch 1) against the reference, at batch 1 (4-row tiles), 3 and 32 (8-row tiles), on the
// real stem and on an odd 225x225 input (partial tiles at the right and bottom edges).
TEST(CustomLayers, StemPixelsPerThread) {
  MBV2_SKIP_WITHOUT_GPU();
  for (int res : {224, 225}) {
    const ModelSpec spec = mobilenet_v2(1.0, res, 10);
    const ModelWeights weights = synthetic_weights(spec, 41);
    for (int ppt : {4, 2, 1}) {
      for (int batch : {1, 3, 32}) {
        CustomOptions o;
        o.stem_ppt = ppt;
        SCOPED_TRACE("resolution " + std::to_string(res) + " ppt " + std::to_string(ppt) + " batch " +
                     std::to_string(batch));
        std::unique_ptr<Backend> backend = prepared(spec, weights, batch, o);
        const std::string k = backend->describe(0).kernel;
        EXPECT_NE(k.find(std::to_string(ppt) + "px x 8ch"), std::string::npos) << k;
        expect_layer_matches(*backend, spec, weights, 0, batch, 42);
      }
    }
  }
}

TEST(CustomLayers, EveryGemmTileAndSplitK) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(0.5, 64, 100);
  const ModelWeights weights = synthetic_weights(spec, 5);
  struct Variant { int kernel, splits; bool cluster; };
  for (int ti = 0; ti < custom::kGemmTileCount; ++ti) {
    const custom::GemmTile& gt = custom::kGemmTiles[ti];
    const std::string tile = std::to_string(gt.bm) + "x" + std::to_string(gt.bn);
    const bool cluster_tile = gt.tm * gt.tn <= 16;  // the planner clusters 4x4 tiles only
    for (const Variant v : {Variant{2, 1, true}, Variant{2, 5, true}, Variant{2, 5, false},
                            Variant{2, 12, true}, Variant{1, 1, true}, Variant{1, 5, true}}) {
      SCOPED_TRACE("tile " + tile + " kernel v" + std::to_string(v.kernel) + " split-K " +
                   std::to_string(v.splits) + (v.cluster ? " cluster allowed" : " global"));
      CustomOptions o;
      o.pw_tile = tile;
      o.pw_kernel = v.kernel;
      o.pw_splitk = v.splits;
      o.pw_cluster = v.cluster;
      std::unique_ptr<Backend> backend = prepared(spec, weights, 3, o);
      int clustered = 0, global = 0;
      for (const Layer& l : spec.layers) {
        if (!l.is_conv() || l.kernel != 1) continue;
        const std::string k = backend->describe(l.index).kernel;  // "... splitk=N[ cluster]>"
        const size_t at = k.find("splitk=");
        ASSERT_NE(at, std::string::npos) << k;
        const int splits = std::atoi(k.c_str() + at + 7);
        const bool cluster = k.find(" cluster") != std::string::npos;
        if (cluster) {
          EXPECT_LE(splits, custom::kMaxClusterSplits) << k;
        }
        clustered += cluster;
        global += splits > 1 && !cluster;
        expect_layer_matches(*backend, spec, weights, l.index, 3, 77);
      }
      // Each reduction path really runs where it should: clusters only on the v2 loop, on
      // 4x4 tiles and when allowed; more than 8 splits (K permitting) only through the
      // workspace.
      const bool may_cluster = v.kernel == 2 && v.cluster && cluster_tile;
      if (may_cluster && v.splits > 1) {
        EXPECT_GT(clustered, 0);
      }
      if (!may_cluster) {
        EXPECT_EQ(clustered, 0);
      }
      if (v.splits > 1 && (!may_cluster || v.splits > 8)) {
        EXPECT_GT(global, 0);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Other widths and resolutions (synthetic weights)

TEST(CustomLayers, Width075Batch3) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(0.75, 224, 1000);
  expect_all_layers_match(spec, synthetic_weights(spec, 11), 3);
}

TEST(CustomLayers, Width14Batch3) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(1.4, 224, 1000);
  expect_all_layers_match(spec, synthetic_weights(spec, 12), 3);
}

TEST(CustomLayers, Resolution244Batch3) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(1.0, 244, 1000);
  expect_all_layers_match(spec, test::default_weights(), 3);
}

TEST(CustomLayers, Width035Resolution96Batch3) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(0.35, 96, 1000);
  expect_all_layers_match(spec, synthetic_weights(spec, 13), 3);
}

// ---------------------------------------------------------------------------
// Hand-built awkward shapes

TEST(CustomLayers, AwkwardShapes) {
  MBV2_SKIP_WITHOUT_GPU();
  for (int batch : {1, 3}) {
    for (const Layer& l : awkward_layers()) {
      SCOPED_TRACE(l.describe() + " batch " + std::to_string(batch));
      expect_hand_layer_matches(l, batch);
    }
  }
  // The classifier through the GEMM path (batch > 8), aligned and unaligned K.
  expect_hand_layer_matches(linear_layer(13, 27), 11);
  expect_hand_layer_matches(linear_layer(64, 27), 11);
}

// ---------------------------------------------------------------------------
// Sanitizer suite: every kernel variant once, small sizes, still checked for correctness.

TEST(CustomSanitize, EveryLayerKernelOnce) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(0.35, 32, 10);
  const ModelWeights weights = synthetic_weights(spec, 21);
  expect_all_layers_match(spec, weights, 2);   // GEMV classifier
  expect_all_layers_match(spec, weights, 9);   // GEMM classifier
  CustomOptions split;
  split.pw_splitk = 3;
  split.pw_tile = "32x32";
  expect_all_layers_match(spec, weights, 2, split);  // split-K in a cluster (DSMEM)
  split.pw_cluster = false;
  expect_all_layers_match(spec, weights, 2, split);  // split-K through the L2 workspace
  for (int ppt : {2, 1}) {  // the stem with 2 and 1 output pixels per thread
    CustomOptions stem;
    stem.stem_ppt = ppt;
    std::unique_ptr<Backend> backend = prepared(spec, weights, 1, stem);
    expect_layer_matches(*backend, spec, weights, 0, 1, 24);
  }
  for (const Layer& l : awkward_layers()) {
    SCOPED_TRACE(l.describe());
    expect_hand_layer_matches(l, 2);
  }
}

TEST(CustomSanitize, ForwardFusedAndUnfusedOnce) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(0.35, 32, 10);
  const ModelWeights weights = synthetic_weights(spec, 22);
  for (int batch : {2, 9}) {
    const HostTensor in = random_tensor(spec.input_shape(batch), Layout::kNHWC, 23);
    const ReferenceRun ref = reference_forward(spec, weights, in);
    for (int variant = 0; variant < 4; ++variant) {
      CustomOptions o;
      o.fusion = variant & 1;
      o.block_fusion = variant & 1;  // whole inverted-residual blocks (ir_block.cu)
      o.pdl = variant & 2;
      if (variant == 3) o.pw_splitk = 3;  // fused kernel with split-K, GEMMs in clusters
      if (variant == 2) o.pw_splitk = 12;  // global split-K fix-up under PDL
      SCOPED_TRACE("batch " + std::to_string(batch) + " " + o.str());
      std::unique_ptr<Backend> backend = prepared(spec, weights, batch, o);
      CudaStream stream;
      DeviceBuffer<float> d_in = upload(in), d_logits(size_t(batch) * spec.num_classes);
      fill_nan(d_logits.get(), d_logits.size(), stream.get());
      backend->forward(d_in.get(), d_logits.get(), stream.get());
      stream.synchronize();
      const std::vector<float> out = d_logits.download();
      const Agreement a = compare(out.data(), ref.logits_f64.data(), out.size(),
                                  network_tolerance(Precision::kFP32));
      EXPECT_TRUE(a.pass) << a.reason << " [" << backend->describe_forward() << "]";
    }
  }
}

// The tile-block planner (host only): every block of the default model at batch 1 up to 384
// hidden channels is cut into output tiles that cover it exactly once, in one wave on 132
// SMs, within shared memory (from 576 hidden channels the expand weights alone exceed it:
// refused with the reason); the 112x112 block gets a 28-pixel tile (56x56 / 132 SMs needs at
// least 24, and 5x5 or 4x6 would make 144 / 140 blocks).
TEST(CustomTileBlockPlan, CoversEveryDefaultBlockInOneWave) {
  const ModelSpec spec = mobilenet_v2();
  const size_t limit = 227 * 1024;
  int blocks = 0;
  for (const auto& [name, s] : default_block_shapes(spec, 1)) {
    ++blocks;
    const custom::TileBlockPlan plan = custom::plan_tile_block(s, 132, limit);
    SCOPED_TRACE(name + ": " + plan.str(1));
    if (s.ch >= 576) {
      EXPECT_FALSE(plan.ok);
      EXPECT_NE(plan.reason.find("shared memory"), std::string::npos) << plan.reason;
      continue;
    }
    ASSERT_TRUE(plan.ok) << plan.reason;
    EXPECT_GE(plan.tiles_h * plan.th, s.oh);
    EXPECT_LT((plan.tiles_h - 1) * plan.th, s.oh);
    EXPECT_GE(plan.tiles_w * plan.tw, s.ow);
    EXPECT_LT((plan.tiles_w - 1) * plan.tw, s.ow);
    EXPECT_EQ(plan.in_th, (plan.th - 1) * s.stride + 3);
    EXPECT_EQ(plan.in_tw, (plan.tw - 1) * s.stride + 3);
    EXPECT_LE(plan.smem_bytes, limit);
    EXPECT_LE(plan.tiles_h * plan.tiles_w, 132);
    EXPECT_TRUE(plan.tm_expand == 1 || plan.tm_expand == 2 || plan.tm_expand == 4);
    EXPECT_TRUE(plan.tm_project == 1 || plan.tm_project == 2 || plan.tm_project == 4);
    // The projection's K split: every split non-empty, k per split a multiple of 4, every
    // (split, tile) item on its own thread.
    ASSERT_GE(plan.ksplit, 1);
    if (plan.ksplit > 1) {
      EXPECT_EQ(plan.k_per_split % 4, 0);
      EXPECT_LT((plan.ksplit - 1) * plan.k_per_split, s.ch);
      EXPECT_GE(plan.ksplit * plan.k_per_split, s.ch);
      const int tiles = (plan.th * plan.tw + plan.tm_project - 1) / plan.tm_project * ((s.cout + 3) / 4);
      EXPECT_LE(tiles * plan.ksplit, custom::kTileBlockThreads);
    }
    if (s.h == 112) {
      EXPECT_EQ(plan.th * plan.tw, 28);  // 56x56 / 132 SMs: at least 24 pixels per tile
      EXPECT_EQ(plan.tiles_h * plan.tiles_w, 112);
      EXPECT_TRUE(plan.stage_project);
      // 28 pixels x 6 quads in 2-pixel tiles = 84 items: 4 splits of K = 96 (8 would need
      // 672 threads), 24 k each.
      EXPECT_EQ(plan.tm_project, 2);
      EXPECT_EQ(plan.ksplit, 4);
      EXPECT_EQ(plan.k_per_split, 24);
      EXPECT_NE(plan.str(1).find("K/4"), std::string::npos) << plan.str(1);
    }
  }
  EXPECT_EQ(blocks, 16);
}

// The kernels compiled for fixed TMs (ir_block v2.8, tile_block v1.6), host only: every block
// of the batch-1 plan runs one (the cluster blocks at TM 2 / 2; the tile blocks at 4 / 2, 4 / 1
// and, without expand, 4 in the quads layout), and none where the plan's TMs or lane layout
// have no such kernel or the option turns it off.
TEST(CustomFixedTmKernels, BatchOnePlansRunThem) {
  const ModelSpec spec = mobilenet_v2();
  int cluster = 0, tiles = 0;
  for (const auto& [name, s] : default_block_shapes(spec, 1)) {
    custom::IrBlockForce mixed;  // the backend's default lane layout (quads at TM 2)
    mixed.gemm_layout = 2;
    const custom::IrBlockPlan p = custom::plan_ir_block(s, 132, 227 * 1024, 16, mixed);
    SCOPED_TRACE(name + ": " + p.str(1));
    ASSERT_TRUE(p.ok) << p.reason;
    EXPECT_EQ(p.fixed_tm, p.tm_expand == 2 && p.tm_project == 2);
    EXPECT_EQ(p.str(1).find("fixed tm") != std::string::npos, p.fixed_tm);
    cluster += p.fixed_tm;
    custom::IrBlockForce off = mixed;
    off.fixed_tm = false;
    EXPECT_FALSE(custom::plan_ir_block(s, 132, 227 * 1024, 16, off).fixed_tm);
    custom::IrBlockForce pairs = mixed;
    pairs.gemm_layout = 1;
    EXPECT_EQ(custom::plan_ir_block(s, 132, 227 * 1024, 16, pairs).fixed_tm, p.fixed_tm);
    custom::IrBlockForce rows = mixed;
    rows.gemm_layout = 0;  // lane rows at TM 2: no kernel compiled for it
    EXPECT_FALSE(custom::plan_ir_block(s, 132, 227 * 1024, 16, rows).fixed_tm);
    custom::IrBlockForce tm4 = mixed;
    tm4.tm_expand = 4;
    EXPECT_FALSE(custom::plan_ir_block(s, 132, 227 * 1024, 16, tm4).fixed_tm);
    if (s.ch >= 576) continue;  // the tile kernel refuses them
    const custom::TileBlockPlan t = custom::plan_tile_block(s, 132, 227 * 1024);
    ASSERT_TRUE(t.ok) << t.reason;
    const bool compiled = t.tm_expand == 4 && (t.tm_project == 2 || t.tm_project == 1);
    EXPECT_EQ(t.fixed_tm, compiled) << t.str(1);
    EXPECT_EQ(t.str(1).find("fixed tm") != std::string::npos, t.fixed_tm);
    EXPECT_FALSE(custom::plan_tile_block(s, 132, 227 * 1024, 0, 0, 0, 1, 4, false).fixed_tm);
    EXPECT_FALSE(custom::plan_tile_block(s, 132, 227 * 1024, 0, 0, 0, 0, 4, true).fixed_tm);  // lane rows
  }
  EXPECT_GE(cluster, 13);  // every block from 28x28 on (the batch-1 plan: TM 2 / 2 throughout)
  // The first block (no expand layer): the projection at TM 4.
  custom::IrBlockShape first;
  first.n = 1, first.h = first.w = first.oh = first.ow = 112, first.cin = first.ch = 32, first.cout = 16;
  first.expand = false;
  const custom::TileBlockPlan f = custom::plan_tile_block(first, 132, 227 * 1024);
  ASSERT_TRUE(f.ok) << f.reason;
  EXPECT_EQ(f.tm_project, 4);
  EXPECT_TRUE(f.fixed_tm) << f.str(1);
  // The batch-1 tile blocks 3-5, 6-8 (4 / 2) and 9-11 (4 / 1).
  for (const auto& [name, s] : default_block_shapes(spec, 1)) {
    if (s.h * s.w < 56 * 56) continue;
    const custom::TileBlockPlan t = custom::plan_tile_block(s, 132, 227 * 1024);
    EXPECT_TRUE(t.fixed_tm) << name << ": " << t.str(1);
    ++tiles;
  }
  EXPECT_EQ(tiles, 3);
  // Channel counts that are not multiples of 4: neither kernel has scalar paths in its fixed
  // build, so neither planner picks it (the same shapes at 32 channels do).
  for (int c : {30, 32}) {
    custom::IrBlockShape s;
    s.n = 1, s.h = s.w = s.oh = s.ow = 14, s.cin = c, s.ch = 6 * c, s.cout = c;
    custom::IrBlockForce mixed;
    mixed.gemm_layout = 2;
    const custom::IrBlockPlan p = custom::plan_ir_block(s, 132, 227 * 1024, 16, mixed);
    ASSERT_TRUE(p.ok) << p.reason;
    ASSERT_EQ(p.tm_expand, 2);
    ASSERT_EQ(p.tm_project, 2);
    EXPECT_EQ(p.fixed_tm, c % 4 == 0) << p.str(1);
    custom::IrBlockShape no_expand = first;
    no_expand.cin = no_expand.ch = c, no_expand.cout = c == 32 ? 16 : 15;
    const custom::TileBlockPlan t = custom::plan_tile_block(no_expand, 132, 227 * 1024);
    ASSERT_TRUE(t.ok) << t.reason;
    EXPECT_EQ(t.fixed_tm, c % 4 == 0 && t.tm_project == 4) << t.str(1);
  }
}

TEST(CustomTileBlockPlan, RefusesWhatTheKernelCannotRunAndHonoursForcedTiles) {
  custom::IrBlockShape s;
  s.n = 1, s.h = s.w = 56, s.cin = 24, s.ch = 144, s.oh = s.ow = 56, s.cout = 24, s.residual = true;
  const custom::TileBlockPlan p = custom::plan_tile_block(s, 132, 227 * 1024);
  ASSERT_TRUE(p.ok) << p.reason;
  const custom::TileBlockPlan tiny = custom::plan_tile_block(s, 132, 8 * 1024);
  EXPECT_FALSE(tiny.ok);
  EXPECT_NE(tiny.reason.find("shared memory"), std::string::npos) << tiny.reason;
  custom::IrBlockShape wrong = s;
  wrong.oh = 55;
  EXPECT_FALSE(custom::plan_tile_block(wrong, 132, 227 * 1024).ok);
  custom::IrBlockShape res = s;
  res.stride = 2, res.oh = res.ow = 28;
  const custom::TileBlockPlan strided = custom::plan_tile_block(res, 132, 227 * 1024);
  EXPECT_FALSE(strided.ok);
  EXPECT_NE(strided.reason.find("residual"), std::string::npos) << strided.reason;
  res.residual = false;
  EXPECT_TRUE(custom::plan_tile_block(res, 132, 227 * 1024).ok);
  // Forced tiles: taken as given, clamped to the output, partial tiles at the edges.
  const custom::TileBlockPlan f = custom::plan_tile_block(s, 132, 227 * 1024, 5, 3);
  ASSERT_TRUE(f.ok) << f.reason;
  EXPECT_EQ(f.th, 5);
  EXPECT_EQ(f.tw, 3);
  EXPECT_EQ(f.tiles_h, 12);  // 11 full tiles of 5 rows + 1 row
  EXPECT_EQ(f.tiles_w, 19);  // 18 full tiles of 3 columns + 2
  EXPECT_EQ(f.in_th, 7);
  EXPECT_EQ(f.in_tw, 5);
  EXPECT_NE(f.str(1).find("5x3 tile"), std::string::npos) << f.str(1);
  EXPECT_NE(f.str(1).find("[228 blocks"), std::string::npos) << f.str(1);
  // Forced K splits: 3 of K = 144 are 48 each; 16 of K = 30 clamp to 8 splits of 4 (the last
  // 2); 1 is none.
  const custom::TileBlockPlan k3 = custom::plan_tile_block(s, 132, 227 * 1024, 0, 0, 3);
  ASSERT_TRUE(k3.ok) << k3.reason;
  EXPECT_EQ(k3.ksplit, 3);
  EXPECT_EQ(k3.k_per_split, 48);
  EXPECT_EQ(custom::plan_tile_block(s, 132, 227 * 1024, 0, 0, 1).ksplit, 1);
  custom::IrBlockShape narrow = s;
  narrow.ch = 30;
  const custom::TileBlockPlan k16 = custom::plan_tile_block(narrow, 132, 227 * 1024, 0, 0, 16);
  ASSERT_TRUE(k16.ok) << k16.reason;
  EXPECT_EQ(k16.ksplit, 8);
  EXPECT_EQ(k16.k_per_split, 4);
  // The planner splits no K below 64: MobileNetV2's front block (depthwise 32 -> project 16
  // at 112x112, no expand) keeps K = 32 whole, but 2 splits forced are still 16 + 16.
  custom::IrBlockShape front;
  front.n = 1, front.h = front.w = front.oh = front.ow = 112, front.cin = front.ch = 32, front.cout = 16;
  front.expand = false;
  const custom::TileBlockPlan unsplit = custom::plan_tile_block(front, 132, 227 * 1024);
  ASSERT_TRUE(unsplit.ok) << unsplit.reason;
  EXPECT_EQ(unsplit.ksplit, 1) << unsplit.str(1);
  const custom::TileBlockPlan two = custom::plan_tile_block(front, 132, 227 * 1024, 0, 0, 2);
  ASSERT_TRUE(two.ok) << two.reason;
  EXPECT_EQ(two.ksplit, 2);
  EXPECT_EQ(two.k_per_split, 16);
  const custom::TileBlockPlan big = custom::plan_tile_block(s, 132, 227 * 1024, 100, 100);
  ASSERT_FALSE(big.ok);  // a 56x56 tile (58x58 window x 148 channels) does not fit
  custom::IrBlockShape small = s;
  small.h = small.w = small.oh = small.ow = 7;
  const custom::TileBlockPlan whole = custom::plan_tile_block(small, 132, 227 * 1024, 100, 100);
  ASSERT_TRUE(whole.ok) << whole.reason;
  EXPECT_EQ(whole.th, 7);
  EXPECT_EQ(whole.tiles_h * whole.tiles_w, 1);
  // MobileNetV2's first block (no expand layer): 112x112x32 -> depthwise -> 16 channels. The
  // cluster kernel refuses it; the tile kernel needs 112x112 / 132 SMs >= 96 pixels per tile.
  custom::IrBlockShape first;
  first.n = 1, first.h = first.w = first.oh = first.ow = 112, first.cin = first.ch = 32, first.cout = 16;
  first.expand = false;
  const custom::IrBlockPlan cluster = custom::plan_ir_block(first, 132, 227 * 1024, 16);
  EXPECT_FALSE(cluster.ok);
  EXPECT_NE(cluster.reason.find("expand"), std::string::npos) << cluster.reason;
  const custom::TileBlockPlan t = custom::plan_tile_block(first, 132, 227 * 1024);
  ASSERT_TRUE(t.ok) << t.reason;
  EXPECT_EQ(t.tm_expand, 0);
  EXPECT_GE(t.th * t.tw, 96);
  EXPECT_LE(t.tiles_h * t.tiles_w, 132);
  EXPECT_NE(t.str(1).find("no expand"), std::string::npos) << t.str(1);
  custom::IrBlockShape mismatch = first;
  mismatch.ch = 64;  // without an expand layer the depthwise runs on the input channels
  EXPECT_FALSE(custom::plan_tile_block(mismatch, 132, 227 * 1024).ok);
}

// The conv + pool planner (host only), worked by hand for MobileNetV2's last conv: 1280 / 4 =
// 320 output quads over 132 SMs -> 3 quads per block (107 blocks); 49 pixels x 3 quads = 147
// items -> 3 K splits in 512 threads.
// The stem planner (host only): its thread count never exceeds the kernel's launch bounds
// (512 for 1-pixel items, 256 for 2 and 4; a launch above them fails on the device), and the
// counts at MobileNetV2's own shapes, worked out by hand: 32 channels = 4 groups of 8; batch 1
// has 4-row tiles (7 x 28 = 196 blocks of 8 rows would be short of 2 per SM on 132 SMs),
// 4 x 32 pixels / ppt x 4 groups = 128 items at 4 px, 256 at 2, 512 at 1; width 1.4 (48
// channels, 6 groups) at 2 px has 384 items on 256 threads; batch 256 takes 8-row tiles.
TEST(CustomStemPlan, ThreadsWithinLaunchBounds) {
  custom::DirectConvArgs a;
  a.n = 1, a.h = a.w_in = 224, a.cin = 3, a.oh = a.ow = 112, a.cout = 32;
  struct Case { int n, cout, ppt, tile_h, threads; };
  for (const Case c : {Case{1, 32, 0, 4, 256}, Case{1, 32, 4, 4, 128}, Case{1, 32, 2, 4, 256},
                       Case{1, 32, 1, 4, 512}, Case{1, 48, 2, 4, 256}, Case{1, 48, 1, 4, 512},
                       Case{256, 32, 0, 8, 256}, Case{256, 32, 2, 8, 256}, Case{256, 32, 1, 8, 512},
                       Case{256, 48, 4, 8, 256}}) {
    a.n = c.n, a.cout = c.cout;
    const custom::DirectConvPlan p = custom::plan_direct_conv(a, 132, c.ppt);
    SCOPED_TRACE("batch " + std::to_string(c.n) + " cout " + std::to_string(c.cout) + " ppt " +
                 std::to_string(c.ppt) + ": " + p.str());
    EXPECT_TRUE(p.fast);
    EXPECT_EQ(p.tile_h, c.tile_h);
    EXPECT_EQ(p.threads, c.threads);
    EXPECT_LE(p.threads, p.ppt == 1 ? 512 : 256);
  }
}

TEST(CustomConvPoolPlan, LastConvAtBatch1And8) {
  custom::ConvPoolShape s;
  s.n = 1, s.hw = 49, s.k = 320, s.cout = 1280;
  const custom::ConvPoolPlan p = custom::plan_conv_pool(s, 132, 227 * 1024);
  ASSERT_TRUE(p.ok) << p.reason;
  EXPECT_EQ(p.quads, 3);
  EXPECT_EQ(p.slices, 107);
  EXPECT_EQ(p.splits, 3);
  // [49][324] input + [320][12] weights + [3][49][3] float4 partials
  EXPECT_EQ(p.smem_bytes, size_t(49 * 324 + 320 * 12 + 3 * 49 * 3 * 4) * sizeof(float));
  EXPECT_NE(p.str().find("3 quads, K / 3"), std::string::npos) << p.str();
  s.n = 8;  // 2560 quads: 20 per block, 16 blocks per image, 128 in all
  const custom::ConvPoolPlan p8 = custom::plan_conv_pool(s, 132, 227 * 1024);
  ASSERT_TRUE(p8.ok) << p8.reason;
  EXPECT_EQ(p8.quads, 20);
  EXPECT_EQ(p8.slices, 16);
  EXPECT_EQ(p8.splits, 1);  // 980 items already exceed 512 threads
  s.hw = 200;  // 200 x 324 floats of input do not fit
  const custom::ConvPoolPlan big = custom::plan_conv_pool(s, 132, 227 * 1024);
  EXPECT_FALSE(big.ok);
  EXPECT_NE(big.reason.find("shared memory"), std::string::npos) << big.reason;
}

}  // namespace
}  // namespace mbv2
