// Direct loops with FP64 accumulation over layout-aware strides: one code path
// serves NCHW and NHWC, so a layout bug cannot hide behind a second implementation.
#include "common/reference.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/parallel.h"
#include "common/util.h"

namespace mbv2 {

namespace {

// Element strides of a logical NCHW shape stored in a layout.
struct Strides {
  int64_t n, c, h, w;
};

Strides strides_of(const Shape4& s, Layout l) {
  if (l == Layout::kNCHW) return {int64_t(s.c) * s.h * s.w, int64_t(s.h) * s.w, s.w, 1};
  return {int64_t(s.h) * s.w * s.c, 1, int64_t(s.w) * s.c, s.c};
}

// A tensor view the kernels below read or write, in FP64 or FP32 storage.
template <typename T>
struct View {
  T* data;
  Shape4 shape;
  Strides st;
  T& at(int n, int c, int h, int w) const { return data[n * st.n + c * st.c + h * st.h + w * st.w]; }
};

template <typename T>
View<T> view_of(T* data, const Shape4& s, Layout l) {
  return {data, s, strides_of(s, l)};
}

void check_shape(const char* what, const Shape4& got, const Shape4& want, const Layer& l) {
  if (got != want)
    throw InputError("reference: layer " + std::to_string(l.index) + " (" + l.name + ") " + what +
                     " has shape " + got.str() + ", expected " + want.str());
}

template <typename In, typename Res>
void conv(const Layer& l, const LayerWeights& w, const View<const In>& in, const View<const Res>* res,
          const View<double>& out) {
  const int batch = in.shape.n;
  const int icg = l.in_c / l.groups, ocg = l.out_c / l.groups, k = l.kernel;
  parallel_for(int64_t(batch) * l.out_h, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int n = int(row / l.out_h), oh = int(row % l.out_h);
      for (int ow = 0; ow < l.out_w; ++ow) {
        for (int oc = 0; oc < l.out_c; ++oc) {
          const int g = oc / ocg;
          double acc = w.bias[size_t(oc)];
          for (int kh = 0; kh < k; ++kh) {
            const int ih = oh * l.stride - l.pad + kh;
            if (ih < 0 || ih >= l.in_h) continue;
            for (int kw = 0; kw < k; ++kw) {
              const int iw = ow * l.stride - l.pad + kw;
              if (iw < 0 || iw >= l.in_w) continue;
              const In* src = &in.at(n, g * icg, ih, iw);
              const float* wt = &w.weight[(size_t(oc) * icg * k + kh) * k + kw];
              for (int ic = 0; ic < icg; ++ic)
                acc += double(src[ic * in.st.c]) * double(wt[size_t(ic) * k * k]);
            }
          }
          if (l.act == Activation::kRelu6) acc = std::min(std::max(acc, 0.0), 6.0);
          if (res) acc += double(res->at(n, oc, oh, ow));
          out.at(n, oc, oh, ow) = acc;
        }
      }
    }
  });
}

template <typename In>
void global_avg_pool(const Layer& l, const View<const In>& in, const View<double>& out) {
  const double inv = 1.0 / (double(l.in_h) * l.in_w);
  parallel_for(int64_t(in.shape.n) * l.in_c, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int n = int(i / l.in_c), c = int(i % l.in_c);
      double acc = 0.0;
      for (int h = 0; h < l.in_h; ++h)
        for (int w = 0; w < l.in_w; ++w) acc += double(in.at(n, c, h, w));
      out.at(n, c, 0, 0) = acc * inv;
    }
  });
}

template <typename In>
void linear(const Layer& l, const LayerWeights& w, const View<const In>& in, const View<double>& out) {
  parallel_for(int64_t(in.shape.n) * l.out_c, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int n = int(i / l.out_c), o = int(i % l.out_c);
      double acc = w.bias[size_t(o)];
      const float* wt = &w.weight[size_t(o) * l.in_c];
      for (int c = 0; c < l.in_c; ++c) acc += double(in.at(n, c, 0, 0)) * double(wt[c]);
      out.at(n, o, 0, 0) = acc;
    }
  });
}

template <typename In, typename Res>
void run_layer(const Layer& l, const LayerWeights& w, const View<const In>& in,
               const View<const Res>* res, const View<double>& out) {
  switch (l.kind) {
    case LayerKind::kConv: conv(l, w, in, res, out); break;
    case LayerKind::kGlobalAvgPool: global_avg_pool(l, in, out); break;
    case LayerKind::kLinear: linear(l, w, in, out); break;
  }
}

void check_weights(const Layer& l, const LayerWeights& w) {
  if (w.weight.size() != size_t(l.weight_count()) || w.bias.size() != size_t(l.bias_count()))
    throw InputError("reference: weights of layer " + std::to_string(l.index) + " (" + l.name +
                     ") have " + std::to_string(w.weight.size()) + "+" +
                     std::to_string(w.bias.size()) + " values, expected " +
                     std::to_string(l.weight_count()) + "+" + std::to_string(l.bias_count()));
}

}  // namespace

HostTensor reference_layer(const Layer& layer, const LayerWeights& weights,
                           const HostTensor& input, const HostTensor* residual,
                           Layout out_layout) {
  const int batch = input.shape.n;
  check_shape("input", input.shape, layer.input_shape(batch), layer);
  check_weights(layer, weights);
  if (layer.has_residual() != (residual != nullptr))
    throw InputError("reference: layer " + std::to_string(layer.index) +
                     (layer.has_residual() ? " needs" : " takes no") + " residual input");
  if (residual) check_shape("residual", residual->shape, layer.output_shape(batch), layer);

  const Shape4 os = layer.output_shape(batch);
  std::vector<double> acc(size_t(os.numel()));
  const auto in = view_of<const float>(input.data.data(), input.shape, input.layout);
  const auto out = view_of<double>(acc.data(), os, out_layout);
  if (residual) {
    const auto res = view_of<const float>(residual->data.data(), residual->shape, residual->layout);
    run_layer(layer, weights, in, &res, out);
  } else {
    run_layer<float, float>(layer, weights, in, nullptr, out);
  }
  HostTensor result(os, out_layout);
  for (size_t i = 0; i < acc.size(); ++i) result.data[i] = float(acc[i]);
  return result;
}

ReferenceRun reference_forward(const ModelSpec& spec, const ModelWeights& weights,
                               const HostTensor& input, bool keep_activations,
                               Layout activation_layout) {
  const int batch = input.shape.n;
  if (input.shape != spec.input_shape(batch))
    throw InputError("reference: network input has shape " + input.shape.str() + ", expected " +
                     spec.input_shape(batch).str());
  if (weights.layers.size() != spec.layers.size())
    throw InputError("reference: weights have " + std::to_string(weights.layers.size()) +
                     " layers, the model has " + std::to_string(spec.layers.size()));

  // FP64 activations; each is kept only while a later layer still needs it.
  std::vector<std::vector<double>> acts(spec.layers.size());
  std::vector<int> last_use(spec.layers.size(), -1);
  for (const Layer& l : spec.layers) {
    if (l.input_from >= 0) last_use[size_t(l.input_from)] = std::max(last_use[size_t(l.input_from)], l.index);
    if (l.residual_from >= 0)
      last_use[size_t(l.residual_from)] = std::max(last_use[size_t(l.residual_from)], l.index);
  }
  ReferenceRun run;
  if (keep_activations) run.activations.resize(spec.layers.size());
  const Layout lay = Layout::kNHWC;
  for (const Layer& l : spec.layers) {
    check_weights(l, weights.layers[size_t(l.index)]);
    const Shape4 os = l.output_shape(batch);
    acts[size_t(l.index)].assign(size_t(os.numel()), 0.0);
    const View<double> out = view_of<double>(acts[size_t(l.index)].data(), os, lay);
    View<const double>* res_ptr = nullptr;
    View<const double> res{};
    if (l.has_residual()) {
      const Layer& src = spec.layers[size_t(l.residual_from)];
      res = view_of<const double>(acts[size_t(src.index)].data(), src.output_shape(batch), lay);
      res_ptr = &res;
    }
    if (l.input_from < 0) {
      const auto in = view_of<const float>(input.data.data(), input.shape, input.layout);
      run_layer<float, double>(l, weights.layers[size_t(l.index)], in, res_ptr, out);
    } else {
      const Layer& src = spec.layers[size_t(l.input_from)];
      const auto in = view_of<const double>(acts[size_t(src.index)].data(), src.output_shape(batch), lay);
      run_layer<double, double>(l, weights.layers[size_t(l.index)], in, res_ptr, out);
    }
    if (keep_activations) {
      HostTensor t(os, lay);
      for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = float(acts[size_t(l.index)][i]);
      run.activations[size_t(l.index)] = to_layout(t, activation_layout);
    }
    for (const Layer& prev : spec.layers) {
      if (prev.index >= l.index) break;
      if (last_use[size_t(prev.index)] == l.index) std::vector<double>().swap(acts[size_t(prev.index)]);
    }
  }
  const std::vector<double>& logits = acts.back();
  run.logits_f64 = logits;
  run.logits = HostTensor({batch, spec.num_classes, 1, 1}, Layout::kNCHW);
  for (size_t i = 0; i < logits.size(); ++i) run.logits.data[i] = float(logits[i]);
  return run;
}

}  // namespace mbv2
