// Fused depthwise 3x3 (+bias +ReLU6) -> project 1x1 (+bias, +residual) for forward()
// (host interface). The depthwise output never leaves the SM: it is the A operand of the
// projection GEMM, produced chunk by chunk in shared memory.
#pragma once

#include <cuda_runtime_api.h>

#include "custom/gemm_plan.h"

namespace mbv2::custom {

struct DwProjectArgs {
  // depthwise (3x3, any stride / padding), NHWC input [N][H][W][C]
  const float* x = nullptr;
  const float* dw_w = nullptr;  ///< pack_depthwise_weights() output
  const float* dw_b = nullptr;  ///< [padded4(C)]
  int n = 0, h = 0, w = 0, c = 0, oh = 0, ow = 0, stride = 1, pad = 1;
  bool dw_relu6 = true;
  // projection [C] -> [N_out], output [N][OH][OW][N_out]
  const float* wt = nullptr;    ///< pack_weights_kn() output
  const float* bias = nullptr;  ///< pad_bias() output
  const float* residual = nullptr;
  float* out = nullptr;
  int n_out = 0;
  bool relu6 = false;
  float* workspace = nullptr;
  int* counters = nullptr;
};

/// Whether the fused kernel can run this pair (3x3 depthwise, C % 4 == 0, aligned tensors).
bool dw_project_fusable(const DwProjectArgs& args);

/// Plan with plan_gemm() using fused_depthwise = true; launch checks plan/shape agreement.
void launch_dw_project(const GemmPlan& plan, const DwProjectArgs& args, cudaStream_t stream,
                       bool pdl = false);

}  // namespace mbv2::custom
