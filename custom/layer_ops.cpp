// One layer alone: classification, weight packing, planning and launch.
#include "custom/layer_ops.h"

#include <sstream>

#include "common/util.h"
#include "custom/pointwise_conv.h"
#include "custom/pool_classifier.h"

namespace mbv2::custom {

namespace {

constexpr int64_t kMaxIndex = (int64_t(1) << 31) - 1;

std::string epilogue_str(const Layer& l) {
  std::string s = "+bias";
  if (l.act == Activation::kRelu6) s += "+relu6";
  if (l.has_residual()) s += "+residual";
  return s;
}

bool is_pointwise_shape(const Layer& l) {
  return l.groups == 1 && l.kernel == 1 && l.stride == 1 && l.pad == 0 && l.in_h == l.out_h &&
         l.in_w == l.out_w;
}

DirectConvArgs direct_shape(const Layer& l, int batch) {
  DirectConvArgs a;
  a.n = batch, a.h = l.in_h, a.w_in = l.in_w, a.cin = l.in_c;
  a.oh = l.out_h, a.ow = l.out_w, a.cout = l.out_c;
  a.kernel = l.kernel, a.stride = l.stride, a.pad = l.pad;
  a.relu6 = l.act == Activation::kRelu6;
  return a;
}

DepthwiseArgs depthwise_shape(const Layer& l, int batch) {
  DepthwiseArgs a;
  a.n = batch, a.h = l.in_h, a.w_in = l.in_w, a.c = l.in_c, a.oh = l.out_h, a.ow = l.out_w;
  a.kernel = l.kernel, a.stride = l.stride, a.pad = l.pad;
  a.relu6 = l.act == Activation::kRelu6;
  return a;
}

DeviceBuffer<float> to_device(const std::vector<float>& host) {
  DeviceBuffer<float> d(host.size());
  if (!host.empty()) d.upload(host);
  return d;
}

}  // namespace

std::string layer_label(const Layer& l) {
  return "layer " + std::to_string(l.index) + " (" + l.name + ")";
}

GemmPlanRequest gemm_request(const PlanContext& ctx, int64_t m, int n, int k, bool residual) {
  GemmPlanRequest r;
  r.m = m, r.n = n, r.k = k;
  r.residual = residual;
  r.vector_a = k % 4 == 0;
  r.sm_count = ctx.sm_count;
  r.force_kernel = ctx.force_kernel;
  r.force_tile = ctx.force_tile;
  r.force_splits = ctx.force_splits;
  r.cluster = ctx.cluster;
  return r;
}

Support classify_layer(const Layer& l, const RunConfig& config, LayerOp* op) {
  *op = LayerOp::kNone;
  if (config.precision != Precision::kFP32)
    return Support::no(std::string("custom kernels are strict FP32 only (") +
                       to_string(config.precision) + " not implemented)");
  if (config.batch < 1) return Support::no("batch must be at least 1");
  if (l.in_c <= 0 || l.out_c <= 0 || l.in_h <= 0 || l.in_w <= 0 || l.out_h <= 0 || l.out_w <= 0)
    return Support::no("empty layer shape");
  const int64_t pixels_out = int64_t(config.batch) * l.out_h * l.out_w;
  const int64_t pixels_in = int64_t(config.batch) * l.in_h * l.in_w;
  if (pixels_out > kMaxIndex || pixels_in > kMaxIndex)
    return Support::no("more than 2^31 pixels in one tensor");
  switch (l.kind) {
    case LayerKind::kConv: {
      if (l.kernel <= 0 || l.stride <= 0 || l.pad < 0 ||
          l.out_h != conv_out_size(l.in_h, l.kernel, l.stride, l.pad) ||
          l.out_w != conv_out_size(l.in_w, l.kernel, l.stride, l.pad))
        return Support::no("inconsistent convolution shape");
      if (l.groups == 1) {
        if (is_pointwise_shape(l)) {
          *op = LayerOp::kPointwise;
          return Support::yes();
        }
        if (config.batch > 65535) return Support::no("direct conv: batch above 65535");
        try {
          plan_direct_conv(direct_shape(l, config.batch), 132);
        } catch (const NotSupportedError& e) {
          return Support::no(e.what());
        }
        *op = LayerOp::kDirect;
        return Support::yes();
      }
      if (l.is_depthwise()) {
        if (int64_t(config.batch) * l.out_h * l.out_w * l.out_c > kMaxIndex)
          return Support::no("depthwise: more than 2^31 outputs");
        *op = LayerOp::kDepthwise;
        return Support::yes();
      }
      return Support::no("grouped convolution with groups=" + std::to_string(l.groups) +
                         " (only 1 or depthwise)");
    }
    case LayerKind::kGlobalAvgPool:
      if (l.out_c != l.in_c || l.out_h != 1 || l.out_w != 1)
        return Support::no("inconsistent pool shape");
      if (config.batch > 65535) return Support::no("pool: batch above 65535");
      *op = LayerOp::kPool;
      return Support::yes();
    case LayerKind::kLinear:
      if (l.in_h != 1 || l.in_w != 1 || l.out_h != 1 || l.out_w != 1)
        return Support::no("linear layer with spatial extent");
      *op = config.batch <= kGemvMaxBatch ? LayerOp::kLinearGemv : LayerOp::kLinearGemm;
      return Support::yes();
  }
  return Support::no("unknown layer kind");
}

LayerKernel prepare_layer_kernel(const Layer& l, const LayerWeights& lw, const RunConfig& config,
                                 const PlanContext& ctx) {
  LayerKernel s;
  const int batch = config.batch;
  LayerOp op;
  s.support = classify_layer(l, config, &op);
  if (!s.support.supported) return s;
  if (lw.weight.size() != size_t(l.weight_count()) || lw.bias.size() != size_t(l.bias_count()))
    throw InputError("custom: weights of " + layer_label(l) + " have " +
                     std::to_string(lw.weight.size()) + "+" + std::to_string(lw.bias.size()) +
                     " values, expected " + std::to_string(l.weight_count()) + "+" +
                     std::to_string(l.bias_count()));
  std::ostringstream details;
  try {
    switch (op) {
      case LayerOp::kDirect: {
        const DirectConvArgs shape = direct_shape(l, batch);
        s.direct = plan_direct_conv(shape, ctx.sm_count, ctx.stem_ppt);
        configure_direct_conv(s.direct);
        s.w = to_device(pack_direct_weights(lw.weight, shape, s.direct));
        s.b = to_device(pad_direct_bias(lw.bias, s.direct));
        s.kernel = s.direct.str() + " " + epilogue_str(l);
        details << s.direct.threads << " threads, " << s.direct.smem_bytes << " B shared";
        break;
      }
      case LayerOp::kPointwise: {
        s.gemm = plan_gemm(gemm_request(ctx, int64_t(batch) * l.out_h * l.out_w, l.out_c,
                                                l.in_c, l.has_residual()));
        configure_pointwise(s.gemm);
        s.w = to_device(pack_weights_kn(lw.weight, l.out_c, l.in_c));
        s.b = to_device(pad_bias(lw.bias, l.out_c));
        s.kernel = "pw_gemm<" + s.gemm.str() + "> " + epilogue_str(l);
        details << "M=" << int64_t(batch) * l.out_h * l.out_w << " N=" << l.out_c
                << " K=" << l.in_c << ", A " << (l.in_c % 4 == 0 ? "float4" : "scalar")
                << ", planner estimate " << s.gemm.est_us << " us";
        break;
      }
      case LayerOp::kDepthwise: {
        s.dw = plan_depthwise(depthwise_shape(l, batch), ctx.sm_count);
        s.w = to_device(pack_depthwise_weights(lw.weight, l.in_c, l.kernel));
        s.b = to_device(pad_bias(lw.bias, l.in_c));
        s.kernel = s.dw.str() + " " + epilogue_str(l);
        details << "k" << l.kernel << " s" << l.stride;
        break;
      }
      case LayerOp::kPool:
        s.kernel = std::string("avgpool<32 lanes x 8 pixel slices, ") +
                   (l.in_c % 4 == 0 ? "float4" : "scalar") + ">";
        details << "deterministic slice order";
        break;
      case LayerOp::kLinearGemv:
        s.w = to_device(lw.weight);  // [N][K] rows, read once per launch
        s.b = to_device(pad_bias(lw.bias, l.out_c));
        s.kernel = "linear_gemv<warp per class, batch<=8> +bias";
        details << "N=" << l.out_c << " K=" << l.in_c;
        break;
      case LayerOp::kLinearGemm:
        s.gemm = plan_gemm(gemm_request(ctx, batch, l.out_c, l.in_c, false));
        configure_pointwise(s.gemm);
        s.w = to_device(pack_weights_kn(lw.weight, l.out_c, l.in_c));
        s.b = to_device(pad_bias(lw.bias, l.out_c));
        s.kernel = "linear_gemm<" + s.gemm.str() + "> +bias";
        details << "M=" << batch << " N=" << l.out_c << " K=" << l.in_c << ", planner estimate "
                << s.gemm.est_us << " us";
        break;
      case LayerOp::kNone: break;
    }
  } catch (const NotSupportedError& e) {
    LayerKernel refused;
    refused.support = Support::no(e.what());
    return refused;
  }
  s.op = op;
  s.details = details.str();
  return s;
}

void launch_layer(const Layer& l, const LayerKernel& s, int batch, const float* in,
                  const float* res, float* out, const SplitKScratch& scratch, cudaStream_t stream,
                  bool pdl) {
  switch (s.op) {
    case LayerOp::kDirect: {
      DirectConvArgs a = direct_shape(l, batch);
      a.x = in, a.w = s.w.get(), a.bias = s.b.get(), a.residual = res, a.y = out;
      launch_direct_conv(s.direct, a, stream, pdl);
      return;
    }
    case LayerOp::kPointwise:
    case LayerOp::kLinearGemm: {
      const bool conv = s.op == LayerOp::kPointwise;
      PointwiseArgs a;
      a.a = in, a.wt = s.w.get(), a.bias = s.b.get(), a.out = out;
      a.residual = conv ? res : nullptr;  // the reference adds residuals to convs only
      a.m = conv ? batch * l.out_h * l.out_w : batch;
      a.n = l.out_c, a.k = l.in_c;
      a.relu6 = conv && l.act == Activation::kRelu6;
      a.workspace = scratch.workspace, a.counters = scratch.counters;
      launch_pointwise(s.gemm, a, stream, pdl);
      return;
    }
    case LayerOp::kDepthwise: {
      DepthwiseArgs a = depthwise_shape(l, batch);
      a.x = in, a.w = s.w.get(), a.bias = s.b.get(), a.residual = res, a.y = out;
      launch_depthwise(s.dw, a, stream, pdl);
      return;
    }
    case LayerOp::kPool:
      launch_global_avg_pool(in, out, batch, l.in_h * l.in_w, l.in_c, stream, pdl);
      return;
    case LayerOp::kLinearGemv:
      launch_linear_gemv(in, s.w.get(), s.b.get(), out, batch, l.out_c, l.in_c, stream, pdl);
      return;
    case LayerOp::kNone: break;
  }
  throw NotSupportedError("custom: " + layer_label(l) + " has no kernel");
}

}  // namespace mbv2::custom
