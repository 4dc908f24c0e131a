// The custom backend end to end: forward() against PyTorch's golden logits (coffee photo,
// and torchvision's own small BatchNorm model), against the FP64 reference for other widths,
// resolutions and batches, fused vs unfused vs PDL, batch 256 spot checks, and CUDA-graph
// capture + replay giving bit-identical logits (every kernel is deterministic). "Fused" runs
// force whole-block fusion (ir_block.cu) wherever it fits and check that it really ran.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/backend.h"
#include "common/device_memory.h"
#include "common/metrics.h"
#include "common/npy.h"
#include "common/reference.h"
#include "common/util.h"
#include "custom/custom_backend.h"
#include "custom/custom_options.h"
#include "test_support.h"

namespace mbv2 {
namespace {

using test::upload;

std::unique_ptr<Backend> prepared(const ModelSpec& spec, const ModelWeights& weights, int batch,
                                  const CustomOptions& options = {}) {
  std::unique_ptr<Backend> backend = make_custom_backend(options);
  backend->prepare(spec, weights, {batch, Precision::kFP32});
  return backend;
}

// forward() on an NHWC input; logits are NaN-poisoned first.
std::vector<float> run_forward(Backend& backend, const ModelSpec& spec, const HostTensor& input) {
  const int batch = input.shape.n;
  CudaStream stream;
  DeviceBuffer<float> d_in = upload(to_layout(input, Layout::kNHWC));
  DeviceBuffer<float> d_logits(size_t(batch) * spec.num_classes);
  fill_nan(d_logits.get(), d_logits.size(), stream.get());
  backend.forward(d_in.get(), d_logits.get(), stream.get());
  stream.synchronize();
  return d_logits.download();
}

void expect_matches_reference(const ModelSpec& spec, const ModelWeights& weights, int batch,
                              const CustomOptions& options, uint64_t seed) {
  SCOPED_TRACE(spec.str() + " batch " + std::to_string(batch) + " " + options.str());
  const HostTensor in = random_tensor(spec.input_shape(batch), Layout::kNHWC, seed);
  const ReferenceRun ref = reference_forward(spec, weights, in);
  std::unique_ptr<Backend> backend = prepared(spec, weights, batch, options);
  const std::vector<float> out = run_forward(*backend, spec, in);
  const Agreement a = compare(out.data(), ref.logits_f64.data(), out.size(),
                              network_tolerance(Precision::kFP32));
  EXPECT_TRUE(a.pass) << a.reason << " (rel-L2 " << a.rel_l2 << ") [" << backend->describe_forward()
                      << "]";
  const std::string d = backend->describe_forward();
  if (options.block_fusion == 1) {
    EXPECT_NE(d.find("inverted-residual blocks fused"), std::string::npos) << d;
  } else if (options.block_fusion == 0) {
    EXPECT_EQ(d.find("inverted-residual"), std::string::npos) << d;
  }
}

// on: depthwise+project, pool+classifier, whole-block and conv+pool fusion wherever they fit;
// off: none.
CustomOptions fusion(bool on, bool pdl = false) {
  CustomOptions o;
  o.fusion = on;
  o.block_fusion = on ? 1 : 0;
  o.conv_pool = on;
  o.pdl = pdl;
  return o;
}

// test::conv_layer as layer `index` of a chain: it reads layer index - 1.
Layer chain_conv(int index, int in_c, int out_c, int hw, int k, int stride, int groups,
                 Activation act, int residual_from = -1) {
  Layer l = test::conv_layer(in_c, out_c, hw, hw, k, stride, groups, act);
  l.index = index;
  l.name = "hand." + std::to_string(index);
  l.input_from = index - 1;
  l.residual_from = residual_from;
  return l;
}

// Appends global average pooling of the last layer's [hw x hw x channels] output and a
// linear classifier to `classes`.
void append_pool_classifier(ModelSpec& s, int channels, int hw, int classes) {
  const int last = int(s.layers.size()) - 1;
  Layer pool;
  pool.index = last + 1, pool.name = "pool", pool.kind = LayerKind::kGlobalAvgPool;
  pool.in_c = pool.out_c = channels, pool.in_h = pool.in_w = hw, pool.out_h = pool.out_w = 1;
  pool.input_from = last;
  s.layers.push_back(pool);
  Layer fc;
  fc.index = last + 2, fc.name = "fc", fc.kind = LayerKind::kLinear;
  fc.in_c = channels, fc.out_c = classes, fc.in_h = fc.in_w = fc.out_h = fc.out_w = 1;
  fc.input_from = last + 1;
  s.layers.push_back(fc);
  s.num_classes = classes;
}

// Inverted-residual blocks the spec builder never makes: hidden and output channel counts
// that are not multiples of 4 (so scalar input loads, padded slices, scalar stores), an odd
// 13x13 input, stride 2 on odd sizes (13 -> 7 -> 4), a residual, a block straight on the
// network input, and a 4x4 final map.
ModelSpec awkward_block_spec() {
  const Activation r6 = Activation::kRelu6, none = Activation::kNone;
  ModelSpec s;
  s.name = "awkward_blocks";
  s.resolution = 13;
  std::vector<Layer>& L = s.layers;
  L.push_back(chain_conv(0, 3, 30, 13, 1, 1, 1, r6));    // expand 3 -> 30 on the input
  L.push_back(chain_conv(1, 30, 30, 13, 3, 1, 30, r6));  // depthwise s1
  L.push_back(chain_conv(2, 30, 7, 13, 1, 1, 1, none));  // project 30 -> 7
  L.push_back(chain_conv(3, 7, 45, 13, 1, 1, 1, r6));
  L.push_back(chain_conv(4, 45, 45, 13, 3, 2, 45, r6));  // 13 -> 7
  L.push_back(chain_conv(5, 45, 10, 7, 1, 1, 1, none));
  L.push_back(chain_conv(6, 10, 22, 7, 1, 1, 1, r6));
  L.push_back(chain_conv(7, 22, 22, 7, 3, 1, 22, r6));
  L.push_back(chain_conv(8, 22, 10, 7, 1, 1, 1, none, 5));  // + residual
  L.push_back(chain_conv(9, 10, 61, 7, 1, 1, 1, r6));
  L.push_back(chain_conv(10, 61, 61, 7, 3, 2, 61, r6));  // 7 -> 4
  L.push_back(chain_conv(11, 61, 16, 4, 1, 1, 1, none));
  append_pool_classifier(s, 16, 4, 5);
  return s;
}

// Blocks without an expand layer (MobileNetV2's first block is depthwise -> project): a
// depthwise straight on the 3-channel input (scalar window staging, 3 of 4 padded channels),
// stride 2 on 13x13, 10 / 12 output channels (scalar and vector stores), a residual from the
// block's input.
ModelSpec dw_first_spec() {
  const Activation r6 = Activation::kRelu6, none = Activation::kNone;
  ModelSpec s;
  s.name = "dw_first_blocks";
  s.resolution = 13;
  std::vector<Layer>& L = s.layers;
  L.push_back(chain_conv(0, 3, 3, 13, 3, 1, 3, r6));     // depthwise on the input
  L.push_back(chain_conv(1, 3, 10, 13, 1, 1, 1, none));  // project 3 -> 10
  L.push_back(chain_conv(2, 10, 10, 13, 3, 2, 10, r6));  // 13 -> 7
  L.push_back(chain_conv(3, 10, 12, 7, 1, 1, 1, none));
  L.push_back(chain_conv(4, 12, 12, 7, 3, 1, 12, r6));
  L.push_back(chain_conv(5, 12, 12, 7, 1, 1, 1, none, 3));  // + the block's input
  append_pool_classifier(s, 12, 7, 5);
  return s;
}

TEST(CustomNetwork, CoffeeGoldenLogitsAndTop5) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec& spec = test::default_spec();
  const HostTensor input = read_npy_tensor(test::data_path("coffee_input.npy"), spec.input_shape(1));
  const NpyArray golden = read_npy(test::data_path("coffee_logits.npy"));
  ASSERT_EQ(golden.values.size(), size_t(spec.num_classes));
  std::vector<float> golden_f(golden.values.begin(), golden.values.end());
  for (int variant : {0, 1, 2}) {  // fused, fused with late projection weights, unfused
    const bool fused = variant < 2;
    SCOPED_TRACE(variant == 0 ? "fused" : variant == 1 ? "fused, late projection weights" : "unfused");
    CustomOptions o = fusion(fused);
    o.block_late_wp = variant == 1;
    std::unique_ptr<Backend> backend = prepared(spec, test::default_weights(), 1, o);
    if (variant == 1) {
      EXPECT_NE(backend->describe_forward().find("smem late"), std::string::npos)
          << backend->describe_forward();
    }
    if (variant == 0) {  // blocks 1-2, 3-5, 6-8 and 9-11 by output tiles, the rest as clusters
      EXPECT_NE(backend->describe_forward().find("17 inverted-residual blocks fused (4 by output tiles)"),
                std::string::npos)
          << backend->describe_forward();
      EXPECT_NE(backend->describe_forward().find("51+52 (1x1 conv + pool) fused"), std::string::npos)
          << backend->describe_forward();
    }
    const std::vector<float> out = run_forward(*backend, spec, input);
    const Agreement a = compare(out.data(), golden.values.data(), out.size(),
                                network_tolerance(Precision::kFP32));
    EXPECT_TRUE(a.pass) << a.reason << " (rel-L2 " << a.rel_l2 << ")";
    EXPECT_LE(a.rel_l2, 1e-4);
    EXPECT_EQ(top_k(out.data(), spec.num_classes, 5), top_k(golden_f.data(), spec.num_classes, 5));
  }
}

// torchvision's own MobileNetV2 (width 0.25, 10 classes, unfolded BatchNorm) on 64x64 inputs.
TEST(CustomNetwork, SmallTorchvisionModelGoldenLogits) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = mobilenet_v2(0.25, 64, 10);
  const ModelWeights weights =
      load_weights(spec, test::data_path("testdata/mbv2_w025_c10_bn.safetensors"));
  const HostTensor input =
      read_npy_tensor(test::data_path("testdata/mbv2_w025_c10_input.npy"), spec.input_shape(2));
  const NpyArray golden = read_npy(test::data_path("testdata/mbv2_w025_c10_logits.npy"));
  ASSERT_EQ(golden.values.size(), size_t(2 * spec.num_classes));
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "unfused");
    std::unique_ptr<Backend> backend = prepared(spec, weights, 2, fusion(fused));
    const std::vector<float> out = run_forward(*backend, spec, input);
    const Agreement a = compare(out.data(), golden.values.data(), out.size(),
                                network_tolerance(Precision::kFP32));
    EXPECT_TRUE(a.pass) << a.reason << " (rel-L2 " << a.rel_l2 << ")";
  }
}

TEST(CustomNetwork, FusedBlocksOnAwkwardShapes) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = awkward_block_spec();
  const ModelWeights weights = synthetic_weights(spec, 71);
  for (int batch : {1, 3, 32}) {
    for (bool pdl : {false, true}) expect_matches_reference(spec, weights, batch, fusion(true, pdl), 72);
    CustomOptions wide = fusion(true, true);
    wide.block_slices = 16;  // clusters of 8, 12 and 16 blocks of 4 hidden channels
    expect_matches_reference(spec, weights, batch, wide, 75);
    CustomOptions early = wide;  // projection weights staged with the others (not the default)
    early.block_late_wp = false;
    expect_matches_reference(spec, weights, batch, early, 76);
    std::unique_ptr<Backend> backend = prepared(spec, weights, batch, fusion(true));
    const std::string d = backend->describe_forward();
    EXPECT_NE(d.find("4 inverted-residual blocks fused"), std::string::npos) << d;
  }
  expect_matches_reference(spec, weights, 3, fusion(false), 72);
}

// The tile kernel (one block per output tile, every hidden channel) on the awkward chain:
// 3 input channels (scalar staging), 30 / 45 / 61 hidden and 7 / 10 outputs (scalar
// stores), stride 2 on 13 and 7, a residual; planner tiles, forced tiles that leave partial
// tiles at the right and bottom edges (3x5, 2x3), 1x1 tiles and one tile larger than the
// image; mixed with cluster blocks; with and without PDL.
TEST(CustomNetwork, TileBlocksOnAwkwardShapes) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = awkward_block_spec();
  const ModelWeights weights = synthetic_weights(spec, 91);
  for (int batch : {1, 3, 32}) {
    CustomOptions o = fusion(true, batch != 3);
    o.tile_block_px = 1;  // every block by tiles
    expect_matches_reference(spec, weights, batch, o, 92);
    std::unique_ptr<Backend> backend = prepared(spec, weights, batch, o);
    const std::string d = backend->describe_forward();
    EXPECT_NE(d.find("4 inverted-residual blocks fused (4 by output tiles)"), std::string::npos) << d;
    const std::pair<int, int> tiles[] = {{3, 5}, {2, 3}, {1, 1}, {16, 16}};
    for (auto [th, tw] : tiles) {
      CustomOptions f = o;
      f.tile_block_th = th, f.tile_block_tw = tw;
      expect_matches_reference(spec, weights, batch, f, 93);
    }
    // The projection without K split and with uneven splits (hidden 30 / 45 / 22 / 61 in 3:
    // 12+12+6, 16+16+13, 8+8+6, 24+24+13).
    for (int ks : {1, 3}) {
      CustomOptions k = o;
      k.tile_ksplit = ks;
      expect_matches_reference(spec, weights, batch, k, 99);
    }
    // The 13x13 blocks by tiles, the 7x7 ones as clusters.
    CustomOptions mixed = fusion(true, true);
    mixed.tile_block_px = batch * 13 * 13;
    expect_matches_reference(spec, weights, batch, mixed, 94);
    std::unique_ptr<Backend> m = prepared(spec, weights, batch, mixed);
    EXPECT_NE(m->describe_forward().find("(2 by output tiles)"), std::string::npos) << m->describe_forward();
  }
}

// The fused and tile kernels' two GEMM lane layouts (smem_gemm.cuh v1 lane rows, v2 2 x 2
// quads): each output is one thread's sum over k in the same order in both, so the logits
// must be bit-identical, on MobileNetV2's own batch-1 plan (tile and cluster blocks) and on
// the awkward chain at batch 3 with every TM, clusters and tiles (K split off: its split count
// follows the tile count), with the TM picks of both estimates (2 and 4 cycles per shared load).
TEST(CustomNetwork, GemmLaneLayoutsAreBitIdentical) {
  MBV2_SKIP_WITHOUT_GPU();
  struct Case {
    const ModelSpec* spec;
    const ModelWeights* weights;
    int batch;
    CustomOptions o;
  };
  const ModelSpec awkward = awkward_block_spec();
  const ModelWeights awkward_w = synthetic_weights(awkward, 101);
  std::vector<Case> cases;
  cases.push_back({&test::default_spec(), &test::default_weights(), 1, CustomOptions{}});
  for (int tm : {1, 2, 4}) {
    CustomOptions c = fusion(true, true);
    c.block_tm_expand = c.block_tm_project = tm;
    cases.push_back({&awkward, &awkward_w, 3, c});
    CustomOptions t = c;
    t.tile_block_px = 1, t.tile_ksplit = 1;
    t.tile_block_th = 2, t.tile_block_tw = 3;
    cases.push_back({&awkward, &awkward_w, 3, t});
  }
  for (const Case& c : cases) {
    const HostTensor in = random_tensor(c.spec->input_shape(c.batch), Layout::kNHWC, 102);
    for (int lds : {4, 2}) {  // the same TM picks in every layout
      std::vector<float> first;
      for (int layout : {0, 1, 2}) {  // rows, pairs, mixed
        CustomOptions o = c.o;
        o.block_gemm_layout = o.tile_gemm_layout = layout;
        o.block_tm_lds = o.tile_tm_lds = lds;
        SCOPED_TRACE(c.spec->str() + " batch " + std::to_string(c.batch) + " " + o.str());
        std::unique_ptr<Backend> b = prepared(*c.spec, *c.weights, c.batch, o);
        const std::string d = b->describe_forward();
        EXPECT_EQ(d.find("pairs, wp") != std::string::npos, layout == 1) << d;
        EXPECT_EQ(d.find("mixed, wp") != std::string::npos, layout == 2) << d;
        const std::vector<float> y = run_forward(*b, *c.spec, in);
        if (layout == 0) {
          first = y;
          expect_matches_reference(*c.spec, *c.weights, c.batch, o, 103);
          continue;
        }
        ASSERT_EQ(y.size(), first.size());
        size_t mismatches = 0;
        for (size_t i = 0; i < y.size(); ++i) mismatches += !(y[i] == first[i]);
        EXPECT_EQ(mismatches, 0u);
      }
    }
  }
}

// The kernels compiled for fixed TMs (ir_block v2.8 / v2.10, tile_block v1.6 / v1.8) run the
// same arithmetic as the ones that pick TM at run time: bit-identical logits on MobileNetV2's
// batch-1 plan (every fused block runs one) and at batch 3 with TM 2 forced in the cluster
// blocks; the awkward chain (channel counts not multiples of 4) never runs them, since they
// have no scalar paths.
TEST(CustomNetwork, FixedTmKernelsAreBitIdentical) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec awkward = awkward_block_spec();
  const ModelWeights awkward_w = synthetic_weights(awkward, 111);
  CustomOptions tm2 = fusion(true, true);
  tm2.block_tm_expand = tm2.block_tm_project = 2;
  struct Case {
    const ModelSpec* spec;
    const ModelWeights* weights;
    int batch;
    CustomOptions o;
    int fixed;  // fused blocks that must run a fixed-TM kernel (-1: at least 10)
  };
  for (const Case& c : {Case{&test::default_spec(), &test::default_weights(), 1, CustomOptions{}, 17},
                        Case{&test::default_spec(), &test::default_weights(), 3, tm2, -1},
                        Case{&awkward, &awkward_w, 3, tm2, 0}}) {
    const HostTensor in = random_tensor(c.spec->input_shape(c.batch), Layout::kNHWC, 112);
    CustomOptions runtime = c.o;
    runtime.block_fixed_tm = runtime.tile_fixed_tm = false;
    std::unique_ptr<Backend> fixed = prepared(*c.spec, *c.weights, c.batch, c.o);
    std::unique_ptr<Backend> general = prepared(*c.spec, *c.weights, c.batch, runtime);
    const std::string d = fixed->describe_forward();
    size_t n = 0;
    for (size_t at = d.find("fixed tm"); at != std::string::npos; at = d.find("fixed tm", at + 1)) ++n;
    if (c.fixed >= 0)
      EXPECT_EQ(n, size_t(c.fixed)) << d;
    else
      EXPECT_GE(n, 10u) << d;  // every cluster block at batch 3
    EXPECT_EQ(general->describe_forward().find("fixed tm"), std::string::npos) << general->describe_forward();
    const std::vector<float> a = run_forward(*fixed, *c.spec, in), b = run_forward(*general, *c.spec, in);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
    expect_matches_reference(*c.spec, *c.weights, c.batch, c.o, 112);
  }
}

// The tile kernel without expand layer, planner and forced tiles; with tile blocks off, the
// same chain runs unfused (the cluster kernel needs an expand layer).
TEST(CustomNetwork, TileBlocksWithoutExpandLayer) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = dw_first_spec();
  const ModelWeights weights = synthetic_weights(spec, 95);
  for (int batch : {1, 3, 32}) {
    CustomOptions o = fusion(true, batch != 3);
    o.tile_block_px = 1;
    expect_matches_reference(spec, weights, batch, o, 96);
    std::unique_ptr<Backend> backend = prepared(spec, weights, batch, o);
    const std::string d = backend->describe_forward();
    EXPECT_NE(d.find("3 inverted-residual blocks fused (3 by output tiles)"), std::string::npos) << d;
    EXPECT_NE(d.find("no expand"), std::string::npos) << d;
    const std::pair<int, int> tiles[] = {{2, 3}, {1, 1}, {16, 16}};
    for (auto [th, tw] : tiles) {
      CustomOptions f = o;
      f.tile_block_th = th, f.tile_block_tw = tw;
      f.tile_ksplit = th == 1 ? 2 : 0;  // K 10 / 12 in 2 splits (8 + 2, 8 + 4)
      expect_matches_reference(spec, weights, batch, f, 97);
    }
  }
  // Without the pairs (or without tile blocks) no block runs without its expand layer; layers
  // 1-3 (3 -> 10 1x1, depthwise, 10 -> 12 1x1) are then an ordinary block for the cluster
  // kernel.
  CustomOptions no_pairs = fusion(true, true);
  no_pairs.tile_dw_project = false;
  CustomOptions off = fusion(true, true);
  off.tile_block_px = 0;
  for (const CustomOptions& o : {no_pairs, off}) {
    std::unique_ptr<Backend> b = prepared(spec, weights, 3, o);
    EXPECT_EQ(b->describe_forward().find("no expand"), std::string::npos) << b->describe_forward();
    EXPECT_NE(b->describe_forward().find("1-3=ir_block"), std::string::npos) << b->describe_forward();
    expect_matches_reference(spec, weights, 3, o, 98);
  }
}

// A 1x1 conv (+ ReLU6 or not) and the global average pool: K = 3 (scalar staging) and 40,
// 13 and 600 output channels (scalar stores, partial last slice, several slices per wave),
// 7x7 and 5x5 pixels; fused up to batch 8, unfused at 9.
ModelSpec conv_pool_spec(int k, int cout, int hw, Activation act) {
  ModelSpec s;
  s.name = "conv_pool";
  s.resolution = hw;
  if (k != 3) s.layers.push_back(chain_conv(0, 3, k, hw, 1, 1, 1, Activation::kRelu6));  // 3 -> K
  const int i = int(s.layers.size());
  s.layers.push_back(chain_conv(i, k, cout, hw, 1, 1, 1, act));
  append_pool_classifier(s, cout, hw, 5);
  return s;
}

TEST(CustomNetwork, ConvPoolOnAwkwardShapes) {
  MBV2_SKIP_WITHOUT_GPU();
  struct Case { int k, cout, hw; Activation act; };
  const Case cases[] = {{3, 13, 7, Activation::kRelu6}, {40, 600, 5, Activation::kNone}, {40, 13, 7, Activation::kRelu6}};
  for (const Case& c : cases) {
    const ModelSpec shaped = conv_pool_spec(c.k, c.cout, c.hw, c.act);
    const ModelWeights weights = synthetic_weights(shaped, 101);
    for (int batch : {1, 3, 8, 9}) {
      CustomOptions o = fusion(true, batch != 3);
      o.block_fusion = -1;  // (no block here; expect_matches_reference asserts one for 1)
      expect_matches_reference(shaped, weights, batch, o, 102);
      std::unique_ptr<Backend> b = prepared(shaped, weights, batch, o);
      const bool fused = b->describe_forward().find("(1x1 conv + pool) fused") != std::string::npos;
      EXPECT_EQ(fused, batch <= 8) << b->describe_forward();
    }
    CustomOptions off = fusion(true, true);
    off.conv_pool = false;
    std::unique_ptr<Backend> b = prepared(shaped, weights, 3, off);
    EXPECT_EQ(b->describe_forward().find("conv + pool"), std::string::npos) << b->describe_forward();
  }
}

// For compute-sanitizer (scripts/gpu_session.sh): the block kernel on the awkward chain,
// with and without PDL, scalar and vector paths, 1 and 3 images.
TEST(CustomSanitize, FusedBlocksAwkwardOnce) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec spec = awkward_block_spec();
  const ModelWeights weights = synthetic_weights(spec, 73);
  for (int batch : {1, 3}) {
    CustomOptions o = fusion(true, batch == 3);
    o.block_slices = batch == 3 ? 16 : 0;  // non-portable clusters of up to 16 blocks
    o.block_late_wp = false;
    o.block_gemm_layout = batch == 3 ? 1 : 0;  // every GEMM lane layout (smem_gemm.cuh)
    expect_matches_reference(spec, weights, batch, o, 74);
    o.block_gemm_layout = 2;
    o.block_late_wp = true;
    expect_matches_reference(spec, weights, batch, o, 77);
    CustomOptions tm2 = o;  // the cluster kernel compiled for TM 2 (ir_block v2.8)
    tm2.block_tm_expand = tm2.block_tm_project = 2;
    expect_matches_reference(spec, weights, batch, tm2, 82);
    o.tile_block_px = 1;  // the tile kernel on every block
    o.tile_block_th = batch == 3 ? 2 : 0, o.tile_block_tw = batch == 3 ? 3 : 0;
    o.tile_ksplit = batch == 3 ? 3 : 0;  // uneven K splits of the projection; the planner's at 1
    expect_matches_reference(spec, weights, batch, o, 78);
    o.tile_gemm_layout = batch == 3 ? 0 : 2;
    expect_matches_reference(spec, weights, batch, o, 81);
    o.tile_gemm_layout = 1;
    expect_matches_reference(dw_first_spec(), synthetic_weights(dw_first_spec(), 79), batch, o, 79);
    const ModelSpec cp = conv_pool_spec(40, 600, 5, Activation::kRelu6);
    CustomOptions cpo = o;
    cpo.block_fusion = -1, cpo.conv_pool = true;
    expect_matches_reference(cp, synthetic_weights(cp, 80), batch, cpo, 80);
  }
}

// For compute-sanitizer: MobileNetV2's own batch-1 forward, whose plan runs every kernel
// compiled for fixed TMs (the tile kernel's 4 / 2, 4 / 1 and no-expand 4; the cluster
// kernel's 2 / 2), which the awkward chain does not reach.
TEST(CustomSanitize, DefaultModelBatch1Once) {
  MBV2_SKIP_WITHOUT_GPU();
  expect_matches_reference(test::default_spec(), test::default_weights(), 1, CustomOptions(), 113);
}

// A block whose residual is not its own input runs as three kernels (the block kernel adds
// only its staged input rows); the blocks around it still fuse, and the logits match.
TEST(CustomNetwork, BlockWithAnotherResidualRunsUnfused) {
  MBV2_SKIP_WITHOUT_GPU();
  const Activation r6 = Activation::kRelu6, none = Activation::kNone;
  ModelSpec s;
  s.name = "foreign_residual";
  s.resolution = 9;
  std::vector<Layer>& L = s.layers;
  L.push_back(chain_conv(0, 3, 24, 9, 1, 1, 1, r6));
  L.push_back(chain_conv(1, 24, 24, 9, 3, 1, 24, r6));
  L.push_back(chain_conv(2, 24, 8, 9, 1, 1, 1, none));
  L.push_back(chain_conv(3, 8, 32, 9, 1, 1, 1, r6));
  L.push_back(chain_conv(4, 32, 32, 9, 3, 1, 32, r6));
  L.push_back(chain_conv(5, 32, 8, 9, 1, 1, 1, none, 2));  // + its own input: fused
  L.push_back(chain_conv(6, 8, 32, 9, 1, 1, 1, r6));
  L.push_back(chain_conv(7, 32, 32, 9, 3, 1, 32, r6));
  L.push_back(chain_conv(8, 32, 8, 9, 1, 1, 1, none, 2));  // + layer 2, not its input (5)
  append_pool_classifier(s, 8, 9, 6);
  const ModelWeights weights = synthetic_weights(s, 91);
  for (int batch : {1, 3}) {
    expect_matches_reference(s, weights, batch, fusion(true, true), 92);
    std::unique_ptr<Backend> backend = prepared(s, weights, batch, fusion(true));
    const std::string d = backend->describe_forward();
    EXPECT_NE(d.find("2 inverted-residual blocks fused"), std::string::npos) << d;
    EXPECT_EQ(d.find(" 6-8="), std::string::npos) << d;
  }
}

// The phase trace (tools/mbv2_ir_trace) stamps every fused block without changing a bit of
// the logits, and reports one row per fused block with positive spans and phases that add up
// to no more than the span.
TEST(CustomNetwork, TraceCoversEveryFusedBlockAndChangesNothing) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec& spec = test::default_spec();
  const HostTensor in = random_tensor(spec.input_shape(1), Layout::kNHWC, 83);
  std::vector<float> logits[2];
  std::string report;
  for (bool trace : {false, true}) {
    CustomOptions o;
    o.trace = trace;
    std::unique_ptr<Backend> b = prepared(spec, test::default_weights(), 1, o);
    logits[trace] = run_forward(*b, spec, in);
    if (trace) {
      report = custom_trace_report(*b);
    } else {
      EXPECT_THROW(custom_trace_report(*b), InputError);
    }
  }
  EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * sizeof(float)), 0);
  // Two tables, cluster blocks then tile blocks; in each a header, a separator, then one row
  // per fused block: "| 12-14 | 112 | <span> | <skew> | <gap> | <8 or 6 phases> |", as many
  // rows as describe_forward() lists blocks of that kernel, with its thread-block count.
  std::unique_ptr<Backend> plain = prepared(spec, test::default_weights(), 1, CustomOptions());
  const std::string d = plain->describe_forward();
  auto count = [&](const std::string& what) {
    int c = 0;
    for (size_t at = d.find(what); at != std::string::npos; at = d.find(what, at + 1)) ++c;
    return c;
  };
  const int cluster_blocks = count("=ir_block<"), tile_blocks = count("=tile_block<");
  EXPECT_GE(cluster_blocks, 10) << d;
  EXPECT_GE(tile_blocks, 1) << d;
  std::istringstream lines(report);
  std::string line;
  int rows[2] = {0, 0}, table = -1;
  while (std::getline(lines, line)) {
    if (line.empty() || line.rfind("|---", 0) == 0) continue;
    if (line.rfind("| block ", 0) == 0 || line.rfind("| tile block ", 0) == 0) {
      table = line.rfind("| tile", 0) == 0 ? 1 : 0;
      continue;
    }
    ASSERT_GE(table, 0) << line;
    ++rows[table];
    std::vector<std::string> cells;
    std::istringstream cs(line);
    for (std::string cell; std::getline(cs, cell, '|');) cells.push_back(cell);
    ASSERT_EQ(cells.size(), size_t(1 + 5 + (table == 0 ? 8 : 6))) << line;  // leading empty cell
    const std::string range = cells[1].substr(1, cells[1].size() - 2);  // " 12-14 " -> "12-14"
    const size_t at = d.find(" " + range + "=");
    ASSERT_NE(at, std::string::npos) << range << " in " << d;
    const size_t open = d.find('[', at);
    ASSERT_NE(open, std::string::npos) << d;
    EXPECT_EQ(std::stoi(cells[2]), std::stoi(d.substr(open + 1))) << line;  // "[112 blocks"
    const double span = std::stod(cells[3]);
    EXPECT_GT(span, 0.0) << line;
    double phases = 0.0;
    for (size_t k = 6; k < cells.size(); ++k) {
      EXPECT_GE(std::stod(cells[k]), 0.0) << line;
      phases += std::stod(cells[k]);
    }
    EXPECT_GT(phases, 0.0) << line;
    EXPECT_LT(phases, span * 1.5) << line;  // per-block means within the kernel's span
  }
  EXPECT_EQ(rows[0], cluster_blocks) << report;
  EXPECT_EQ(rows[1], tile_blocks) << report;
}

// Default options: whole blocks fused at batch 1 (auto), not at batch 256.
TEST(CustomNetwork, AutoBlockFusionFollowsBatch) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec& spec = test::default_spec();
  const ModelWeights& weights = test::default_weights();
  std::unique_ptr<Backend> b1 = prepared(spec, weights, 1);
  EXPECT_NE(b1->describe_forward().find("inverted-residual blocks fused"), std::string::npos)
      << b1->describe_forward();
  expect_matches_reference(spec, weights, 1, CustomOptions(), 81);
  std::unique_ptr<Backend> b256 = prepared(spec, weights, 256);
  EXPECT_EQ(b256->describe_forward().find("inverted-residual"), std::string::npos)
      << b256->describe_forward();
  EXPECT_EQ(b256->describe_forward().find("conv + pool"), std::string::npos) << b256->describe_forward();
}

TEST(CustomNetwork, DefaultModelBatch3FusedUnfusedPdl) {
  MBV2_SKIP_WITHOUT_GPU();
  for (int variant = 0; variant < 3; ++variant)
    expect_matches_reference(test::default_spec(), test::default_weights(), 3,
                             fusion(variant != 1, variant == 2), 31);
}

TEST(CustomNetwork, OtherWidthsAndResolutions) {
  MBV2_SKIP_WITHOUT_GPU();
  struct Case { double width; int resolution; int batch; };
  const Case cases[] = {{0.75, 224, 3}, {1.4, 224, 1}, {1.0, 244, 3}, {0.35, 96, 3}, {0.5, 160, 9}};
  for (const Case& c : cases) {
    const ModelSpec spec = mobilenet_v2(c.width, c.resolution, 1000);
    const ModelWeights weights = synthetic_weights(spec, 40);
    for (bool fused : {true, false}) expect_matches_reference(spec, weights, c.batch, fusion(fused), 41);
  }
}

// Batch 256 runs the large-batch tiles; the reference checks three sampled images.
TEST(CustomNetwork, Batch256MatchesReferenceOnSampledImages) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec& spec = test::default_spec();
  const HostTensor in = random_tensor(spec.input_shape(256), Layout::kNHWC, 51);
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "unfused");
    std::unique_ptr<Backend> backend = prepared(spec, test::default_weights(), 256, fusion(fused));
    const std::vector<float> out = run_forward(*backend, spec, in);
    for (int image : {0, 131, 255}) {
      const ReferenceRun ref = reference_forward(spec, test::default_weights(), slice_batch(in, image, 1));
      const Agreement a = compare(out.data() + size_t(image) * spec.num_classes,
                                  ref.logits_f64.data(), size_t(spec.num_classes),
                                  network_tolerance(Precision::kFP32));
      EXPECT_TRUE(a.pass) << "image " << image << ": " << a.reason << " (rel-L2 " << a.rel_l2 << ")";
    }
  }
}

// Captured into a CUDA graph and replayed, forward() gives exactly the eager logits, twice.
TEST(CustomNetwork, GraphReplayIsBitIdentical) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec& spec = test::default_spec();
  for (int variant = 0; variant < 3; ++variant) {
    for (int batch : {1, 4}) {
      const CustomOptions o = fusion(variant != 1, variant == 2);
      SCOPED_TRACE("batch " + std::to_string(batch) + " " + o.str());
      const HostTensor in = random_tensor(spec.input_shape(batch), Layout::kNHWC, 61);
      std::unique_ptr<Backend> backend = prepared(spec, test::default_weights(), batch, o);
      const std::vector<float> eager = run_forward(*backend, spec, in);

      CudaStream stream;
      DeviceBuffer<float> d_in = upload(in), d_logits(eager.size());
      CudaGraph graph;
      graph.capture(stream.get(),
                    [&](cudaStream_t s) { backend->forward(d_in.get(), d_logits.get(), s); });
      for (int replay = 0; replay < 2; ++replay) {
        fill_nan(d_logits.get(), d_logits.size(), stream.get());
        graph.launch(stream.get());
        stream.synchronize();
        const std::vector<float> out = d_logits.download();
        ASSERT_EQ(out.size(), eager.size());
        size_t mismatches = 0;
        for (size_t i = 0; i < out.size(); ++i) mismatches += !(out[i] == eager[i]);
        EXPECT_EQ(mismatches, 0u) << "replay " << replay;
      }
    }
  }
}

}  // namespace
}  // namespace mbv2
