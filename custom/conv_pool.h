// 1x1 convolution + bias + activation followed by global average pooling, in one kernel
// (host interface), for forward() at small batch: MobileNetV2's last conv (320 -> 1280 on
// 7x7) and the pool, whose 1280 x 49 intermediate never leaves the SM.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

namespace mbv2::custom {

struct ConvPoolShape {
  int n = 0;     ///< batch
  int hw = 0;    ///< pixels per image of the conv's input and output
  int k = 0;     ///< input channels
  int cout = 0;  ///< output channels (= pooled features)
  bool relu6 = true;
};

/// One block per (image, slice of `quads` output-channel quads); the block stages the image's
/// [hw][k] input and the slice's weights, splits K `splits` ways over its threads, adds the
/// splits, bias and activation per pixel, and averages the pixels, all in a fixed order.
struct ConvPoolPlan {
  bool ok = false;
  std::string reason;
  int quads = 1;   ///< output-channel quads per block
  int splits = 1;  ///< K ranges per (pixel, quad), summed in order
  int slices = 1;  ///< ceil(padded4(cout) / 4 / quads)
  size_t smem_bytes = 0;
  /// "conv_pool<3 quads, K / 3> [107 blocks, 88000 B]"
  std::string str() const;
};

constexpr int kConvPoolThreads = 512;

/// The fewest quads per block that keep the grid within one wave of `sm_count`, then as many
/// K splits as the threads allow; !ok when the image's input does not fit `smem_limit`.
ConvPoolPlan plan_conv_pool(const ConvPoolShape& shape, int sm_count, size_t smem_limit);

/// Raises the kernel's dynamic shared memory limit (call in prepare()).
void configure_conv_pool(size_t smem_bytes);

/// y[b][c] = mean over p < hw of act(bias[c] + sum_k x[b][p][k] * w[k][c]); x [N][hw][K]
/// (16-byte aligned), w pack_weights_kn() [K][padded4(Cout)], bias [padded4(Cout)], y [N][Cout].
void launch_conv_pool(const ConvPoolShape& shape, const ConvPoolPlan& plan, const float* x,
                      const float* w, const float* bias, float* y, cudaStream_t stream, bool pdl);

}  // namespace mbv2::custom
