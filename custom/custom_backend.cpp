// The custom backend: wires the kernels of custom/ behind the layer interface.
//
// Versions:
//   v1  run_layer(): one kernel per layer, never fused across layers (stem: direct conv;
//       1x1: tiled GEMM with fused epilogue and split-K; depthwise: register-tiled NHWC;
//       pool; classifier as GEMV at batch <= 8, else GEMM).
//       forward(): the same kernels chained on internal buffers (liveness-based reuse),
//       plus, with MBV2_CUSTOM_FUSION=1 (default), depthwise+project fused (17 launches fewer)
//       and pool+classifier fused at batch <= 8; optional programmatic dependent launch
//       (MBV2_CUSTOM_PDL=1). Everything is planned and allocated in prepare().
//   v2  forward(): whole inverted-residual blocks (expand + depthwise + project) as one
//       cluster kernel (ir_block.cu) at small batch (MBV2_CUSTOM_BLOCK_FUSION, default auto).
//   v3  forward(): the large-spatial blocks at small batch as one kernel per 2-D output tile
//       holding every hidden channel (tile_block.cu; MBV2_CUSTOM_TILE_BLOCK), and the last
//       1x1 conv + pool as one kernel at batch <= 8 (conv_pool.cu; MBV2_CUSTOM_CONV_POOL, off
//       by default: measured slower).
#include "custom/custom_backend.h"

#include <algorithm>
#include <iomanip>
#include <optional>
#include <sstream>

#include "common/device_memory.h"
#include "common/util.h"
#include "custom/conv_pool.h"
#include "custom/custom_options.h"
#include "custom/fused_block.h"
#include "custom/gemm_plan.h"
#include "custom/ir_block.h"
#include "custom/layer_ops.h"
#include "custom/pool_classifier.h"
#include "custom/tile_block.h"

namespace mbv2 {

namespace {

using custom::GemmPlan;
using custom::GemmPlanRequest;
using custom::LayerKernel;
using custom::LayerOp;
using custom::layer_label;

enum class StepKind { kLayer, kDwProject, kPoolClassifier, kIrBlock, kTileBlock, kConvPool };

// One launch of forward(). Values are named by the layer that produces them; -1 is the
// network input, -2 "none".
struct Step {
  StepKind kind = StepKind::kLayer;
  int first = 0, last = 0;  // layers covered
  int in = -1, res = -2;
  GemmPlan plan;            // kDwProject
  custom::IrBlockShape block;     // kIrBlock, kTileBlock
  custom::IrBlockPlan block_plan;  // kIrBlock
  custom::TileBlockPlan tile_plan;  // kTileBlock
  custom::ConvPoolShape conv_pool;  // kConvPool
  custom::ConvPoolPlan conv_pool_plan;  // kConvPool
  size_t trace_offset = 0;         // kIrBlock / kTileBlock with options.trace: first word in trace_

  /// A fused step of kind `k` over layers first..last that reads value `input`; its kernel
  /// reads any residual from that input itself (res -2).
  void cover(StepKind k, int first_layer, int last_layer, int input) {
    kind = k, first = first_layer, last = last_layer, in = input, res = -2;
  }
};

class CustomBackend final : public Backend {
 public:
  explicit CustomBackend(std::optional<CustomOptions> options) : explicit_options_(std::move(options)) {}

  std::string name() const override { return "custom"; }
  Layout layout() const override { return Layout::kNHWC; }

  Support supports(const Layer& layer, const RunConfig& config) const override {
    LayerOp op;
    return custom::classify_layer(layer, config, &op);
  }

  void prepare(const ModelSpec& spec, const ModelWeights& weights, const RunConfig& config) override {
    release();
    options_ = explicit_options_ ? *explicit_options_ : CustomOptions::from_env();
    if (config.batch < 1) throw InputError("custom: batch must be at least 1");
    if (weights.layers.size() != spec.layers.size())
      throw InputError("custom: weights have " + std::to_string(weights.layers.size()) +
                       " layers, the model has " + std::to_string(spec.layers.size()));
    spec_ = spec;
    config_ = config;
    int device = 0;
    MBV2_CUDA_CHECK(cudaGetDevice(&device));
    MBV2_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device));
    MBV2_CUDA_CHECK(cudaDeviceGetAttribute(&smem_optin_, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));

    layers_.clear();
    layers_.reserve(spec_.layers.size());
    for (size_t i = 0; i < spec_.layers.size(); ++i)
      layers_.push_back(
          custom::prepare_layer_kernel(spec_.layers[i], weights.layers[i], config_, plan_context()));
    build_forward();

    size_t ws = 0;
    int counters = 0;
    for (const LayerKernel& s : layers_) {
      ws = std::max(ws, s.gemm.workspace_floats());
      counters = std::max(counters, s.gemm.counters());
    }
    for (const Step& st : steps_) {
      ws = std::max(ws, st.plan.workspace_floats());
      counters = std::max(counters, st.plan.counters());
      if (st.kind == StepKind::kPoolClassifier) {
        const custom::PoolClassifierShape shape = pool_classifier_shape(st);
        ws = std::max(ws, custom::pool_classifier_workspace_floats(shape));
        counters = std::max(counters, custom::pool_classifier_counters(shape));
      }
    }
    if (ws) workspace_.allocate(ws);
    if (options_.trace) {
      size_t words = 0;
      for (Step& st : steps_)
        if (st.kind == StepKind::kIrBlock || st.kind == StepKind::kTileBlock) {
          st.trace_offset = words;
          words += traced_blocks(st) * custom::kIrTraceWords;
        }
      if (words) {
        trace_.allocate(words);
        MBV2_CUDA_CHECK(cudaMemset(trace_.get(), 0, trace_.bytes()));
      }
    }
    if (counters) {
      counters_.allocate(size_t(counters));
      MBV2_CUDA_CHECK(cudaMemset(counters_.get(), 0, counters_.bytes()));
    }
    // Poison internal activations once: a step that forgot part of its output then shows
    // up as NaN logits instead of stale, plausible numbers.
    for (DeviceBuffer<float>& b : buffers_) fill_nan(b.get(), b.size(), nullptr);
    MBV2_CUDA_CHECK(cudaDeviceSynchronize());
    prepared_ = true;
  }

  void run_layer(int i, const float* input, const float* residual, float* output,
                 cudaStream_t stream) override {
    const Layer& l = checked_layer(i);
    if (!input || !output) throw InputError("custom: " + layer_label(l) + ": null input or output");
    if (l.has_residual() && !residual)
      throw InputError("custom: " + layer_label(l) + " needs its residual input");
    run_op(i, input, l.has_residual() ? residual : nullptr, output, stream, false);
  }

  void forward(const float* input, float* logits, cudaStream_t stream) override {
    if (!prepared_) throw InputError("custom: forward() before prepare()");
    if (!forward_support_.supported) throw NotSupportedError("custom forward: " + forward_support_.reason);
    if (!input || !logits) throw InputError("custom: forward() with a null input or logits pointer");
    for (size_t s = 0; s < steps_.size(); ++s)
      run_step(steps_[s], input, logits, stream, options_.pdl && s > 0);
  }

  LayerDescription describe(int i) const override {
    LayerDescription d;
    if (!prepared_ || i < 0 || size_t(i) >= layers_.size()) {
      d.support = Support::no("not prepared");
      return d;
    }
    const LayerKernel& s = layers_[size_t(i)];
    d.support = s.support;
    d.kernel = s.kernel;
    d.details = s.details;
    d.fused_epilogue = true;
    d.workspace_bytes = s.gemm.workspace_floats() * sizeof(float);
    return d;
  }

  std::string describe_forward() const override { return forward_description_; }

 private:
  void release() {
    prepared_ = false;
    layers_.clear();
    steps_.clear();
    buffers_.clear();
    value_buffer_.clear();
    workspace_.reset();
    counters_.reset();
    trace_.reset();
    forward_support_ = Support::yes();
    forward_description_ = "not prepared";
  }

  const Layer& checked_layer(int i) const {
    if (!prepared_) throw InputError("custom: run_layer() before prepare()");
    if (i < 0 || size_t(i) >= layers_.size())
      throw InputError("custom: layer index " + std::to_string(i) + " out of range [0, " +
                       std::to_string(layers_.size()) + ")");
    const Layer& l = spec_.layers[size_t(i)];
    const LayerKernel& s = layers_[size_t(i)];
    if (!s.support.supported) throw NotSupportedError("custom: " + layer_label(l) + ": " + s.support.reason);
    return l;
  }

  custom::PlanContext plan_context() const {
    custom::PlanContext ctx;
    ctx.sm_count = sm_count_;
    ctx.force_kernel = options_.pw_kernel;
    ctx.force_tile = options_.pw_tile;
    ctx.force_splits = options_.pw_splitk;
    ctx.cluster = options_.pw_cluster;
    ctx.stem_ppt = options_.stem_ppt;
    return ctx;
  }

  // ---- forward plan ---------------------------------------------------------

  custom::PoolClassifierShape pool_classifier_shape(const Step& st) const {
    const Layer& pool = spec_.layers[size_t(st.first)];
    const Layer& fc = spec_.layers[size_t(st.last)];
    return {config_.batch, pool.in_h * pool.in_w, fc.in_c, fc.out_c};
  }

  Support check_chain() const {
    const std::vector<Layer>& L = spec_.layers;
    const int b = config_.batch;
    if (L.empty()) return Support::no("empty model");
    for (size_t i = 0; i < L.size(); ++i) {
      const Layer& l = L[i];
      if (!layers_[i].support.supported)
        return Support::no(layer_label(l) + " not supported: " + layers_[i].support.reason);
      if (l.index != int(i)) return Support::no(layer_label(l) + " has a wrong index");
      if (l.input_from < -1 || l.input_from >= int(i))
        return Support::no(layer_label(l) + " does not read an earlier layer");
      const Shape4 in = l.input_from < 0 ? spec_.input_shape(b) : L[size_t(l.input_from)].output_shape(b);
      if (in != l.input_shape(b))
        return Support::no(layer_label(l) + " input shape " + l.input_shape(b).str() +
                           " does not match its source " + in.str());
      if (l.has_residual() &&
          (l.residual_from >= int(i) || L[size_t(l.residual_from)].output_shape(b) != l.output_shape(b)))
        return Support::no(layer_label(l) + " has a residual that is not an earlier layer of its shape");
    }
    if (L.back().output_shape(b) != Shape4{b, spec_.num_classes, 1, 1})
      return Support::no("the last layer does not produce [batch, classes] logits");
    return Support::yes();
  }

  void build_forward() {
    forward_support_ = check_chain();
    if (!forward_support_.supported) {
      forward_description_ = "unavailable: " + forward_support_.reason;
      return;
    }
    const std::vector<Layer>& L = spec_.layers;
    const int n = int(L.size()), b = config_.batch;
    std::vector<int> readers(size_t(n), 0);
    for (const Layer& l : L) {
      if (l.input_from >= 0) ++readers[size_t(l.input_from)];
      if (l.has_residual()) ++readers[size_t(l.residual_from)];
    }
    int fused_dw = 0, fused_pc = 0, fused_blocks = 0, tile_blocks = 0, conv_pools = 0;
    if (options_.conv_pool) custom::configure_conv_pool(size_t(smem_optin_));
    if (options_.block_fusion != 0) {
      custom::configure_ir_block(size_t(smem_optin_));
      custom::configure_tile_block(size_t(smem_optin_));
    }
    for (int i = 0; i < n;) {
      if (options_.block_fusion != 0 && i + 2 < n) {
        Step st;
        if (block_step(i, readers, &st)) {
          steps_.push_back(st);
          ++fused_blocks;
          tile_blocks += st.kind == StepKind::kTileBlock;
          i += 3;
          continue;
        }
      }
      if (options_.block_fusion != 0 && i + 1 < n) {
        Step st;
        if (dw_project_tile_step(i, readers, &st)) {
          steps_.push_back(st);
          ++fused_blocks, ++tile_blocks;
          i += 2;
          continue;
        }
      }
      if (options_.conv_pool && i + 1 < n) {
        Step st;
        if (conv_pool_step(i, readers, &st)) {
          steps_.push_back(st);
          ++conv_pools;
          i += 2;
          continue;
        }
      }
      if (options_.fusion && i + 1 < n) {
        const Layer& d = L[size_t(i)];
        const Layer& p = L[size_t(i) + 1];
        const LayerKernel& ds = layers_[size_t(i)];
        const LayerKernel& ps = layers_[size_t(i) + 1];
        if (ds.op == LayerOp::kDepthwise && d.kernel == 3 && !d.has_residual() && d.in_c % 4 == 0 &&
            ps.op == LayerOp::kPointwise && p.input_from == i && readers[size_t(i)] == 1 &&
            d.input_from >= 0) {
          GemmPlanRequest r = custom::gemm_request(plan_context(), int64_t(b) * p.out_h * p.out_w, p.out_c, p.in_c,
                                           p.has_residual());
          r.fused_depthwise = true;
          r.depthwise_stride = d.stride;
          Step st;
          st.kind = StepKind::kDwProject;
          st.first = i, st.last = i + 1;
          st.in = d.input_from;
          st.res = p.has_residual() ? p.residual_from : -2;
          st.plan = custom::plan_gemm(r);
          steps_.push_back(st);
          ++fused_dw;
          i += 2;
          continue;
        }
        if (ds.op == LayerOp::kPool && ps.op == LayerOp::kLinearGemv && p.input_from == i &&
            readers[size_t(i)] == 1 && d.input_from >= 0 &&
            custom::pool_classifier_fusable({b, d.in_h * d.in_w, p.in_c, p.out_c}, nullptr,
                                            ps.w.get())) {
          Step st;
          st.cover(StepKind::kPoolClassifier, i, i + 1, d.input_from);
          steps_.push_back(st);
          ++fused_pc;
          i += 2;
          continue;
        }
      }
      Step st;
      st.first = st.last = i;
      st.in = L[size_t(i)].input_from;
      st.res = L[size_t(i)].has_residual() ? L[size_t(i)].residual_from : -2;
      steps_.push_back(st);
      ++i;
    }
    assign_buffers();
    std::ostringstream s;
    s << steps_.size() << " launches";
    if (fused_blocks) {
      s << ", " << fused_blocks << " inverted-residual blocks fused";
      if (tile_blocks) s << " (" << tile_blocks << " by output tiles)";
    }
    if (fused_dw) s << ", " << fused_dw << " depthwise+project fused";
    if (fused_pc) s << ", pool+classifier fused";
    if (conv_pools) {
      for (const Step& st : steps_)
        if (st.kind == StepKind::kConvPool)
          s << ", " << st.first << "+" << st.last << " (1x1 conv + pool) fused as " << st.conv_pool_plan.str();
    }
    s << ", " << buffers_.size() << " activation buffers; " << options_.str();
    if (fused_blocks) {
      s << "; blocks:";
      for (const Step& st : steps_)
        if (st.kind == StepKind::kIrBlock)
          s << " " << st.first << "-" << st.last << "=" << st.block_plan.str(b);
        else if (st.kind == StepKind::kTileBlock)
          s << " " << st.first << "-" << st.last << "=" << st.tile_plan.str(b);
    }
    if (fused_dw) {
      s << "; fused tiles:";
      for (const Step& st : steps_)
        if (st.kind == StepKind::kDwProject)
          s << " " << st.first << "+" << st.last << "=" << st.plan.str();
    }
    forward_description_ = s.str();
  }

  // Layers i, i+1, i+2 as one inverted-residual block kernel: expand 1x1 -> depthwise 3x3 ->
  // project 1x1, the two intermediate values read by nothing else. With block_fusion auto,
  // only where custom::ir_block_auto_fuses() (measured wins on the H200; NOTES.md).
  bool block_step(int i, const std::vector<int>& readers, Step* st) const {
    const std::vector<Layer>& L = spec_.layers;
    const Layer& e = L[size_t(i)];
    const Layer& d = L[size_t(i) + 1];
    const Layer& p = L[size_t(i) + 2];
    if (layers_[size_t(i)].op != LayerOp::kPointwise || layers_[size_t(i) + 1].op != LayerOp::kDepthwise ||
        layers_[size_t(i) + 2].op != LayerOp::kPointwise)
      return false;
    if (d.kernel != 3 || d.input_from != i || p.input_from != i + 1 || readers[size_t(i)] != 1 ||
        readers[size_t(i) + 1] != 1 || e.has_residual() || d.has_residual())
      return false;
    // The kernel adds a residual only from its own staged input rows (MobileNetV2's blocks);
    // a block with any other residual runs as three kernels.
    if (p.has_residual() && p.residual_from != e.input_from) return false;
    if (d.in_c != e.out_c || p.in_c != e.out_c) return false;
    const custom::IrBlockShape sh = block_shape(&e, d, p);
    st->block = sh;
    // Large-spatial blocks at small batch: one kernel per output tile, every hidden channel.
    const custom::TileBlockPlan tp = tile_plan_for(sh);
    if (tp.ok) {
      st->cover(StepKind::kTileBlock, i, i + 2, e.input_from);
      st->tile_plan = tp;
      return true;
    }
    if (options_.block_fusion < 0 && !custom::ir_block_auto_fuses(sh)) return false;
    custom::IrBlockForce forced;
    forced.slices = options_.block_slices, forced.rows = options_.block_rows;
    forced.tm_expand = options_.block_tm_expand, forced.tm_project = options_.block_tm_project;
    forced.late_project_weights = options_.block_late_wp;
    forced.gemm_layout = options_.block_gemm_layout, forced.tm_lds_cycles = options_.block_tm_lds;
    forced.fixed_tm = options_.block_fixed_tm;
    custom::IrBlockPlan plan =
        custom::plan_ir_block(sh, sm_count_, size_t(smem_optin_), custom::kIrBlockMaxSlices, forced);
    if (plan.ok && plan.slices > custom::kIrBlockMaxPortableSlices &&
        custom::ir_block_max_active_clusters(plan) < 1)  // this device cannot hold such a cluster
      plan = custom::plan_ir_block(sh, sm_count_, size_t(smem_optin_), custom::kIrBlockMaxPortableSlices, forced);
    if (!plan.ok) return false;
    st->cover(StepKind::kIrBlock, i, i + 2, e.input_from);
    st->block_plan = plan;
    return true;
  }

  // The block kernels' view of expand `e` (null: none, the depthwise reads the block input),
  // depthwise `d` and projection `p` at the prepared batch.
  custom::IrBlockShape block_shape(const Layer* e, const Layer& d, const Layer& p) const {
    custom::IrBlockShape sh;
    sh.n = config_.batch, sh.h = d.in_h, sh.w = d.in_w, sh.cin = d.in_c, sh.ch = d.in_c;
    if (e) sh.h = e->in_h, sh.w = e->in_w, sh.cin = e->in_c, sh.ch = e->out_c;
    sh.oh = d.out_h, sh.ow = d.out_w, sh.cout = p.out_c, sh.stride = d.stride, sh.pad = d.pad;
    sh.expand = e != nullptr;
    sh.expand_relu6 = e && e->act == Activation::kRelu6;
    sh.dw_relu6 = d.act == Activation::kRelu6;
    sh.project_relu6 = p.act == Activation::kRelu6;
    sh.residual = p.has_residual();
    return sh;
  }

  // The tile kernel's plan for a block under the MBV2_CUSTOM_TILE_BLOCK rule (block input of
  // tile_block_px .. kTileBlockMaxPixels pixels over a batch of at most kTileBlockMaxBatch),
  // else a refused plan.
  custom::TileBlockPlan tile_plan_for(const custom::IrBlockShape& sh) const {
    const int64_t px = int64_t(sh.n) * sh.h * sh.w;
    if (options_.tile_block_px <= 0 || px < options_.tile_block_px || px > custom::kTileBlockMaxPixels ||
        sh.n > custom::kTileBlockMaxBatch) {
      custom::TileBlockPlan none;
      none.reason = "outside the tile-block rule";
      return none;
    }
    return custom::plan_tile_block(sh, sm_count_, size_t(smem_optin_), options_.tile_block_th,
                                   options_.tile_block_tw, options_.tile_ksplit,
                                   options_.tile_gemm_layout, options_.tile_tm_lds, options_.tile_fixed_tm);
  }

  // Layers i, i+1 as a block without expand layer (depthwise 3x3 -> project 1x1; MobileNetV2's
  // first block) by output tiles, under the same pixel rule as the tile blocks.
  bool dw_project_tile_step(int i, const std::vector<int>& readers, Step* st) const {
    const std::vector<Layer>& L = spec_.layers;
    const Layer& d = L[size_t(i)];
    const Layer& p = L[size_t(i) + 1];
    if (layers_[size_t(i)].op != LayerOp::kDepthwise || layers_[size_t(i) + 1].op != LayerOp::kPointwise)
      return false;
    if (!options_.tile_dw_project || d.kernel != 3 || p.input_from != i || readers[size_t(i)] != 1 ||
        d.has_residual() || p.in_c != d.out_c)
      return false;
    if (p.has_residual() && p.residual_from != d.input_from) return false;
    const custom::IrBlockShape sh = block_shape(nullptr, d, p);
    const custom::TileBlockPlan tp = tile_plan_for(sh);
    if (!tp.ok) return false;
    st->cover(StepKind::kTileBlock, i, i + 1, d.input_from);
    st->block = sh;
    st->tile_plan = tp;
    return true;
  }

  // Layers i, i+1 as one kernel: a 1x1 convolution (no residual) and the global average pool
  // of its output, at batch <= kGemvMaxBatch (the GEMM is the better kernel at large batch).
  bool conv_pool_step(int i, const std::vector<int>& readers, Step* st) const {
    const std::vector<Layer>& L = spec_.layers;
    const Layer& c = L[size_t(i)];
    const Layer& p = L[size_t(i) + 1];
    const int b = config_.batch;
    if (b > custom::kGemvMaxBatch || layers_[size_t(i)].op != LayerOp::kPointwise ||
        layers_[size_t(i) + 1].op != LayerOp::kPool)
      return false;
    if (c.has_residual() || p.input_from != i || readers[size_t(i)] != 1 || c.out_h * c.out_w != p.in_h * p.in_w)
      return false;
    custom::ConvPoolShape sh;
    sh.n = b, sh.hw = c.out_h * c.out_w, sh.k = c.in_c, sh.cout = c.out_c;
    sh.relu6 = c.act == Activation::kRelu6;
    const custom::ConvPoolPlan plan = custom::plan_conv_pool(sh, sm_count_, size_t(smem_optin_));
    if (!plan.ok) return false;
    st->cover(StepKind::kConvPool, i, i + 1, c.input_from);
    st->conv_pool = sh;
    st->conv_pool_plan = plan;
    return true;
  }

  // Greedy liveness-based buffer reuse: a step's output takes the first buffer whose
  // current value was last read by an earlier step (so never one of its own inputs).
  void assign_buffers() {
    const std::vector<Layer>& L = spec_.layers;
    const int n = int(L.size()), final_value = n - 1;
    std::vector<int> last_use(size_t(n), -1);
    for (size_t s = 0; s < steps_.size(); ++s)
      for (int v : {steps_[s].in, steps_[s].res})
        if (v >= 0) last_use[size_t(v)] = std::max(last_use[size_t(v)], int(s));
    value_buffer_.assign(size_t(n), -1);
    std::vector<size_t> sizes;
    std::vector<int> busy_until;
    for (size_t s = 0; s < steps_.size(); ++s) {
      const int v = steps_[s].last;
      if (v == final_value) continue;  // written straight into the caller's logits
      const size_t need = size_t(L[size_t(v)].output_shape(config_.batch).numel());
      int chosen = -1;
      for (size_t j = 0; j < sizes.size() && chosen < 0; ++j)
        if (busy_until[j] < int(s)) chosen = int(j);
      if (chosen < 0) {
        sizes.push_back(0);
        busy_until.push_back(0);
        chosen = int(sizes.size()) - 1;
      }
      value_buffer_[size_t(v)] = chosen;
      sizes[size_t(chosen)] = std::max(sizes[size_t(chosen)], need);
      busy_until[size_t(chosen)] = std::max(last_use[size_t(v)], int(s));
    }
    for (size_t sz : sizes) buffers_.emplace_back(sz);
  }

  const float* read_ptr(int v, const float* input, const float* logits) const {
    if (v == -1) return input;
    if (v == int(spec_.layers.size()) - 1) return logits;
    return buffers_[size_t(value_buffer_[size_t(v)])].get();
  }
  float* write_ptr(int v, float* logits) const {
    if (v == int(spec_.layers.size()) - 1) return logits;
    return buffers_[size_t(value_buffer_[size_t(v)])].get();
  }

  void run_step(const Step& st, const float* input, float* logits, cudaStream_t stream, bool pdl) {
    const float* in = read_ptr(st.in, input, logits);
    const float* res = st.res >= 0 ? read_ptr(st.res, input, logits) : nullptr;
    float* out = write_ptr(st.last, logits);
    const int batch = config_.batch;
    switch (st.kind) {
      case StepKind::kLayer: run_op(st.first, in, res, out, stream, pdl); return;
      case StepKind::kDwProject: {
        const Layer& d = spec_.layers[size_t(st.first)];
        const Layer& p = spec_.layers[size_t(st.last)];
        const LayerKernel& ds = layers_[size_t(st.first)];
        const LayerKernel& ps = layers_[size_t(st.last)];
        custom::DwProjectArgs a;
        a.x = in, a.dw_w = ds.w.get(), a.dw_b = ds.b.get();
        a.n = batch, a.h = d.in_h, a.w = d.in_w, a.c = d.in_c, a.oh = d.out_h, a.ow = d.out_w;
        a.stride = d.stride, a.pad = d.pad, a.dw_relu6 = d.act == Activation::kRelu6;
        a.wt = ps.w.get(), a.bias = ps.b.get(), a.residual = res, a.out = out;
        a.n_out = p.out_c, a.relu6 = p.act == Activation::kRelu6;
        a.workspace = workspace_.get(), a.counters = counters_.get();
        custom::launch_dw_project(st.plan, a, stream, pdl);
        return;
      }
      case StepKind::kIrBlock:
        custom::launch_ir_block(st.block, st.block_plan, ir_args(st, in, out), stream, pdl);
        return;
      case StepKind::kTileBlock:
        custom::launch_tile_block(st.block, st.tile_plan, ir_args(st, in, out), stream, pdl);
        return;
      case StepKind::kConvPool: {
        const LayerKernel& cs = layers_[size_t(st.first)];
        custom::launch_conv_pool(st.conv_pool, st.conv_pool_plan, in, cs.w.get(), cs.b.get(), out, stream, pdl);
        return;
      }
      case StepKind::kPoolClassifier: {
        const LayerKernel& fs = layers_[size_t(st.last)];
        custom::launch_pool_classifier(pool_classifier_shape(st), in, fs.w.get(), fs.b.get(), out,
                                       workspace_.get(), counters_.get(), stream, pdl);
        return;
      }
    }
  }

  custom::IrBlockArgs ir_args(const Step& st, const float* in, float* out) const {
    const bool expand = st.block.expand;
    const LayerKernel& ds = layers_[size_t(st.first) + (expand ? 1 : 0)];
    const LayerKernel& ps = layers_[size_t(st.last)];
    custom::IrBlockArgs a;
    a.x = in, a.out = out;
    if (expand) a.expand_w = layers_[size_t(st.first)].w.get(), a.expand_b = layers_[size_t(st.first)].b.get();
    a.dw_w = ds.w.get(), a.dw_b = ds.b.get();
    a.project_w = ps.w.get(), a.project_b = ps.b.get();
    if (!trace_.empty()) a.trace = trace_.get() + st.trace_offset;
    return a;
  }

  void run_op(int i, const float* in, const float* res, float* out, cudaStream_t stream, bool pdl) {
    custom::launch_layer(spec_.layers[size_t(i)], layers_[size_t(i)], config_.batch, in, res, out,
                         {workspace_.get(), counters_.get()}, stream, pdl);
  }

  std::optional<CustomOptions> explicit_options_;
  CustomOptions options_;
  bool prepared_ = false;
  ModelSpec spec_;
  RunConfig config_;
  int sm_count_ = 132;
  int smem_optin_ = 48 * 1024;
  std::vector<LayerKernel> layers_;
  std::vector<Step> steps_;
  std::vector<DeviceBuffer<float>> buffers_;
  std::vector<int> value_buffer_;
  DeviceBuffer<float> workspace_;
  DeviceBuffer<int> counters_;
  DeviceBuffer<unsigned long long> trace_;

 public:
  // Thread blocks of a fused step (one trace record each).
  size_t traced_blocks(const Step& st) const {
    if (st.kind == StepKind::kIrBlock)
      return size_t(st.block_plan.bands) * config_.batch * st.block_plan.slices;
    if (st.kind == StepKind::kTileBlock)
      return size_t(st.tile_plan.tiles_h) * st.tile_plan.tiles_w * config_.batch;
    return 0;
  }

  std::string trace_report() {
    if (trace_.empty())
      throw InputError("custom: no trace (prepare with MBV2_CUSTOM_TRACE=1 and fused blocks)");
    MBV2_CUDA_CHECK(cudaDeviceSynchronize());
    const std::vector<unsigned long long> t = trace_.download();
    int device = 0, khz = 0;
    MBV2_CUDA_CHECK(cudaGetDevice(&device));
    MBV2_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
    const double us_per_cycle = 1e3 / double(std::max(khz, 1));
    // One table per kernel kind (their phases differ), rows in forward order; the gap is to
    // the previous fused step of either kind.
    const char* cluster_phases[] = {"issue weights", "PDL wait", "load", "expand", "depthwise",
                                    "project+send", "partials wait", "store"};
    const char* tile_phases[] = {"issue weights", "PDL wait", "load", "expand", "depthwise",
                                 "project+store"};
    std::ostringstream rows[2];
    double prev_end = 0.0;
    for (const Step& st : steps_) {
      if (st.kind != StepKind::kIrBlock && st.kind != StepKind::kTileBlock) continue;
      const bool tile = st.kind == StepKind::kTileBlock;
      const int points = tile ? custom::kTileTracePoints : custom::kIrTracePoints;
      const size_t blocks = traced_blocks(st);
      double first = 1e300, last_start = 0.0, last_end = 0.0;
      std::vector<double> phase(size_t(points - 1), 0.0);
      for (size_t b = 0; b < blocks; ++b) {
        const unsigned long long* w = t.data() + st.trace_offset + b * custom::kIrTraceWords;
        first = std::min(first, double(w[0]));
        last_start = std::max(last_start, double(w[0]));
        last_end = std::max(last_end, double(w[1]));
        for (int k = 0; k < points - 1; ++k) phase[size_t(k)] += double(int64_t(w[2 + k + 1] - w[2 + k]));
      }
      std::ostringstream& s = rows[tile ? 1 : 0];
      s << std::fixed << std::setprecision(2) << "| " << st.first << "-" << st.last << " | " << blocks
        << " | " << (last_end - first) * 1e-3 << " | " << (last_start - first) * 1e-3 << " | "
        << (prev_end > 0.0 ? (first - prev_end) * 1e-3 : 0.0) << " |";
      for (double ph : phase) s << " " << ph / double(blocks) * us_per_cycle << " |";
      s << "\n";
      prev_end = last_end;
    }
    std::ostringstream out;
    auto table = [&](const char* title, const char* const* phases, int n, const std::string& body) {
      if (body.empty()) return;
      out << "| " << title << " | blocks | span µs | start skew µs | gap µs |";
      for (int k = 0; k < n; ++k) out << " " << phases[k] << " |";
      out << "\n|---|---:|---:|---:|---:|";
      for (int k = 0; k < n; ++k) out << "---:|";
      out << "\n" << body << "\n";
    };
    table("block", cluster_phases, 8, rows[0].str());
    table("tile block", tile_phases, 6, rows[1].str());
    return out.str();
  }

 private:
  Support forward_support_ = Support::yes();
  std::string forward_description_ = "not prepared";
};

}  // namespace

std::string custom_trace_report(Backend& backend) {
  auto* b = dynamic_cast<CustomBackend*>(&backend);
  if (!b) throw InputError("custom_trace_report: not a custom backend");
  return b->trace_report();
}

std::unique_ptr<Backend> make_custom_backend(const CustomOptions& options) {
  return std::make_unique<CustomBackend>(options);
}

void register_custom_backends(BackendRegistry& registry) {
  registry.add({"custom",
                "handwritten FP32 CUDA kernels, NHWC (SIMT GEMM 1x1, register-tiled depthwise, "
                "whole inverted-residual blocks fused in forward at small batch)",
                "custom", [] { return std::make_unique<CustomBackend>(std::nullopt); }});
}

}  // namespace mbv2
