// Model weights bound to a spec: one conv/linear weight + bias per layer,
// BatchNorm already folded. Loaded from safetensors with torchvision names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/model.h"

namespace mbv2 {

struct LayerWeights {
  /// Conv: [out_c][in_c / groups][k][k] (PyTorch OIHW). Linear: [out][in]. Pool: empty.
  std::vector<float> weight;
  /// [out_c]; zeros where the layer has no bias.
  std::vector<float> bias;
};

struct ModelWeights {
  std::vector<LayerWeights> layers;  ///< indexed like ModelSpec::layers
  std::string source;                ///< file path, or "synthetic(seed=N)"
  std::string hash;                  ///< FNV-1a 64 of the file bytes, or of the values if synthetic
  bool bn_folded_at_load = false;    ///< the file held BatchNorm tensors that were folded
};

/// BatchNorm eps used by torchvision's MobileNetV2.
constexpr double kBatchNormEps = 1e-5;

/// Folds y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta into the conv's
/// weight and bias (in place; `bias` may start as zeros). Computed in FP64.
void fold_batchnorm(std::vector<float>& weight, std::vector<float>& bias,
                    const std::vector<float>& gamma, const std::vector<float>& beta,
                    const std::vector<float>& mean, const std::vector<float>& var,
                    double eps = kBatchNormEps);

/// Loads a safetensors file with torchvision state_dict names. Conv biases are taken
/// as they are; BatchNorm tensors (`<bn>.weight/.bias/.running_mean/.running_var`) are
/// folded. Throws InputError naming the tensor or offset for every mismatch.
ModelWeights load_weights(const ModelSpec& spec, const std::string& path);

/// Seeded synthetic weights for any spec: He-style initialisation with small biases,
/// scaled so activations keep a realistic range through every layer.
ModelWeights synthetic_weights(const ModelSpec& spec, uint64_t seed);

/// Writes folded weights (`<conv>.weight`, `<conv>.bias`, torchvision names).
void save_weights(const ModelSpec& spec, const ModelWeights& weights, const std::string& path);

}  // namespace mbv2

namespace mbv2 {
/// Seeded synthetic weights for one layer (what synthetic_weights uses per layer):
/// He-normal weights (std = sqrt(2 / fan_in), halved for layers without ReLU6) and
/// biases uniform in [-0.1, 0.1]. Handy for single-layer tests on awkward shapes.
LayerWeights synthetic_layer_weights(const Layer& layer, uint64_t seed);
}  // namespace mbv2
