// One whole inverted-residual block (expand 1x1 -> depthwise 3x3 -> project 1x1, + residual)
// per 2-D output tile in one thread block that holds every hidden channel (host interface).
// The counterpart of ir_block.h for the large-spatial, few-channel blocks at small batch,
// where a tile's expanded rows fit one SM's shared memory: no cluster, no partial sums.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "custom/ir_block.h"

namespace mbv2::custom {

/// How one block is cut: one thread block per (image, th x tw tile of output pixels); it
/// stages the (th-1)*s+3 x (tw-1)*s+3 input window (zeros outside the image), expands it to
/// every hidden channel, runs the depthwise and the projection, and stores the tile.
struct TileBlockPlan {
  bool ok = false;
  std::string reason;      ///< why not, when !ok
  int th = 1, tw = 1;      ///< output tile
  int in_th = 3, in_tw = 3;  ///< input window
  int tiles_h = 1, tiles_w = 1;
  int tm_expand = 4, tm_project = 4;  ///< pixels per thread tile (1, 2, 4); tm_expand 0: no expand layer
  bool stage_project = true;  ///< projection weights staged in shared memory (else read from L2)
  int ksplit = 1;             ///< K splits of the projection (1: none)
  int k_per_split = 0;        ///< k per split (a multiple of 4; every split non-empty)
  int gemm_layout = 0;        ///< smem_gemm.cuh GemmLayout (IrBlockPlan::gemm_layout)
  /// Runs a kernel compiled for the plan's TMs (the batch-1 plans' in the pairs layout: expand
  /// 4 with projection 2 or 1, projection 4 without expand; input and output channels multiples
  /// of 4; a misaligned output falls back at launch), not the one that picks them at run time:
  /// less code, the same arithmetic.
  bool fixed_tm = false;
  size_t smem_bytes = 0;
  /// "tile_block<4x7 tile, tm 4/2, K/4, wp smem> [112 blocks, 106496 B]"
  std::string str(int batch) const;
};

constexpr int kTileBlockThreads = 512;
/// The backend runs a block as tiles only up to this many input pixels over the batch (one
/// 112x112 image): larger inputs are batch-256 territory, never measured with this kernel.
constexpr int64_t kTileBlockMaxPixels = 112 * 112;
/// ... and only up to this batch (measured at batch 1, tested up to 32; at batch 256 the 7x7
/// layers' 256 x 49 pixels would otherwise qualify).
constexpr int kTileBlockMaxBatch = 32;

/// Plans the block for `sm_count` SMs and `smem_limit` bytes of shared memory per block: the
/// tile whose estimated time (waves x (a block's FMAs + a fixed cost per wave)) is least;
/// `force_th` / `force_tw` > 0 fix the tile (clamped to the output), `force_ksplit` > 0 the
/// projection's K splits (clamped so that none is empty); `gemm_layout` and
/// `tm_lds_cycles` as in IrBlockForce; `fixed_tm` allows TileBlockPlan::fixed_tm. !ok with the
/// reason when no tile fits.
TileBlockPlan plan_tile_block(const IrBlockShape& shape, int sm_count, size_t smem_limit,
                              int force_th = 0, int force_tw = 0, int force_ksplit = 0,
                              int gemm_layout = 1, int tm_lds_cycles = 4, bool fixed_tm = true);

/// Raises the kernel's dynamic shared memory limit (call in prepare()).
void configure_tile_block(size_t smem_bytes);

/// Trace points of the kTrace instantiation (IrBlockArgs::trace, kIrTraceWords per thread
/// block): 0 start, 1 weight copies issued, 2 after the PDL wait, 3 window and weights in
/// shared memory, 4 expand done, 5 depthwise done (and projection weights in), 6 every
/// thread's outputs stored.
constexpr int kTileTracePoints = 7;

/// Same arguments as the cluster kernel (expand_w / expand_b unused and may be null when
/// !shape.expand; a non-null trace runs the tracing instantiation).
void launch_tile_block(const IrBlockShape& shape, const TileBlockPlan& plan, const IrBlockArgs& args,
                       cudaStream_t stream, bool pdl);

}  // namespace mbv2::custom
