// Pointwise (1x1) convolution and linear layers as a tiled SIMT GEMM (host interface).
#pragma once

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "custom/gemm_plan.h"

namespace mbv2::custom {

/// N rounded up to a multiple of 4: the leading dimension of packed weights and biases.
inline int padded4(int n) { return (n + 3) / 4 * 4; }

/// Weights [N][K] (1x1 OIHW or linear) -> [K][padded4(N)], zero padded.
std::vector<float> pack_weights_kn(const std::vector<float>& w, int n, int k);
/// Bias [N] -> [padded4(N)], zero padded.
std::vector<float> pad_bias(const std::vector<float>& b, int n);

struct PointwiseArgs {
  const float* a = nullptr;         ///< activations [M][K] (NHWC pixels x channels)
  const float* wt = nullptr;        ///< pack_weights_kn() output
  const float* bias = nullptr;      ///< pad_bias() output
  const float* residual = nullptr;  ///< [M][N] or null
  float* out = nullptr;             ///< [M][N]
  int m = 0, n = 0, k = 0;
  bool relu6 = false;
  float* workspace = nullptr;  ///< >= plan.workspace_floats() when plan.splits > 1
  int* counters = nullptr;     ///< >= plan.counters() ints, zero
};

/// Whether A can be read with float4 loads (K % 4 == 0 and a 16-byte aligned base).
bool pointwise_vector_a(const PointwiseArgs& args);

/// Raises the v2 kernel's shared-memory limit for this plan (no-op for v1 plans). Call in
/// prepare, outside graph capture; launch_pointwise() does it too on first use.
void configure_pointwise(const GemmPlan& plan);

/// out = act(A * W^T + bias) + residual, kernel, tile and split-K from `plan` (plan_gemm());
/// a v2 plan runs the v1 kernel when A is not 16-byte aligned.
void launch_pointwise(const GemmPlan& plan, const PointwiseArgs& args, cudaStream_t stream,
                      bool pdl = false);

}  // namespace mbv2::custom
