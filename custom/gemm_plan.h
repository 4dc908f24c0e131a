// Tile table and tile/split-K planner shared by the pointwise GEMM and the fused
// depthwise+project kernel. Host only: the kernels instantiate the same table.
//
// Versions:
//   v1  8 tiles, one GEMM kernel (BK = 8, register double buffering), cost model.
//   v2  16 tiles (adds N-exact tiles for the projections: BN = 24, 32, 48, 80, 96 with
//       BM up to 256), two GEMM kernels (GemmKernel: v1 register-staged, v2 cp.async
//       4-stage pipeline with BK = 16), plan.kernel; the cost model knows the v2 pipeline's
//       short serial chain and a split-K fix-up that reads several partials per round.
//   v3  plan.cluster: a v2 split-K of 2..kMaxClusterSplits whose splits form one
//       thread-block cluster and add their partial tiles through distributed shared memory
//       (no workspace, no atomics, no L2 round trips; deterministic order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mbv2::custom {

/// One block tile: BM x BN outputs, each thread TM x TN of them (as 4x4 fragments).
struct GemmTile {
  int bm, bn, tm, tn;
  constexpr int threads() const { return (bm / tm) * (bn / tn); }
  /// The fused dw+project kernel needs whole pairs of threads per pixel: threads % (2 BM) == 0.
  constexpr bool fused_ok() const { return threads() % (2 * bm) == 0; }
};

/// The tiles the GEMM-like kernels are instantiated for; a plan names one by index.
/// Big tiles (8x8 per thread) for the compute-bound 14x14 / 7x7 layers at large batch,
/// N-exact ones for the projections (N = 24, 32, 64, 96, 160 = 2 x 80, 320 = 4 x 80) and
/// the expansions (144 = 3 x 48, 192 .. 960 = k x 96), small ones to fill the GPU at
/// batch 1. Every tile has whole warps; the fused kernel takes only the fused_ok() ones.
inline constexpr GemmTile kGemmTiles[] = {
    {128, 128, 8, 8},  // 0   256 threads
    {128, 64, 8, 4},   // 1   256
    {64, 128, 4, 8},   // 2   256
    {64, 64, 4, 4},    // 3   256
    {128, 32, 4, 4},   // 4   256
    {64, 32, 4, 4},    // 5   128
    {32, 64, 4, 4},    // 6   128
    {32, 32, 4, 4},    // 7    64
    {256, 32, 8, 4},   // 8   256  N = 32 projections at large batch
    {256, 24, 8, 4},   // 9   192  N = 24
    {128, 24, 4, 4},   // 10  192  N = 24, smaller M
    {128, 96, 8, 8},   // 11  192  N = 96 and multiples of 96
    {64, 96, 4, 8},    // 12  192
    {128, 80, 8, 8},   // 13  160  N = 160, 320
    {64, 80, 4, 8},    // 14  160
    {128, 48, 8, 4},   // 15  192  N = 144
};
inline constexpr int kGemmTileCount = int(sizeof(kGemmTiles) / sizeof(kGemmTiles[0]));

/// The two GEMM main loops. v1: BK = 8, global -> registers -> shared (k-major A, one tile
/// in flight), also the fallback for K % 4 != 0 or an unaligned A. v2: BK = 16, cp.async
/// 16-byte copies straight into a kGemmStages-deep shared ring (m-major A, three tiles in
/// flight), needs K % 4 == 0 and a 16-byte aligned A.
enum class GemmKernel { kV1 = 1, kV2 = 2 };

/// K step of the v1 main loop (one shared-memory stage).
inline constexpr int kGemmBK = 8;
/// K step and pipeline depth of the v2 main loop.
inline constexpr int kGemmBKV2 = 16;
inline constexpr int kGemmStages = 4;
/// Largest portable thread-block cluster: the most splits a cluster reduction takes.
inline constexpr int kMaxClusterSplits = 8;

/// Dynamic shared memory of the v2 kernel for a tile: kGemmStages x (A [BM][BK + 4] +
/// B [BK][BN]) floats.
constexpr int gemm_v2_smem_bytes(int bm, int bn) {
  return kGemmStages * (bm * (kGemmBKV2 + 4) + kGemmBKV2 * bn) * 4;
}

/// Channels of the depthwise output the fused dw+project kernel keeps in shared memory
/// per chunk: 48 where the A and B chunks fit in 48 KB of static shared memory, else 32.
constexpr int fused_chunk_channels(int bm, int bn) {
  return (bm + 4 + bn) * 48 * 4 <= 48 * 1024 ? 48 : 32;
}

/// "128x64 t8x4"
std::string tile_name(int tile);
/// Index of the tile named "128x64" (thread tile implied), or -1.
int find_tile(const std::string& name);
/// "128x128 128x64 ..." (for error messages).
std::string tile_names();

struct GemmPlan {
  int tile = 0;
  GemmKernel kernel = GemmKernel::kV1;  ///< fused plans: always kV1 (their own kernel)
  int splits = 1;             ///< split-K factor (blocks along K, reduced deterministically)
  bool cluster = false;       ///< splits reduced in a thread-block cluster (v2, splits <= 8)
  int granules_per_split = 0; ///< K granules (BK or fused chunk) per split
  int granule = kGemmBK;      ///< K granule in elements (v1 8, v2 16, fused chunk)
  int tiles_m = 0, tiles_n = 0;
  double est_us = 0.0;        ///< the planner's own estimate, for describe()
  size_t workspace_floats() const;  ///< split-K partial tiles (0 without split-K)
  int counters() const;             ///< split-K semaphores (one per output tile)
  std::string str() const;          ///< "v2 128x64 t8x4 splitk=3" (" cluster" when so)
};

struct GemmPlanRequest {
  int64_t m = 0;
  int n = 0, k = 0;
  bool residual = false;
  bool fused_depthwise = false;  ///< A is computed by a depthwise 3x3 (fused kernel)
  int depthwise_stride = 1;      ///< stride of that depthwise (its input is stride^2 larger)
  bool vector_a = true;          ///< K % 4 == 0 (and A will be 16-byte aligned): v2 allowed
  int sm_count = 132;
  int force_kernel = 0;          ///< 1 or 2: only that GEMM kernel (v2 needs vector_a)
  std::string force_tile;        ///< "128x64" etc.: use this tile if it is valid
  int force_splits = 0;          ///< > 0: use this split-K factor (clamped to what K allows)
  bool cluster = true;           ///< v2 split-K <= kMaxClusterSplits may reduce in a cluster
  size_t max_workspace_floats = size_t(8) << 20;
};

/// Picks a tile and split-K factor by a small cost model (FMA issue rate, DRAM bytes,
/// wave quantisation, split-K reduction tail). Deterministic for a given request.
GemmPlan plan_gemm(const GemmPlanRequest& request);

}  // namespace mbv2::custom
