// One whole inverted-residual block (expand 1x1 -> depthwise 3x3 -> project 1x1, + residual)
// in one kernel, for forward() at small batch (host interface). Neither the expanded nor the
// depthwise tensor leaves the SM.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>

namespace mbv2::custom {

struct IrBlockShape {
  int n = 0;                       ///< batch
  int h = 0, w = 0, cin = 0;       ///< block input [N][H][W][Cin]
  int ch = 0;                      ///< hidden (expanded) channels
  int oh = 0, ow = 0, cout = 0;    ///< block output [N][OH][OW][Cout]
  int stride = 1, pad = 1;         ///< the 3x3 depthwise
  bool expand_relu6 = true, dw_relu6 = true, project_relu6 = false;
  bool residual = false;           ///< adds the block's own input (stride 1, Cin == Cout)
  /// false: no expand 1x1, the depthwise reads the block input (Ch == Cin; MobileNetV2's
  /// first block). Only the tile kernel (tile_block.h) runs such a block.
  bool expand = true;
};

/// How one block is cut: a thread-block cluster of `slices` blocks per band of `rows`
/// output rows of one image; block `s` of the cluster owns hidden channels
/// [s * slice_ch, (s + 1) * slice_ch), computes the expand and depthwise outputs of those
/// channels for its band (recomputing the halo input rows) and a partial projection; the
/// cluster adds the partials through distributed shared memory, in rank order.
struct IrBlockPlan {
  bool ok = false;
  std::string reason;      ///< why not, when !ok
  int rows = 1;            ///< output rows per band
  int in_rows = 3;         ///< input rows a band reads: (rows - 1) * stride + 3
  int bands = 1;           ///< ceil(OH / rows)
  int slices = 2;          ///< cluster size (2..16)
  int slice_ch = 4;        ///< hidden channels per block (multiple of 4)
  int tm_expand = 4;       ///< pixels per thread tile in the expand GEMM (1, 2 or 4)
  int tm_project = 4;      ///< pixels per thread tile in the projection GEMM
  bool stage_project = true;  ///< projection weights staged in shared memory (else read from L2)
  bool late_project_weights = false;  ///< staged after the input, waited for before the projection
  int gemm_layout = 0;  ///< smem_gemm.cuh GemmLayout: 0 lane rows, 1 2 x 2 quads, 2 quads below TM 4
  /// Runs the kernel compiled for TM 2 in both GEMMs (quads layouts only; input and output
  /// channels multiples of 4, since it has no scalar paths; a misaligned output falls back at
  /// launch): less code than the one that picks TM at run time, the same arithmetic.
  bool fixed_tm = false;
  size_t smem_bytes = 0;
  /// "ir_block<rows 1, 8 x 72 ch, tm 4/4, wp smem> [112 blocks, 61440 B]" (batch applied by caller)
  std::string str(int batch) const;
};

constexpr int kIrBlockThreads = 512;
constexpr int kIrBlockMaxPortableSlices = 8;  ///< portable cluster size
constexpr int kIrBlockMaxSlices = 16;         ///< with non-portable cluster sizes (Hopper)

/// Choices forced on the planner (0 = the planner decides), for measuring variants.
struct IrBlockForce {
  int slices = 0;      ///< cluster size 2..16, clamped to what the channels allow
  int rows = 0;        ///< output rows per band, clamped to the output height and to what fits
  int tm_expand = 0;   ///< 1, 2 or 4
  int tm_project = 0;  ///< 1, 2 or 4
  bool late_project_weights = false;  ///< IrBlockPlan::late_project_weights
  int gemm_layout = 0;      ///< IrBlockPlan::gemm_layout
  int tm_lds_cycles = 2;    ///< the TM estimate's cycles per warp-wide shared load (pick_smem_tm)
  bool fixed_tm = true;     ///< IrBlockPlan::fixed_tm wherever the plan allows it
};

/// Why neither block kernel can run `shape` (empty, not a 3x3 depthwise shape, no expand
/// layer but Ch != Cin, a residual that is not the block's own input, 2^31 elements or
/// more), or "" when it can as far as the shape goes. Both planners start with it.
std::string ir_block_shape_problem(const IrBlockShape& shape);

/// Plans the block for a device of `sm_count` SMs and `smem_limit` bytes of opt-in shared
/// memory per block; !ok (with the reason) when the shape does not fit the kernel.
/// `max_slices` caps the cluster size (8 portable, 16 where the device allows it).
IrBlockPlan plan_ir_block(const IrBlockShape& shape, int sm_count, size_t smem_limit,
                          int max_slices = kIrBlockMaxPortableSlices, const IrBlockForce& force = {});

/// The default (block_fusion=auto) choice: fuse where the H200 measured the one kernel
/// faster than its three (custom/NOTES.md): at most 56x56 block-input pixels over the batch
/// (batch 1: every block but the first, whose 112x112 input makes the halo recompute and
/// the tall bands too costly).
bool ir_block_auto_fuses(const IrBlockShape& shape);

/// Raises the kernel's dynamic shared memory limit to `smem_bytes` and allows clusters of
/// more than 8 blocks (call in prepare()).
void configure_ir_block(size_t smem_bytes);

/// How many clusters of the plan's shape the device can hold at once (0: it cannot launch).
int ir_block_max_active_clusters(const IrBlockPlan& plan);

struct IrBlockArgs {
  const float* x = nullptr;          ///< [N][H][W][Cin], 16-byte aligned
  const float* expand_w = nullptr;   ///< pack_weights_kn(): [Cin][padded4(Ch)]
  const float* expand_b = nullptr;   ///< [padded4(Ch)]
  const float* dw_w = nullptr;       ///< pack_depthwise_weights(): [9][padded4(Ch)]
  const float* dw_b = nullptr;       ///< [padded4(Ch)]
  const float* project_w = nullptr;  ///< pack_weights_kn(): [Ch][padded4(Cout)]
  const float* project_b = nullptr;  ///< [padded4(Cout)]
  float* out = nullptr;              ///< [N][OH][OW][Cout]
  /// Optional phase trace (a separate instantiation of the kernel; null: none), kIrTraceWords
  /// per thread block (block = blockIdx.x * slices + blockIdx.z): [0] globaltimer at the
  /// start, [1] at the end, [2 + k] clock64() of thread 0 at trace point k.
  unsigned long long* trace = nullptr;
};

/// Throws for null pointers (InputError; expand_w / expand_b may be null when !expand) and
/// misaligned ones (std::logic_error), naming `kernel`. Both launchers start with it.
void check_ir_block_args(const IrBlockArgs& args, bool expand, const char* kernel);

/// Trace points: 0 start, 1 weight copies issued, 2 after the PDL wait, 3 input and weights
/// in shared memory, 4 expand done, 5 depthwise done, 6 partial projections sent (a block
/// barrier added in the trace kernel only), 7 every peer's partials arrived (thread 0),
/// 8 thread 0's outputs stored.
constexpr int kIrTracePoints = 9;
constexpr int kIrTraceWords = 2 + kIrTracePoints + 1;  // padded to 12

void launch_ir_block(const IrBlockShape& shape, const IrBlockPlan& plan, const IrBlockArgs& args,
                     cudaStream_t stream, bool pdl);

}  // namespace mbv2::custom
