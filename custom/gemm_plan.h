// Tile table and tile/split-K planner shared by the pointwise GEMM and the fused
// depthwise+project kernel. Host only: the kernels instantiate the same table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mbv2::custom {

/// One block tile: BM x BN outputs, each thread TM x TN of them (as 4x4 fragments).
struct GemmTile {
  int bm, bn, tm, tn;
  constexpr int threads() const { return (bm / tm) * (bn / tn); }
};

/// The tiles both GEMM-like kernels are instantiated for; a plan names one by index.
/// Big tiles (8x8 per thread) for the compute-bound 14x14 / 7x7 layers at large batch,
/// narrow ones (BN = 32) for projections to 16..32 channels, small ones to fill the GPU
/// at batch 1.
inline constexpr GemmTile kGemmTiles[] = {
    {128, 128, 8, 8},  // 0
    {128, 64, 8, 4},   // 1
    {64, 128, 4, 8},   // 2
    {64, 64, 4, 4},    // 3
    {128, 32, 4, 4},   // 4
    {64, 32, 4, 4},    // 5
    {32, 64, 4, 4},    // 6
    {32, 32, 4, 4},    // 7
};
inline constexpr int kGemmTileCount = int(sizeof(kGemmTiles) / sizeof(kGemmTiles[0]));

/// K step of the plain GEMM main loop (one shared-memory stage).
inline constexpr int kGemmBK = 8;

/// Channels of the depthwise output the fused dw+project kernel keeps in shared memory
/// per chunk: 48 where the A and B chunks fit in 48 KB of static shared memory, else 32.
constexpr int fused_chunk_channels(int bm, int bn) {
  return (bm + 4 + bn) * 48 * 4 <= 48 * 1024 ? 48 : 32;
}

/// "128x64 t8x4"
std::string tile_name(int tile);
/// Index of the tile named "128x64" (thread tile implied), or -1.
int find_tile(const std::string& name);

struct GemmPlan {
  int tile = 0;
  int splits = 1;             ///< split-K factor (blocks along K, reduced deterministically)
  int granules_per_split = 0; ///< K granules (BK or fused chunk) per split
  int granule = kGemmBK;      ///< K granule in elements
  int tiles_m = 0, tiles_n = 0;
  double est_us = 0.0;        ///< the planner's own estimate, for describe()
  size_t workspace_floats() const;  ///< split-K partial tiles (0 without split-K)
  int counters() const;             ///< split-K semaphores (one per output tile)
  std::string str() const;          ///< "128x64 t8x4 splitk=3"
};

struct GemmPlanRequest {
  int64_t m = 0;
  int n = 0, k = 0;
  bool residual = false;
  bool fused_depthwise = false;  ///< A is computed by a depthwise 3x3 (fused kernel)
  int depthwise_stride = 1;      ///< stride of that depthwise (its input is stride^2 larger)
  int sm_count = 132;
  std::string force_tile;        ///< "128x64" etc.: use this tile if it is valid
  int force_splits = 0;          ///< > 0: use this split-K factor (clamped to what K allows)
  size_t max_workspace_floats = size_t(8) << 20;
};

/// Picks a tile and split-K factor by a small cost model (FMA issue rate, DRAM bytes,
/// wave quantisation, split-K reduction tail). Deterministic for a given request.
GemmPlan plan_gemm(const GemmPlanRequest& request);

}  // namespace mbv2::custom
