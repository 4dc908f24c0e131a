// Depthwise KxK convolution, NHWC, fused bias + ReLU6 (+ residual) (host interface).
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

namespace mbv2::custom {

/// OIHW depthwise weights [C][1][k][k] -> [k*k][padded4(C)] (tap-major, channels contiguous).
std::vector<float> pack_depthwise_weights(const std::vector<float>& w, int channels, int kernel);

struct DepthwiseArgs {
  const float* x = nullptr;         ///< [N][H][W][C]
  const float* w = nullptr;         ///< pack_depthwise_weights() output
  const float* bias = nullptr;      ///< [padded4(C)]
  const float* residual = nullptr;  ///< [N][OH][OW][C] or null
  float* y = nullptr;               ///< [N][OH][OW][C]
  int n = 0, h = 0, w_in = 0, c = 0, oh = 0, ow = 0;
  int kernel = 3, stride = 1, pad = 1;
  bool relu6 = true;
};

/// How a depthwise layer runs: vector width (4 channels or 1) and outputs per thread along W.
struct DepthwisePlan {
  int vec = 4;          ///< 4: float4 over channels (C % 4 == 0, aligned), 1: scalar
  int pixels = 4;       ///< output pixels per thread along W (fast 3x3 path)
  bool generic = false; ///< runtime kernel size / stride (not 3x3 with stride 1 or 2)
  std::string str() const;
};

/// Chooses the variant; `sm_count` sizes the per-thread work so small layers still fill the GPU.
DepthwisePlan plan_depthwise(const DepthwiseArgs& shape, int sm_count);

void launch_depthwise(const DepthwisePlan& plan, const DepthwiseArgs& args, cudaStream_t stream,
                      bool pdl = false);

}  // namespace mbv2::custom
