// The network's front in one kernel, for forward(): the stem convolution (3x3, any small
// input channel count, stride 1 or 2, pad 1, + ReLU6) -> the first block's depthwise 3x3
// (stride 1, pad 1, + ReLU6) -> its projection 1x1 (+ bias). Neither the stem output nor the
// depthwise output leaves the SM: at 224x224 they are two 112x112x32 tensors (1.6 MB per
// image each) that the unfused path writes and reads back (host interface).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

namespace mbv2::custom {

struct StemBlockShape {
  int n = 0;                  ///< batch
  int h = 0, w = 0, cin = 0;  ///< image [N][H][W][Cin]
  int stride = 2;             ///< of the stem (pad 1, 3x3)
  int sh = 0, sw = 0;         ///< stem output = depthwise output = block output size
  int c0 = 0;                 ///< stem / depthwise channels
  int c1 = 0;                 ///< projection output channels
  bool stem_relu6 = true, dw_relu6 = true, project_relu6 = false;
};

struct StemBlockPlan {
  bool ok = false;
  std::string reason;  ///< why not, when !ok
  int tile_h = 8, tile_w = 8;  ///< output pixels of one block
  int stem_ldw = 0;    ///< row length of the packed stem weights (pack_direct_weights)
  size_t smem_bytes = 0;
  /// "stem_block<8x8 tile, 3->32->16> [196 blocks, 41216 B]"
  std::string str(int batch) const;
};

constexpr int kStemBlockThreads = 256;

/// Plans the kernel for a device of `sm_count` SMs and `smem_limit` bytes of opt-in shared
/// memory per block; `stem_ldw` is the packed stem weights' row length (DirectConvPlan::ldw).
/// !ok (with the reason) when the shape does not fit the kernel.
StemBlockPlan plan_stem_block(const StemBlockShape& shape, int sm_count, size_t smem_limit,
                              int stem_ldw);

/// Raises the kernel's dynamic shared memory limit (call in prepare()).
void configure_stem_block(size_t smem_bytes);

struct StemBlockArgs {
  const float* x = nullptr;          ///< [N][H][W][Cin]
  const float* stem_w = nullptr;     ///< pack_direct_weights(): [9 * Cin][stem_ldw]
  const float* stem_b = nullptr;     ///< [stem_ldw]
  const float* dw_w = nullptr;       ///< pack_depthwise_weights(): [9][padded4(C0)]
  const float* dw_b = nullptr;       ///< [padded4(C0)]
  const float* project_w = nullptr;  ///< pack_weights_kn(): [C0][padded4(C1)]
  const float* project_b = nullptr;  ///< [padded4(C1)]
  float* out = nullptr;              ///< [N][SH][SW][C1], 16-byte aligned
};

void launch_stem_block(const StemBlockShape& shape, const StemBlockPlan& plan,
                       const StemBlockArgs& args, cudaStream_t stream, bool pdl);

}  // namespace mbv2::custom
