// Global average pool and the classifier (host interface). The classifier runs either as a
// GEMV (small batch: one warp per class, weights read once per launch) or through the
// pointwise GEMM (large batch); forward() can fuse pool + classifier at small batch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace mbv2::custom {

/// y[n][c] = mean over H*W of x[n][h][w][c] (x NHWC). Deterministic (fixed summation order).
void launch_global_avg_pool(const float* x, float* y, int n, int hw, int c, cudaStream_t stream,
                            bool pdl = false);

/// Largest batch the GEMV classifier handles in one pass.
inline constexpr int kGemvMaxBatch = 8;

/// y[b][o] = bias[o] + sum_k x[b][k] * w[o][k] for b < batch <= kGemvMaxBatch; w is [N][K].
void launch_linear_gemv(const float* x, const float* w, const float* bias, float* y, int batch,
                        int n, int k, cudaStream_t stream, bool pdl = false);

/// Pool + classifier in one launch for batch <= kGemvMaxBatch, K % 4 == 0 and aligned
/// tensors: blocks split classes x channels, each pools its channel slice and adds its
/// partial logits; the last block of each class slice sums the partials in a fixed order.
struct PoolClassifierShape {
  int batch = 0, hw = 0, k = 0, n = 0;
};
/// Whether the fused kernel can run this shape with these pointers.
bool pool_classifier_fusable(const PoolClassifierShape& s, const float* x, const float* w);
size_t pool_classifier_workspace_floats(const PoolClassifierShape& s);
int pool_classifier_counters(const PoolClassifierShape& s);
void launch_pool_classifier(const PoolClassifierShape& s, const float* x, const float* w,
                            const float* bias, float* y, float* workspace, int* counters,
                            cudaStream_t stream, bool pdl = false);

}  // namespace mbv2::custom
