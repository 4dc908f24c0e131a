#include "common/model.h"

#include <cmath>
#include <sstream>

#include "common/util.h"

namespace mbv2 {

const char* to_string(LayerKind kind) {
  switch (kind) {
    case LayerKind::kConv: return "conv";
    case LayerKind::kGlobalAvgPool: return "global_avg_pool";
    case LayerKind::kLinear: return "linear";
  }
  return "?";
}

const char* to_string(Activation act) { return act == Activation::kRelu6 ? "relu6" : "none"; }

const char* to_string(LayerRole role) {
  switch (role) {
    case LayerRole::kStem: return "stem";
    case LayerRole::kExpand: return "expand";
    case LayerRole::kDepthwise: return "depthwise";
    case LayerRole::kProject: return "project";
    case LayerRole::kLastConv: return "last_conv";
    case LayerRole::kPool: return "pool";
    case LayerRole::kClassifier: return "classifier";
    case LayerRole::kOther: return "other";
  }
  return "?";
}

int64_t Layer::weight_count() const {
  switch (kind) {
    case LayerKind::kConv: return int64_t(out_c) * (in_c / groups) * kernel * kernel;
    case LayerKind::kLinear: return int64_t(out_c) * in_c;
    case LayerKind::kGlobalAvgPool: return 0;
  }
  return 0;
}

int64_t Layer::bias_count() const { return kind == LayerKind::kGlobalAvgPool ? 0 : out_c; }

int64_t Layer::flops(int batch) const {
  switch (kind) {
    case LayerKind::kConv:
      return 2 * int64_t(batch) * out_c * out_h * out_w * (in_c / groups) * kernel * kernel;
    case LayerKind::kLinear: return 2 * int64_t(batch) * out_c * in_c;
    case LayerKind::kGlobalAvgPool: return int64_t(batch) * in_c * in_h * in_w;
  }
  return 0;
}

int64_t Layer::min_bytes(int batch) const {
  int64_t elems = input_shape(batch).numel() + output_shape(batch).numel() + weight_count() +
                  bias_count();
  if (has_residual()) elems += output_shape(batch).numel();
  return elems * int64_t(sizeof(float));
}

std::string Layer::describe() const {
  std::ostringstream s;
  if (kind == LayerKind::kConv) {
    s << "conv" << kernel << "x" << kernel << " s" << stride << (is_depthwise() ? " dw " : " ")
      << in_c << "->" << out_c << " " << in_h << "x" << in_w << "->" << out_h << "x" << out_w;
    if (act == Activation::kRelu6) s << " +relu6";
    if (has_residual()) s << " +res";
  } else if (kind == LayerKind::kGlobalAvgPool) {
    s << "avgpool " << in_c << "x" << in_h << "x" << in_w;
  } else {
    s << "linear " << in_c << "->" << out_c;
  }
  return s.str();
}

int64_t ModelSpec::flops(int batch) const {
  int64_t total = 0;
  for (const Layer& l : layers) total += l.flops(batch);
  return total;
}

int64_t ModelSpec::param_count() const {
  int64_t total = 0;
  for (const Layer& l : layers) total += l.weight_count() + l.bias_count();
  return total;
}

std::string ModelSpec::str() const {
  std::ostringstream s;
  s << name << " w" << width_mult << " r" << resolution << " c" << num_classes;
  return s.str();
}

int make_divisible(double value, int divisor) {
  int rounded = std::max(divisor, int(value + divisor / 2.0) / divisor * divisor);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

namespace {

// Appends conv layers while tracking the current activation shape.
class SpecBuilder {
 public:
  SpecBuilder(ModelSpec& spec, int c, int h, int w) : spec_(spec), c_(c), h_(h), w_(w) {}

  int conv(const std::string& name, const std::string& bn, LayerRole role, int out_c, int kernel,
           int stride, int groups, Activation act, int residual_from) {
    Layer l;
    l.index = int(spec_.layers.size());
    l.name = name;
    l.bn_name = bn;
    l.kind = LayerKind::kConv;
    l.role = role;
    l.in_c = c_, l.in_h = h_, l.in_w = w_;
    l.kernel = kernel, l.stride = stride, l.pad = (kernel - 1) / 2, l.groups = groups;
    l.out_c = out_c;
    l.out_h = conv_out_size(h_, kernel, stride, l.pad);
    l.out_w = conv_out_size(w_, kernel, stride, l.pad);
    l.act = act;
    l.input_from = l.index - 1;
    l.residual_from = residual_from;
    c_ = l.out_c, h_ = l.out_h, w_ = l.out_w;
    spec_.layers.push_back(l);
    return l.index;
  }

  void pool_and_classifier(int num_classes) {
    Layer p;
    p.index = int(spec_.layers.size());
    p.name = "avgpool";
    p.kind = LayerKind::kGlobalAvgPool;
    p.role = LayerRole::kPool;
    p.in_c = c_, p.in_h = h_, p.in_w = w_;
    p.out_c = c_, p.out_h = 1, p.out_w = 1;
    p.input_from = p.index - 1;
    spec_.layers.push_back(p);

    Layer fc;
    fc.index = int(spec_.layers.size());
    fc.name = "classifier.1";
    fc.kind = LayerKind::kLinear;
    fc.role = LayerRole::kClassifier;
    fc.in_c = c_, fc.in_h = 1, fc.in_w = 1;
    fc.out_c = num_classes, fc.out_h = 1, fc.out_w = 1;
    fc.input_from = fc.index - 1;
    spec_.layers.push_back(fc);
  }

  int channels() const { return c_; }

 private:
  ModelSpec& spec_;
  int c_, h_, w_;
};

}  // namespace

ModelSpec mobilenet_v2(double width_mult, int resolution, int num_classes) {
  if (!(width_mult > 0.0) || width_mult > 8.0)
    throw InputError("width multiplier must be in (0, 8], got " + std::to_string(width_mult));
  if (resolution < 16 || resolution > 4096)
    throw InputError("resolution must be in [16, 4096], got " + std::to_string(resolution));
  if (num_classes < 1 || num_classes > 1000000)
    throw InputError("number of classes must be in [1, 1000000], got " +
                     std::to_string(num_classes));

  ModelSpec spec;
  spec.name = "mobilenet_v2";
  spec.width_mult = width_mult;
  spec.resolution = resolution;
  spec.num_classes = num_classes;

  struct Stage { int t, c, n, s; };
  const Stage stages[] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
  const int input_channel = make_divisible(32 * width_mult);
  const int last_channel = make_divisible(1280 * std::max(1.0, width_mult));

  SpecBuilder b(spec, 3, resolution, resolution);
  int prev = b.conv("features.0.0", "features.0.1", LayerRole::kStem, input_channel, 3, 2, 1,
                    Activation::kRelu6, -1);
  int feature = 1;
  for (const Stage& st : stages) {
    const int out_c = make_divisible(st.c * width_mult);
    for (int i = 0; i < st.n; ++i, ++feature) {
      const int stride = i == 0 ? st.s : 1;
      const int in_c = b.channels();
      const int hidden = int(std::lround(in_c * double(st.t)));
      const bool residual = stride == 1 && in_c == out_c;
      const std::string f = "features." + std::to_string(feature) + ".conv.";
      int sub = 0;
      if (st.t != 1) {
        b.conv(f + "0.0", f + "0.1", LayerRole::kExpand, hidden, 1, 1, 1, Activation::kRelu6, -1);
        sub = 1;
      }
      const std::string dw = f + std::to_string(sub) + ".";
      b.conv(dw + "0", dw + "1", LayerRole::kDepthwise, hidden, 3, stride, hidden,
             Activation::kRelu6, -1);
      prev = b.conv(f + std::to_string(sub + 1), f + std::to_string(sub + 2), LayerRole::kProject,
                    out_c, 1, 1, 1, Activation::kNone, residual ? prev : -1);
    }
  }
  b.conv("features." + std::to_string(feature) + ".0",
         "features." + std::to_string(feature) + ".1", LayerRole::kLastConv, last_channel, 1, 1, 1,
         Activation::kRelu6, -1);
  b.pool_and_classifier(num_classes);
  return spec;
}

}  // namespace mbv2
