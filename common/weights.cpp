#include "common/weights.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <sstream>

#include "common/safetensors.h"
#include "common/util.h"

namespace mbv2 {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

std::vector<int64_t> expected_weight_shape(const Layer& l) {
  if (l.kind == LayerKind::kLinear) return {l.out_c, l.in_c};
  return {l.out_c, l.in_c / l.groups, l.kernel, l.kernel};
}

// Looks up an F32 tensor of the expected shape, marking it used.
class TensorSource {
 public:
  TensorSource(const SafetensorsFile& file, const std::string& path) : file_(file), path_(path) {}

  bool has(const std::string& name) const { return file_.tensors.count(name) != 0; }

  std::vector<float> take(const std::string& name, const std::vector<int64_t>& shape) {
    auto it = file_.tensors.find(name);
    if (it == file_.tensors.end())
      throw InputError("weights file '" + path_ + "': missing tensor '" + name + "'");
    const SafeTensor& t = it->second;
    if (t.dtype != "F32")
      throw InputError("weights file '" + path_ + "': tensor '" + name + "' has dtype " +
                       t.dtype + ", expected F32");
    if (t.shape != shape)
      throw InputError("weights file '" + path_ + "': tensor '" + name + "' has shape " +
                       shape_str(t.shape) + ", expected " + shape_str(shape));
    used_.insert(name);
    return t.as_float(name);
  }

  /// Tensors nobody asked for, except BatchNorm's num_batches_tracked counters.
  void reject_unused(const ModelSpec& spec) const {
    for (const auto& [name, t] : file_.tensors) {
      if (used_.count(name)) continue;
      const std::string suffix = ".num_batches_tracked";
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
        continue;
      throw InputError("weights file '" + path_ + "': unexpected tensor '" + name +
                       "' (not part of " + spec.str() + ")");
    }
  }

 private:
  const SafetensorsFile& file_;
  std::string path_;
  std::set<std::string> used_;
};

}  // namespace

void fold_batchnorm(std::vector<float>& weight, std::vector<float>& bias,
                    const std::vector<float>& gamma, const std::vector<float>& beta,
                    const std::vector<float>& mean, const std::vector<float>& var, double eps) {
  const size_t out = bias.size();
  if (gamma.size() != out || beta.size() != out || mean.size() != out || var.size() != out ||
      out == 0 || weight.size() % out != 0)
    throw InputError("fold_batchnorm: BatchNorm sizes do not match the convolution");
  const size_t per_out = weight.size() / out;
  for (size_t o = 0; o < out; ++o) {
    if (!(var[o] + eps > 0.0))
      throw InputError("fold_batchnorm: running_var[" + std::to_string(o) + "] = " +
                       std::to_string(var[o]) + " is not positive");
    const double scale = double(gamma[o]) / std::sqrt(double(var[o]) + eps);
    for (size_t i = 0; i < per_out; ++i)
      weight[o * per_out + i] = float(double(weight[o * per_out + i]) * scale);
    bias[o] = float((double(bias[o]) - mean[o]) * scale + beta[o]);
  }
}

ModelWeights load_weights(const ModelSpec& spec, const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  TensorSource src(file, path);
  ModelWeights w;
  w.layers.resize(spec.layers.size());
  w.source = path;
  w.hash = file.hash;
  for (const Layer& l : spec.layers) {
    if (l.kind == LayerKind::kGlobalAvgPool) continue;
    LayerWeights& lw = w.layers[size_t(l.index)];
    const std::vector<int64_t> bias_shape{l.out_c};
    lw.weight = src.take(l.name + ".weight", expected_weight_shape(l));
    const bool has_bias = src.has(l.name + ".bias");
    const bool has_bn = !l.bn_name.empty() && src.has(l.bn_name + ".weight");
    if (has_bias) lw.bias = src.take(l.name + ".bias", bias_shape);
    else lw.bias.assign(size_t(l.out_c), 0.0f);
    if (has_bn) {
      const auto gamma = src.take(l.bn_name + ".weight", bias_shape);
      const auto beta = src.take(l.bn_name + ".bias", bias_shape);
      const auto mean = src.take(l.bn_name + ".running_mean", bias_shape);
      const auto var = src.take(l.bn_name + ".running_var", bias_shape);
      fold_batchnorm(lw.weight, lw.bias, gamma, beta, mean, var);
      w.bn_folded_at_load = true;
    } else if (!has_bias) {
      throw InputError("weights file '" + path + "': missing tensor '" + l.name +
                       ".bias'" + (l.bn_name.empty() ? "" : " (or BatchNorm '" + l.bn_name + ".*')"));
    }
  }
  src.reject_unused(spec);
  return w;
}

LayerWeights synthetic_layer_weights(const Layer& l, uint64_t seed) {
  LayerWeights lw;
  if (l.kind == LayerKind::kGlobalAvgPool) return lw;
  SplitMix64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(l.index) * 7919 + 1);
  const int64_t fan_in =
      l.kind == LayerKind::kLinear ? l.in_c : int64_t(l.in_c / l.groups) * l.kernel * l.kernel;
  // He for convs feeding ReLU6; variance-preserving (and halved before a residual add,
  // so repeated additions don't grow the activations) for linear outputs.
  double stdev = l.act == Activation::kRelu6 ? std::sqrt(2.0 / double(fan_in))
                                             : std::sqrt(1.0 / double(fan_in));
  if (l.has_residual()) stdev *= 0.5;
  lw.weight.resize(size_t(l.weight_count()));
  for (float& v : lw.weight) v = float(rng.normal() * stdev);
  lw.bias.resize(size_t(l.bias_count()));
  for (float& v : lw.bias) v = float(rng.uniform(-0.1, 0.1));
  return lw;
}

ModelWeights synthetic_weights(const ModelSpec& spec, uint64_t seed) {
  ModelWeights w;
  w.layers.reserve(spec.layers.size());
  uint64_t h = 0xcbf29ce484222325ull;
  for (const Layer& l : spec.layers) {
    w.layers.push_back(synthetic_layer_weights(l, seed));
    for (float v : w.layers.back().weight) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      h = (h ^ bits) * 0x100000001b3ull;
    }
  }
  w.source = "synthetic(seed=" + std::to_string(seed) + ")";
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  w.hash = buf;
  return w;
}

void save_weights(const ModelSpec& spec, const ModelWeights& weights, const std::string& path) {
  if (weights.layers.size() != spec.layers.size())
    throw InputError("save_weights: weights have " + std::to_string(weights.layers.size()) +
                     " layers, spec has " + std::to_string(spec.layers.size()));
  std::vector<std::pair<std::string, SafeTensor>> tensors;
  for (const Layer& l : spec.layers) {
    if (l.kind == LayerKind::kGlobalAvgPool) continue;
    const LayerWeights& lw = weights.layers[size_t(l.index)];
    tensors.emplace_back(l.name + ".weight", make_f32_tensor(expected_weight_shape(l), lw.weight));
    tensors.emplace_back(l.name + ".bias", make_f32_tensor({l.out_c}, lw.bias));
  }
  write_safetensors(path, tensors, {{"format", "pt"}, {"model", spec.str()},
                                    {"bn_folded", "true"}, {"source", weights.source}});
}

}  // namespace mbv2
