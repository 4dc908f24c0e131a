// The MobileNetV2 model spec: 54 layers with shapes, FLOPs and minimum bytes.
//
// Residual additions and ReLU6 are epilogues of the convolution that produces
// them, so both backends can fuse them and per-layer numbers compare like for like.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/tensor.h"

namespace mbv2 {

enum class LayerKind { kConv, kGlobalAvgPool, kLinear };
enum class Activation { kNone, kRelu6 };
/// What a layer does inside MobileNetV2; kernels may pick fast paths by role.
enum class LayerRole { kStem, kExpand, kDepthwise, kProject, kLastConv, kPool, kClassifier, kOther };

const char* to_string(LayerKind kind);
const char* to_string(Activation act);
const char* to_string(LayerRole role);

struct Layer {
  int index = 0;
  std::string name;  ///< torchvision module name of the conv / linear, e.g. "features.2.conv.1.0"
  std::string bn_name;  ///< torchvision BatchNorm module folded into this conv ("" if none)
  LayerKind kind = LayerKind::kConv;
  LayerRole role = LayerRole::kOther;
  int in_c = 0, in_h = 0, in_w = 0;
  int out_c = 0, out_h = 0, out_w = 0;
  int kernel = 1, stride = 1, pad = 0, groups = 1;  ///< conv only
  Activation act = Activation::kNone;
  int input_from = -1;     ///< layer whose output is this layer's input; -1 = the network input
  int residual_from = -1;  ///< layer whose output is added in the epilogue; -1 = none

  bool is_conv() const { return kind == LayerKind::kConv; }
  bool is_depthwise() const { return is_conv() && groups > 1 && groups == in_c && groups == out_c; }
  bool has_residual() const { return residual_from >= 0; }
  Shape4 input_shape(int batch) const { return {batch, in_c, in_h, in_w}; }
  Shape4 output_shape(int batch) const { return {batch, out_c, out_h, out_w}; }

  int64_t weight_count() const;  ///< conv: out_c * in_c/groups * k * k; linear: out * in
  int64_t bias_count() const;    ///< out_c for conv and linear, 0 for pool
  /// Floating-point operations: 2 per multiply-add (epilogues not counted); pool: one add per input.
  int64_t flops(int batch) const;
  /// Fewest bytes moved: input, residual, weights, bias and output each touched once (FP32).
  int64_t min_bytes(int batch) const;
  /// "conv3x3 s2 dw 96->96 112x112->56x56 +relu6 +res"
  std::string describe() const;
};

struct ModelSpec {
  std::string name;  ///< "mobilenet_v2"
  double width_mult = 1.0;
  int resolution = 224;
  int num_classes = 1000;
  std::vector<Layer> layers;

  Shape4 input_shape(int batch) const { return {batch, 3, resolution, resolution}; }
  int64_t flops(int batch) const;
  int64_t param_count() const;  ///< parameters after BatchNorm folding (weights + biases)
  std::string str() const;      ///< "mobilenet_v2 w1.0 r224 c1000"
};

/// torchvision's _make_divisible: round to the nearest multiple of `divisor`,
/// never going below 90% of the value.
int make_divisible(double value, int divisor = 8);

/// MobileNetV2 exactly as torchvision builds it (channel rounding included).
/// Throws InputError for a width, resolution or class count it cannot build.
ModelSpec mobilenet_v2(double width_mult = 1.0, int resolution = 224, int num_classes = 1000);

/// Output spatial size of a convolution.
inline int conv_out_size(int in, int kernel, int stride, int pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

}  // namespace mbv2
