// Device building blocks shared by the pointwise GEMM (pointwise_conv.cu) and the fused
// depthwise+project kernel (fused_block.cu): the thread-tile geometry, the shared-memory
// FMA step, the fused epilogue and the deterministic split-K fix-up.
//
// Versions:
//   v1  TileShape, dispatch_tile over 8 tiles, fma_step (k-major A), store_tile,
//       splitk_fixup (one partial per round).
//   v2  16 tiles; store_tile takes the row mapping (v1 fragments or the v2 kernel's
//       interleaved rows m = i * kThreadsM + ty); splitk_fixup re-reads up to 8 float4 per
//       thread per round (2 partials at once for the 4x4 tiles), halving the batch-1
//       fix-up's L2 round trips there.
//   v3  store_quad (one float4 of the epilogue); cluster_splitk_store: split-K partials
//       added across a thread-block cluster through distributed shared memory.
//
// Geometry: a block owns BM x BN outputs; thread (ty, tx) owns TM x TN of them as
// (TM/4) x (TN/4) fragments of 4x4. Fragment rows are fi * (BM / (TM/4)) + ty * 4 + e, so a
// warp's float4 reads of a k-row of A or B hit consecutive 16-byte words (no bank
// conflicts) and its float4 stores of C are coalesced.
//
// A lives k-major in shared memory (As[k][BM + 4]): the +4 pad makes the transposing
// stores from global memory conflict-free. B lives as Bs[k][BN]: weights are stored
// transposed in global memory ([K][ldb], ldb = N rounded up to 4, zero padded), so a
// B tile is copied with float4 loads and stores.
#pragma once

#include <cooperative_groups.h>

#include <stdexcept>

#include "custom/gemm_plan.h"
#include "custom/kernel_common.cuh"

namespace mbv2::custom {

template <int BM, int BN, int TM, int TN>
struct TileShape {
  static constexpr int kBM = BM, kBN = BN, kTM = TM, kTN = TN;
  static constexpr int kThreadsN = BN / TN;
  static constexpr int kThreadsM = BM / TM;
  static constexpr int kThreads = kThreadsM * kThreadsN;
  static constexpr int kFragM = TM / 4, kFragN = TN / 4;
  static constexpr int kFragStrideM = BM / kFragM;
  static constexpr int kFragStrideN = BN / kFragN;
  static constexpr int kApad = BM + 4;
  /// Blocks per SM asked of the register allocator: 2 for the big tiles (<= 128 registers),
  /// about 80 registers for the 4x4 ones so memory-bound layers keep more loads in flight.
  static constexpr int kMinBlocks = (TM * TN >= 32) ? 2 : (768 / kThreads);
  static_assert(TM % 4 == 0 && TN % 4 == 0, "thread tiles are made of 4x4 fragments");
  static_assert(BM % TM == 0 && BN % TN == 0, "the block tile must split into thread tiles");
  static_assert(BM % 8 == 0, "the +4 row pad is conflict-free only when BM % 8 == 0");
  static_assert(kThreads % 32 == 0, "blocks are whole warps");
  /// The fused dw+project producer needs pairs of threads per pixel (gemm_plan.h fused_ok).
  static constexpr bool kFusedOk = kThreads % (2 * BM) == 0;
};

/// Instantiates `Body<Shape>` for tile index `tile` of kGemmTiles (same order).
template <template <class> class Body, typename... Args>
void dispatch_tile(int tile, Args&&... args) {
  switch (tile) {
    case 0: Body<TileShape<128, 128, 8, 8>>::run(std::forward<Args>(args)...); break;
    case 1: Body<TileShape<128, 64, 8, 4>>::run(std::forward<Args>(args)...); break;
    case 2: Body<TileShape<64, 128, 4, 8>>::run(std::forward<Args>(args)...); break;
    case 3: Body<TileShape<64, 64, 4, 4>>::run(std::forward<Args>(args)...); break;
    case 4: Body<TileShape<128, 32, 4, 4>>::run(std::forward<Args>(args)...); break;
    case 5: Body<TileShape<64, 32, 4, 4>>::run(std::forward<Args>(args)...); break;
    case 6: Body<TileShape<32, 64, 4, 4>>::run(std::forward<Args>(args)...); break;
    case 7: Body<TileShape<32, 32, 4, 4>>::run(std::forward<Args>(args)...); break;
    case 8: Body<TileShape<256, 32, 8, 4>>::run(std::forward<Args>(args)...); break;
    case 9: Body<TileShape<256, 24, 8, 4>>::run(std::forward<Args>(args)...); break;
    case 10: Body<TileShape<128, 24, 4, 4>>::run(std::forward<Args>(args)...); break;
    case 11: Body<TileShape<128, 96, 8, 8>>::run(std::forward<Args>(args)...); break;
    case 12: Body<TileShape<64, 96, 4, 8>>::run(std::forward<Args>(args)...); break;
    case 13: Body<TileShape<128, 80, 8, 8>>::run(std::forward<Args>(args)...); break;
    case 14: Body<TileShape<64, 80, 4, 8>>::run(std::forward<Args>(args)...); break;
    case 15: Body<TileShape<128, 48, 8, 4>>::run(std::forward<Args>(args)...); break;
    default: throw std::logic_error("dispatch_tile: bad tile index");
  }
}

/// Bias, ReLU6 and residual applied to a tile as it is stored: out = act(acc + bias) + res
/// (the reference's order: activation first, then the residual add).
struct EpilogueParams {
  const float* bias;      ///< >= round_up(N, 4) floats, zero padded
  const float* residual;  ///< [M][N] or null
  float* out;             ///< [M][N]
  int M, N;
  int relu6;
  int vec;  ///< 1 when N % 4 == 0 and out / residual are 16-byte aligned
};

/// Split-K state: partial tiles and one arrival counter per output tile. Counters start at
/// zero (prepare) and the last block of each tile puts its counter back to zero.
struct SplitKParams {
  float* workspace;  ///< [tiles][splits][BM * BN]
  int* counters;     ///< [tiles]
  int splits;
};

/// acc += A[k][rows] x B[k][cols] for one k: (TM/4 + TN/4) float4 shared loads, TM*TN FMAs.
template <class S>
__device__ __forceinline__ void fma_step(const float* a_row, const float* b_row, int tx, int ty,
                                         float (&acc)[S::kTM][S::kTN]) {
  float a[S::kTM], b[S::kTN];
#pragma unroll
  for (int fi = 0; fi < S::kFragM; ++fi) {
    const float4 v = *reinterpret_cast<const float4*>(a_row + fi * S::kFragStrideM + ty * 4);
    a[fi * 4 + 0] = v.x, a[fi * 4 + 1] = v.y, a[fi * 4 + 2] = v.z, a[fi * 4 + 3] = v.w;
  }
#pragma unroll
  for (int fj = 0; fj < S::kFragN; ++fj) {
    const float4 v = *reinterpret_cast<const float4*>(b_row + fj * S::kFragStrideN + tx * 4);
    b[fj * 4 + 0] = v.x, b[fj * 4 + 1] = v.y, b[fj * 4 + 2] = v.z, b[fj * 4 + 3] = v.w;
  }
#pragma unroll
  for (int i = 0; i < S::kTM; ++i)
#pragma unroll
    for (int j = 0; j < S::kTN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
}

/// Split-K fix-up. Every block parks its partial tile in the workspace; the last one to
/// arrive sums all partials in split order (so the result does not depend on which block
/// came last) and returns true: only that block runs the epilogue. Without split-K it
/// returns true at once. Call from all threads of the block.
template <class S>
__device__ __forceinline__ bool splitk_fixup(float (&acc)[S::kTM][S::kTN], const SplitKParams& sk,
                                             int tile_id, int split) {
  if (sk.splits <= 1) return true;
  constexpr int kQuads = S::kTM * S::kTN / 4;  // float4 groups per thread
  constexpr size_t kTileFloats = size_t(S::kBM) * S::kBN;
  const int tid = threadIdx.x;
  __shared__ int s_is_last;

  float4* mine = reinterpret_cast<float4*>(sk.workspace +
                                           (size_t(tile_id) * sk.splits + split) * kTileFloats);
#pragma unroll
  for (int q = 0; q < kQuads; ++q) {
    const int i = q / (S::kTN / 4), j = (q % (S::kTN / 4)) * 4;
    __stcg(mine + size_t(q) * S::kThreads + tid,
           make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]));
  }
  __threadfence();  // partials visible device-wide before the arrival is counted
  __syncthreads();
  if (tid == 0) s_is_last = atomicAdd(sk.counters + tile_id, 1) == sk.splits - 1;
  __syncthreads();
  if (!s_is_last) return false;
  __threadfence();  // acquire: see every other block's partial

  // Re-read every partial, our own included, and add them in split order 0, 1, 2, ... so
  // the sum does not depend on which block arrived last. Rounds of kRound splits: all
  // their loads (<= 8 float4 per thread, or one whole split for the big tiles) are issued
  // before the adds, so a round costs one L2 latency; acc is reused as the sum to keep
  // register pressure at the main loop's level.
  constexpr int kRound = kQuads >= 8 ? 1 : 8 / kQuads;
  const float4* base =
      reinterpret_cast<const float4*>(sk.workspace + size_t(tile_id) * sk.splits * kTileFloats);
#pragma unroll
  for (int i = 0; i < S::kTM; ++i)
#pragma unroll
    for (int j = 0; j < S::kTN; ++j) acc[i][j] = 0.0f;
#pragma unroll 1
  for (int s0 = 0; s0 < sk.splits; s0 += kRound) {
    if constexpr (kRound == 1) {
      const float4* part = base + size_t(s0) * (kTileFloats / 4);
#pragma unroll
      for (int q = 0; q < kQuads; ++q) {
        const int i = q / (S::kTN / 4), j = (q % (S::kTN / 4)) * 4;
        const float4 v = __ldcg(part + size_t(q) * S::kThreads + tid);
        acc[i][j] += v.x, acc[i][j + 1] += v.y, acc[i][j + 2] += v.z, acc[i][j + 3] += v.w;
        // At most 8 loads in flight: keeps the 8x8 tile (64 accumulators) within 128 registers.
        if (q % 8 == 7) asm volatile("" ::: "memory");
      }
    } else {
      float4 v[kRound][kQuads];
#pragma unroll
      for (int r = 0; r < kRound; ++r) {
        const float4* part = base + size_t(s0 + r) * (kTileFloats / 4);
#pragma unroll
        for (int q = 0; q < kQuads; ++q)
          v[r][q] = s0 + r < sk.splits ? __ldcg(part + size_t(q) * S::kThreads + tid)
                                       : make_float4(0.f, 0.f, 0.f, 0.f);
      }
#pragma unroll
      for (int r = 0; r < kRound; ++r)
#pragma unroll
        for (int q = 0; q < kQuads; ++q) {
          const int i = q / (S::kTN / 4), j = (q % (S::kTN / 4)) * 4;
          acc[i][j] += v[r][q].x, acc[i][j + 1] += v[r][q].y;
          acc[i][j + 2] += v[r][q].z, acc[i][j + 3] += v[r][q].w;
        }
    }
  }
  if (tid == 0) sk.counters[tile_id] = 0;  // ready for the next launch (graph replays)
  return true;
}

/// Output row (within the block tile) of register row i of thread row ty: v1 kernels keep
/// 4-row fragments (fi * kFragStrideM + ty * 4 + e, for float4 reads of k-major A); the v2
/// kernel interleaves rows (i * kThreadsM + ty) so that a warp's reads of m-major A hit
/// consecutive rows (kRowsInterleaved).
template <class S, bool kRowsInterleaved>
__device__ __forceinline__ int tile_row(int i, int ty) {
  if constexpr (kRowsInterleaved) return i * S::kThreadsM + ty;
  return (i / 4) * S::kFragStrideM + ty * 4 + (i % 4);
}

/// Output m, columns n .. n + 3 of the epilogue: act(v + bias) + residual, stored as one
/// float4 when ep.vec, else element by element (columns past N skipped).
__device__ __forceinline__ void store_quad(float4 v, int m, int n, const EpilogueParams& ep) {
  if (m >= ep.M) return;
  const size_t row = size_t(m) * size_t(ep.N);
  if (ep.vec) {
    if (n >= ep.N) return;  // N % 4 == 0: the float4 is wholly in or out
    const float4 b = __ldg(reinterpret_cast<const float4*>(ep.bias + n));
    v.x += b.x, v.y += b.y, v.z += b.z, v.w += b.w;
    if (ep.relu6) v = make_float4(relu6(v.x), relu6(v.y), relu6(v.z), relu6(v.w));
    if (ep.residual) {
      const float4 r = __ldg(reinterpret_cast<const float4*>(ep.residual + row + n));
      v.x += r.x, v.y += r.y, v.z += r.z, v.w += r.w;
    }
    *reinterpret_cast<float4*>(ep.out + row + n) = v;
    return;
  }
  const float e[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int f = 0; f < 4; ++f) {
    if (n + f >= ep.N) continue;
    float x = e[f] + __ldg(ep.bias + n + f);
    if (ep.relu6) x = relu6(x);
    if (ep.residual) x += __ldg(ep.residual + row + n + f);
    ep.out[row + n + f] = x;
  }
}

/// Stores a finished tile with bias, optional ReLU6 and optional residual.
template <class S, bool kRowsInterleaved = false>
__device__ __forceinline__ void store_tile(const float (&acc)[S::kTM][S::kTN], int m0, int n0,
                                           int tx, int ty, const EpilogueParams& ep) {
#pragma unroll
  for (int i = 0; i < S::kTM; ++i) {
    const int m = m0 + tile_row<S, kRowsInterleaved>(i, ty);
#pragma unroll
    for (int fj = 0; fj < S::kFragN; ++fj) {
      const int j = fj * 4;
      store_quad(make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]), m,
                 n0 + fj * S::kFragStrideN + tx * 4, ep);
    }
  }
}

/// Split-K inside a thread-block cluster: the cluster's blocks (one per split, the whole
/// cluster one output tile) park their partial tiles in their own shared memory `parked`
/// (>= BM * BN floats, free for reuse), then each block sums 1/splits of the tile from
/// every block's partial, in split order 0, 1, ... (deterministic), and stores it with the
/// epilogue. No global workspace, no atomics, no fences through L2. Call from all threads
/// of every block of the cluster; rows are the v2 kernel's interleaved ones.
template <class S>
__device__ __forceinline__ void cluster_splitk_store(const float (&acc)[S::kTM][S::kTN],
                                                     float* parked, int m0, int n0,
                                                     const EpilogueParams& ep) {
  namespace cg = cooperative_groups;
  constexpr int kQuads = S::kTM * S::kTN / 4;
  constexpr int kT = S::kThreads;
  constexpr int kElems = kQuads * kT;  // float4 per tile
  cg::cluster_group cluster = cg::this_cluster();
  const int tid = threadIdx.x;
  float4* mine = reinterpret_cast<float4*>(parked);
#pragma unroll
  for (int q = 0; q < kQuads; ++q) {
    const int i = q / (S::kTN / 4), j = (q % (S::kTN / 4)) * 4;
    mine[q * kT + tid] = make_float4(acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
  }
  cluster.sync();  // every partial parked and visible cluster-wide

  const int splits = int(cluster.num_blocks());
  const int rank = int(cluster.block_rank());
  const int per = (kElems + splits - 1) / splits;
  const int end = min(kElems, (rank + 1) * per);
  for (int e = rank * per + tid; e < end; e += kT) {
    // Issue every peer's load before the first add: one DSMEM round trip, not `splits`.
    float4 part[kMaxClusterSplits];
#pragma unroll
    for (int s = 0; s < kMaxClusterSplits; ++s)
      if (s < splits) part[s] = cluster.map_shared_rank(mine, s)[e];
    float4 sum = part[0];
#pragma unroll
    for (int s = 1; s < kMaxClusterSplits; ++s)
      if (s < splits) sum.x += part[s].x, sum.y += part[s].y, sum.z += part[s].z, sum.w += part[s].w;
    const int q = e / kT, t = e % kT;
    const int i = q / (S::kTN / 4), fj = q % (S::kTN / 4);
    const int ty = t / S::kThreadsN, tx = t % S::kThreadsN;
    store_quad(sum, m0 + tile_row<S, true>(i, ty), n0 + fj * S::kFragStrideN + tx * 4, ep);
  }
  cluster.sync();  // no block leaves while a peer may still read its shared memory
}

}  // namespace mbv2::custom
