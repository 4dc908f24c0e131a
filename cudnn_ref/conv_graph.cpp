#include "cudnn_ref/conv_graph.h"

#include "cudnn_ref/backend_attr.h"

namespace mbv2::cudnn {

ConvProblem ConvProblem::from(const Layer& l, int batch, Layout layout) {
  ConvProblem p;
  p.n = batch, p.c = l.in_c, p.h = l.in_h, p.w = l.in_w;
  p.k = l.out_c, p.p = l.out_h, p.q = l.out_w;
  p.r = l.kernel, p.s = l.kernel;
  p.stride = l.stride, p.pad = l.pad, p.groups = l.groups;
  p.layout = layout;
  return p;
}

std::vector<int64_t> activation_strides(Layout layout, int64_t n, int64_t c, int64_t h,
                                        int64_t w) {
  (void)n;
  if (layout == Layout::kNCHW) return {c * h * w, h * w, w, 1};
  return {h * w * c, 1, w * c, c};
}

std::vector<int64_t> filter_strides(Layout layout, int64_t k, int64_t c, int64_t r, int64_t s) {
  (void)k;
  if (layout == Layout::kNCHW) return {c * r * s, r * s, s, 1};
  return {r * s * c, 1, s * c, c};
}

std::string GraphRecipe::name() const {
  std::string n = "conv";
  if (residual && residual_first) n += "+res";
  if (bias) n += "+bias";
  if (relu6) n += "+relu6";
  if (residual && !residual_first) n += "+res";
  return n;
}

std::vector<void*> ConvGraph::pointers(const float* x, const float* w, const float* b,
                                       const float* z, float* y) const {
  std::vector<void*> out;
  out.reserve(uids.size());
  for (int64_t uid : uids) {
    switch (uid) {
      case kUidX: out.push_back(const_cast<float*>(x)); break;
      case kUidW: out.push_back(const_cast<float*>(w)); break;
      case kUidB: out.push_back(const_cast<float*>(b)); break;
      case kUidZ: out.push_back(const_cast<float*>(z)); break;
      default: out.push_back(y); break;
    }
  }
  return out;
}

namespace {

// Every tensor is FP32 and 16-byte aligned (cudaMalloc gives 256; run_layer checks 16).
constexpr int64_t kAlignment = 16;
constexpr int64_t kFirstVirtualUid = 100;

BackendDesc make_tensor(int64_t uid, const std::vector<int64_t>& dims,
                        const std::vector<int64_t>& strides, bool is_virtual) {
  BackendDesc t = make_backend_desc(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  set_data_type(t.get(), CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_DATA_FLOAT);
  set_int64s(t.get(), CUDNN_ATTR_TENSOR_DIMENSIONS, dims);
  set_int64s(t.get(), CUDNN_ATTR_TENSOR_STRIDES, strides);
  set_int64(t.get(), CUDNN_ATTR_TENSOR_UNIQUE_ID, uid);
  set_int64(t.get(), CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, kAlignment);
  set_bool(t.get(), CUDNN_ATTR_TENSOR_IS_VIRTUAL, is_virtual);
  finalize(t.get(), "tensor descriptor");
  return t;
}

BackendDesc make_pointwise_desc(cudnnPointwiseMode_t mode) {
  BackendDesc pw = make_backend_desc(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  set_attr(pw.get(), CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
  set_data_type(pw.get(), CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_DATA_FLOAT);
  if (mode == CUDNN_POINTWISE_RELU_FWD) {
    // NaN in, NaN out, like the reference (best effort: the attribute is deprecated).
    const cudnnNanPropagation_t nan = CUDNN_PROPAGATE_NAN;
    (void)cudnnBackendSetAttribute(pw.get(), CUDNN_ATTR_POINTWISE_NAN_PROPAGATION,
                                   CUDNN_TYPE_NAN_PROPOGATION, 1, &nan);
    // ReLU6 = ReLU with an upper clip: y = min(max(x, 0), 6).
    set_double(pw.get(), CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, 0.0);
    set_double(pw.get(), CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, 6.0);
    set_double(pw.get(), CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE, 0.0);
  }
  finalize(pw.get(), "pointwise descriptor");
  return pw;
}

BackendDesc make_pointwise_op(cudnnBackendDescriptor_t pw, cudnnBackendDescriptor_t x,
                              cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t y) {
  BackendDesc op = make_backend_desc(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  set_desc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw);
  set_desc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
  if (b) set_desc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b);
  set_desc(op.get(), CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
  finalize(op.get(), "pointwise operation");
  return op;
}

enum class Step { kBias, kRelu6, kResidual };

std::vector<Step> epilogue_steps(const GraphRecipe& r) {
  std::vector<Step> steps;
  if (r.residual && r.residual_first) steps.push_back(Step::kResidual);
  if (r.bias) steps.push_back(Step::kBias);
  if (r.relu6) steps.push_back(Step::kRelu6);
  if (r.residual && !r.residual_first) steps.push_back(Step::kResidual);
  return steps;
}

}  // namespace

std::shared_ptr<ConvGraph> build_conv_graph(cudnnHandle_t handle, const ConvProblem& pr,
                                            const GraphRecipe& recipe) {
  auto g = std::make_shared<ConvGraph>();
  g->recipe = recipe;
  const int64_t cpg = pr.c / pr.groups;
  const std::vector<int64_t> y_dims = {pr.n, pr.k, pr.p, pr.q};
  const std::vector<int64_t> y_strides = activation_strides(pr.layout, pr.n, pr.k, pr.p, pr.q);
  const std::vector<Step> steps = epilogue_steps(recipe);

  BackendDesc x = make_tensor(kUidX, {pr.n, pr.c, pr.h, pr.w},
                              activation_strides(pr.layout, pr.n, pr.c, pr.h, pr.w), false);
  BackendDesc w = make_tensor(kUidW, {pr.k, cpg, pr.r, pr.s},
                              filter_strides(pr.layout, pr.k, cpg, pr.r, pr.s), false);
  g->uids = {kUidX, kUidW};

  int64_t next_virtual = kFirstVirtualUid;
  // Output of the op that produces stage `i` of the chain: the real Y for the last one.
  auto stage_tensor = [&](bool last) {
    return last ? make_tensor(kUidY, y_dims, y_strides, false)
                : make_tensor(next_virtual++, y_dims, y_strides, true);
  };

  BackendDesc conv = make_backend_desc(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  {
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    set_data_type(conv.get(), CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_DATA_FLOAT);
    set_attr(conv.get(), CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
    set_int64(conv.get(), CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, 2);
    set_int64s(conv.get(), CUDNN_ATTR_CONVOLUTION_DILATIONS, {1, 1});
    set_int64s(conv.get(), CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, {pr.stride, pr.stride});
    set_int64s(conv.get(), CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, {pr.pad, pr.pad});
    set_int64s(conv.get(), CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, {pr.pad, pr.pad});
    finalize(conv.get(), "convolution descriptor");
  }

  BackendDesc current = stage_tensor(steps.empty());
  std::vector<cudnnBackendDescriptor_t> ops;
  {
    BackendDesc op = make_backend_desc(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    set_desc(op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x.get());
    set_desc(op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w.get());
    set_desc(op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, current.get());
    set_desc(op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv.get());
    set_float(op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, 1.0f);
    set_float(op.get(), CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, 0.0f);
    finalize(op.get(), "convolution forward operation");
    ops.push_back(op.get());
    g->parts.push_back(std::move(op));
  }
  g->parts.push_back(std::move(x));
  g->parts.push_back(std::move(w));
  g->parts.push_back(std::move(conv));

  for (size_t i = 0; i < steps.size(); ++i) {
    const bool last = i + 1 == steps.size();
    BackendDesc out = stage_tensor(last);
    BackendDesc operand;  // bias or residual, null for ReLU6
    BackendDesc pw;
    switch (steps[i]) {
      case Step::kBias:
        operand = make_tensor(kUidB, {1, pr.k, 1, 1}, activation_strides(pr.layout, 1, pr.k, 1, 1),
                              false);
        g->uids.push_back(kUidB);
        pw = make_pointwise_desc(CUDNN_POINTWISE_ADD);
        break;
      case Step::kResidual:
        operand = make_tensor(kUidZ, y_dims, y_strides, false);
        g->uids.push_back(kUidZ);
        pw = make_pointwise_desc(CUDNN_POINTWISE_ADD);
        break;
      case Step::kRelu6: pw = make_pointwise_desc(CUDNN_POINTWISE_RELU_FWD); break;
    }
    BackendDesc op = make_pointwise_op(pw.get(), current.get(), operand.get(), out.get());
    ops.push_back(op.get());
    g->parts.push_back(std::move(op));
    g->parts.push_back(std::move(pw));
    if (operand) g->parts.push_back(std::move(operand));
    g->parts.push_back(std::move(current));
    current = std::move(out);
  }
  g->parts.push_back(std::move(current));
  g->uids.push_back(kUidY);

  g->graph = make_backend_desc(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  set_descs(g->graph.get(), CUDNN_ATTR_OPERATIONGRAPH_OPS, ops);
  set_handle(g->graph.get(), CUDNN_ATTR_OPERATIONGRAPH_HANDLE, handle);
  finalize(g->graph.get(), "operation graph");
  return g;
}

}  // namespace mbv2::cudnn
