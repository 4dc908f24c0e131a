// Direct (dense, groups = 1) KxK convolution, NHWC: MobileNetV2's 3x3 stride-2 stem
// (3 -> 32 channels) and any other small dense conv (host interface).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <vector>

namespace mbv2::custom {

struct DirectConvArgs {
  const float* x = nullptr;         ///< [N][H][W][Cin]
  const float* w = nullptr;         ///< pack_direct_weights() output
  const float* bias = nullptr;      ///< [plan.ldw], zero padded
  const float* residual = nullptr;  ///< [N][OH][OW][Cout] or null
  float* y = nullptr;               ///< [N][OH][OW][Cout]
  int n = 0, h = 0, w_in = 0, cin = 0, oh = 0, ow = 0, cout = 0;
  int kernel = 3, stride = 2, pad = 1;
  bool relu6 = true;
};

struct DirectConvPlan {
  bool fast = false;        ///< the 3-channel 3x3 stride-2 specialisation
  int tile_h = 8, tile_w = 16;  ///< output tile of one block
  int ppt = 4;              ///< output pixels per thread item (fast path: 4, 2 or 1)
  int groups = 0;           ///< channel groups of one thread's channels
  int ldw = 0;              ///< packed weight row length (groups * channels per thread)
  int threads = 0;
  size_t smem_bytes = 0;
  std::string str() const;
};

/// Chooses the variant, or throws NotSupportedError when the weights and input tile do not
/// fit in shared memory.
/// force_ppt 1, 2 or 4: that many output pixels per thread in the fast path (0: 2 for the
/// 4-row tiles of small batches, else 4).
DirectConvPlan plan_direct_conv(const DirectConvArgs& shape, int sm_count, int force_ppt = 0);

/// Weights OIHW [Cout][Cin][k][k] -> [(kh * k + kw) * Cin + ci][plan.ldw], zero padded.
std::vector<float> pack_direct_weights(const std::vector<float>& w, const DirectConvArgs& shape,
                                       const DirectConvPlan& plan);
/// Bias [Cout] -> [plan.ldw], zero padded.
std::vector<float> pad_direct_bias(const std::vector<float>& b, const DirectConvPlan& plan);

/// Raises the kernel's dynamic shared memory limit when the plan needs more than 48 KB
/// (call in prepare, outside any timed region or graph capture).
void configure_direct_conv(const DirectConvPlan& plan);

void launch_direct_conv(const DirectConvPlan& plan, const DirectConvArgs& args, cudaStream_t stream,
                        bool pdl = false);

}  // namespace mbv2::custom
