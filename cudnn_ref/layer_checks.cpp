#include "cudnn_ref/layer_checks.h"

#include <cstdint>

#include "common/util.h"

namespace mbv2::cudnn {

Support check_layer(const Layer& l, const RunConfig& config) {
  if (config.precision != Precision::kFP32 && config.precision != Precision::kTF32)
    return Support::no(std::string(to_string(config.precision)) +
                       " is not implemented in the cuDNN backend yet (fp32 and tf32 are)");
  if (config.batch < 1) return Support::no("batch must be at least 1");
  switch (l.kind) {
    case LayerKind::kConv:
      if (l.kernel < 1 || l.stride < 1 || l.pad < 0 || l.groups < 1)
        return Support::no("convolution needs kernel, stride, groups >= 1 and padding >= 0");
      if (l.in_c < 1 || l.out_c < 1 || l.in_c % l.groups != 0 || l.out_c % l.groups != 0)
        return Support::no("channels " + std::to_string(l.in_c) + "->" + std::to_string(l.out_c) +
                           " are not divisible by groups " + std::to_string(l.groups));
      if (l.out_h < 1 || l.out_w < 1 ||
          l.out_h != conv_out_size(l.in_h, l.kernel, l.stride, l.pad) ||
          l.out_w != conv_out_size(l.in_w, l.kernel, l.stride, l.pad))
        return Support::no("output size " + std::to_string(l.out_h) + "x" +
                           std::to_string(l.out_w) + " does not follow from the input, kernel, "
                           "stride and padding");
      return Support::yes();
    case LayerKind::kGlobalAvgPool:
      if (l.in_c < 1 || l.in_h < 1 || l.in_w < 1 || l.out_c != l.in_c || l.out_h != 1 ||
          l.out_w != 1)
        return Support::no("global average pool must map CxHxW to Cx1x1");
      if (l.has_residual()) return Support::no("a pool with a residual input is not supported");
      return Support::yes();
    case LayerKind::kLinear:
      if (l.in_c < 1 || l.out_c < 1 || l.in_h != 1 || l.in_w != 1 || l.out_h != 1 || l.out_w != 1)
        return Support::no("linear layer must map [N, in] to [N, out]");
      if (l.has_residual() || l.act != Activation::kNone)
        return Support::no("a linear layer with an activation or residual is not supported");
      return Support::yes();
  }
  return Support::no("unknown layer kind");
}

void check_prepare_inputs(const ModelSpec& spec, const ModelWeights& weights,
                          const RunConfig& config) {
  if (config.batch < 1)
    throw InputError("cudnn backend: batch must be at least 1, got " +
                     std::to_string(config.batch));
  if (spec.layers.empty()) throw InputError("cudnn backend: the model has no layers");
  if (weights.layers.size() != spec.layers.size())
    throw InputError("cudnn backend: weights hold " + std::to_string(weights.layers.size()) +
                     " layers, the model has " + std::to_string(spec.layers.size()));
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const Layer& l = spec.layers[i];
    if (l.index != int(i))
      throw InputError("cudnn backend: layer at position " + std::to_string(i) + " has index " +
                       std::to_string(l.index));
    const LayerWeights& w = weights.layers[i];
    if (int64_t(w.weight.size()) != l.weight_count() || int64_t(w.bias.size()) != l.bias_count())
      throw InputError("cudnn backend: weights of layer " + std::to_string(l.index) + " (" +
                       l.name + ") have " + std::to_string(w.weight.size()) + "+" +
                       std::to_string(w.bias.size()) + " values, expected " +
                       std::to_string(l.weight_count()) + "+" + std::to_string(l.bias_count()));
    for (int src : {l.input_from, l.residual_from})
      if (src >= l.index)
        throw InputError("cudnn backend: layer " + std::to_string(l.index) +
                         " reads the output of a later layer " + std::to_string(src));
  }
}

void check_buffer(const void* ptr, const char* what, const std::string& where) {
  if (!ptr) throw InputError("cudnn backend: " + where + ": " + what + " buffer is null");
  if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0)
    throw InputError("cudnn backend: " + where + ": " + what +
                     " buffer is not 16-byte aligned (cuDNN tensors are declared 16-byte "
                     "aligned; cudaMalloc'd buffers are)");
}

}  // namespace mbv2::cudnn
