// Knobs of the custom backend, for benchmarking variants against each other. The registered
// "custom" backend reads them from the environment in prepare(); tests build backends with
// explicit options through make_custom_backend().
//
//   MBV2_CUSTOM_FUSION=0|1      forward(): fuse depthwise+project and pool+classifier (default 0)
//   MBV2_CUSTOM_BLOCK_FUSION=auto|0|1  forward(): whole inverted-residual blocks as one kernel
//                               (ir_block.cu); auto (default): where the H200 measured it
//                               faster (block input <= 56x56 pixels over the batch);
//                               1: wherever it fits
//   MBV2_CUSTOM_BLOCK_SLICES=N  fused blocks: clusters of N blocks (2..16; above 8 only where
//                               the device holds such clusters; 0 = planner, default)
//   MBV2_CUSTOM_BLOCK_ROWS=N    fused blocks: N output rows per band (0 = planner, default)
//   MBV2_CUSTOM_BLOCK_TM=E,P    fused blocks: pixels per thread tile in the expand / project
//                               GEMMs, each 1, 2 or 4 (0,0 = planner, default)
//   MBV2_CUSTOM_BLOCK_FIXED_TM=0|1 fused blocks whose GEMMs both take TM 2 run the kernel
//                               compiled for it, not the one that picks TM at run time
//                               (default 1)
//   MBV2_CUSTOM_BLOCK_LATE_WP=0|1 fused blocks: projection weights staged after the input rows,
//                               waited for only before the projection (default 1)
//   MBV2_CUSTOM_TILE_BLOCK=N    forward(): blocks whose input has N..112x112 pixels over the
//                               batch run as one kernel per 2-D output tile holding every
//                               hidden channel (tile_block.cu; 0 = never; default 3136)
//   MBV2_CUSTOM_TILE_BLOCK_TILE=THxTW  tile blocks: force the output tile (auto = planner)
//   MBV2_CUSTOM_TILE_KSPLIT=N   tile blocks: the projection's K split N ways (0 = planner,
//                               default; 1 = none)
//   MBV2_CUSTOM_BLOCK_GEMM=L    fused (cluster) blocks' GEMMs: L = {rows|pairs|mixed}{4|2}: lane
//                               rows (smem_gemm.cuh v1), lanes in 2 x 2 quads (v2) or quads
//                               below TM 4 only, and the TM estimate's cycles per shared load
//                               (default mixed2)
//   MBV2_CUSTOM_TILE_FIXED_TM=0|1 tile blocks whose TMs have a kernel compiled for them run it
//                               (default 1)
//   MBV2_CUSTOM_TILE_GEMM=L     tile blocks' GEMMs, the same choices (default pairs4)
//   MBV2_CUSTOM_STEM_PPT=0|1|2|4 the stem's output pixels per thread (0: planner, default:
//                               2 at small batch, else 4)
//   MBV2_CUSTOM_TILE_DW_PROJECT=0|1 tile blocks also for depthwise -> project pairs without an
//                               expand layer (MobileNetV2's first block; default 1)
//   MBV2_CUSTOM_CONV_POOL=0|1   forward(): a 1x1 conv followed by the global average pool as
//                               one kernel at batch <= 8 (conv_pool.cu; default 0: the H200
//                               measured it 2.4 µs slower at batch 1 than the GEMM + pool)
//   MBV2_CUSTOM_TRACE=0|1       fused blocks record per-block phase timestamps in forward() (a
//                               separate kernel instantiation; tools/mbv2_ir_trace; default 0)
//   MBV2_CUSTOM_PDL=0|1         forward(): programmatic dependent launch between kernels (default 1)
//   MBV2_CUSTOM_PW_KERNEL=v2    GEMM main loop for pointwise / linear layers: v1 (BK 8,
//                               register staged), v2 (cp.async 4-stage pipeline, needs K % 4
//                               == 0; v1 otherwise) or auto (planner, default)
//   MBV2_CUSTOM_PW_TILE=128x64  force one GEMM tile for every pointwise / linear / fused layer
//                               (128x128 128x64 64x128 64x64 128x32 64x32 32x64 32x32 256x32
//                               256x24 128x24 128x96 64x96 128x80 64x80 128x48; fused layers
//                               fall back to 128x64 for tiles the fused kernel lacks)
//   MBV2_CUSTOM_PW_SPLITK=N     force split-K factor N (clamped to what K allows; 0 = planner)
//   MBV2_CUSTOM_PW_CLUSTER=0|1  v2 split-K by 2..8 reduced in a thread-block cluster through
//                               distributed shared memory (default 1); 0: global workspace
//
// Versions:
//   v1  fusion, pdl, pw_tile, pw_splitk.
//   v2  pw_kernel; 8 more tiles.
//   v3  pw_cluster.
//   v4  block_fusion, block_slices.
//   v5  block_rows, block_tm, block_reduce, block_occ, stem_fusion.
//   v6  block_reduce, block_occ and stem_fusion removed (measured slower or no gain, NOTES.md).
//   v7  block_late_wp; trace.
//   v8  block_late_wp on by default; tile_block_px, tile_block_th / tw, tile_dw_project; conv_pool.
//   v9  tile_ksplit.
//   v10 block_gemm, tile_gemm, stem_ppt.
//   v11 block_fixed_tm, tile_fixed_tm.
#pragma once

#include <memory>
#include <string>

#include "common/backend.h"

namespace mbv2 {

struct CustomOptions {
  bool fusion = false;  // measured on the H100: the v1 fused dw+project kernel loses (NOTES.md)
  int block_fusion = -1;  ///< -1 auto (small batch), 0 off, 1 wherever the kernel fits
  int block_slices = 0;   ///< 0: the planner chooses; 2..16: cluster size of fused blocks
  int block_rows = 0;     ///< 0: the planner chooses; N: output rows per band of fused blocks
  int block_tm_expand = 0, block_tm_project = 0;  ///< 0: the planner; 1, 2, 4: pixels per thread tile
  int tile_block_px = 3136;  ///< 0: no tile blocks; N: blocks with N..112x112 input pixels over the batch
  int tile_block_th = 0, tile_block_tw = 0;
  int tile_ksplit = 0;  ///< 0: the planner; N: K splits of the tile blocks' projection (1 = none)
  int block_gemm_layout = 2;  ///< cluster blocks: smem_gemm.cuh GemmLayout (0 rows, 1 pairs, 2 mixed)
  int block_tm_lds = 2;       ///< cluster blocks: TM estimate's cycles per shared load
  int tile_gemm_layout = 1;   ///< tile blocks: GemmLayout
  int tile_tm_lds = 4;        ///< tile blocks: TM estimate's cycles per shared load
  int stem_ppt = 0;     ///< stem (direct conv fast path) output pixels per thread; 0: planner
  bool tile_dw_project = true;  ///< tile blocks also for depthwise -> project without expand  ///< 0: the planner; else the output tile of tile blocks
  bool conv_pool = false;  ///< last 1x1 conv + pool as one kernel at batch <= 8 (H200 b1: +2.4 µs)
  bool trace = false;  ///< fused blocks record phase timestamps (custom_trace_report)
  bool block_fixed_tm = true;  ///< fused blocks: the TM 2 kernel where both GEMMs take TM 2
  bool tile_fixed_tm = true;   ///< tile blocks: a kernel compiled for the plan's TMs where there is one
  bool block_late_wp = true;  ///< fused blocks: projection weights staged after the input (H200 b1 -0.3 / -0.4 µs, two sessions)
  bool pdl = true;      // measured on the H100: -9 µs at batch 1, neutral at 256
  int pw_kernel = 0;    ///< 0: the planner chooses; 1 / 2: only the v1 / v2 GEMM main loop
  std::string pw_tile;  ///< empty: the planner chooses
  int pw_splitk = 0;    ///< 0: the planner chooses
  bool pw_cluster = true;  ///< v2 split-K <= 8 reduced in a cluster (DSMEM), not through L2

  /// Reads the MBV2_CUSTOM_* variables; throws InputError naming a bad value.
  static CustomOptions from_env();
  /// "fusion=1 block_fusion=auto block_slices=auto pdl=0 pw_kernel=auto pw_tile=auto pw_splitk=auto pw_cluster=1"
  std::string str() const;
};

/// A custom backend with fixed options (the registry's "custom" reads the environment).
std::unique_ptr<Backend> make_custom_backend(const CustomOptions& options);

}  // namespace mbv2
