// Register-tiled GEMM on operands staged in shared memory, shared by the fused block kernels
// (ir_block.cu: a cluster per band of rows; tile_block.cu: one block per 2-D output tile).
//
// Versions:
//   v1  moved out of ir_block.cu unchanged (ir_block v2's TM x 4 tile loop and its
//       pipe-aware TM estimate), with the thread count as a template parameter.
//   v2  kPairs: the lanes of a warp take the thread tiles in 2 x 2 quads (CUTLASS's
//       RowMajorInterleaved<2> SIMT lane layout): lanes 2j and 2j+1 share the quad of B
//       columns, lanes 4j+i and 4j+i+2 the rows of A, and a tile's TM rows are strided by the
//       number of row tiles (rows m, m + Mt, ...) so that the distinct rows a warp reads are
//       neighbours (padded rows: different banks). Why: shared memory returns 128 bytes per
//       cycle, so a warp-wide LDS.128 costs 4 cycles whatever its broadcasts, unless thread
//       pairs (n, n^1) or (n, n^2) read the same address, when it costs 2 (LDS.U). The
//       session-5 profile of the fused blocks measured 3.2-3.5 wavefronts per LDS.128, and
//       the TM 4 loop issues 8 of them per 64 FMAs: the GEMM phases were bound by the
//       shared-memory return path, not by the FMA pipes. Each output still comes from one
//       thread with the same k order: the results are bit-identical to v1's. ptxas (CUDA
//       13.0, sm_90) emits no LDS.U for it (cuobjdump); measured on the H200 it is still
//       faster at TM 2 (and, with the TM estimate at 2 cycles per load, picks TM 2 more
//       often) and at TM 4 in the tile kernel's expand, slower at TM 4 in the cluster kernel:
//       kGemmMixed takes quads below TM 4 only (custom/NOTES.md, session 8).
//   v3  the K-remainder loop (at most 3 k; none where K % 4 == 0) not unrolled: nvcc unrolled
//       it 4 times in every TM variant, a fifth of the block kernels' code. With the general
//       (run-time TM) kernels, H200 b1 148.74 vs 151.10 µs for main (session 10; code size is
//       what moved, see ir_block v2.8).
//   Tried and reverted: an 8-row thread tile for the tile kernel's expand (12 shared loads
//       per 128 FMAs instead of 8 per 64; predicted -0.4 µs per tile block). H200 b1,
//       session 9 run C: quads 152.1 vs 151.2 µs (expand 3.12 -> 3.42 µs in 3-5, 2.59 ->
//       3.32 in 6-8), rows 151.3: the expand phase is not bound by the loads' count.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "custom/kernel_common.cuh"

namespace mbv2::custom {

__device__ __forceinline__ float4 f4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ void st4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ __forceinline__ float4 relu6_4(float4 v) {
  return make_float4(relu6(v.x), relu6(v.y), relu6(v.z), relu6(v.w));
}
__device__ __forceinline__ float4 add4(float4 a, float4 b) {
  return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
}

// acc[i] += sum_{k0 <= k < k1} a[i][k] * b[k * ldb + 0..3], k in increasing order (k1 >= k0):
// the register-tile inner loop of every GEMM below (4 k per step, then the remainder).
template <int TM>
__device__ __forceinline__ void tile_accumulate(const float* const (&a)[TM], const float* b, int ldb,
                                                int k0, int k1, float4 (&acc)[TM]) {
  const int k4 = k0 + ((k1 - k0) & ~3);
#pragma unroll 2
  for (int k = k0; k < k4; k += 4) {
    const float4 b0 = f4(b + (k + 0) * ldb), b1 = f4(b + (k + 1) * ldb);
    const float4 b2 = f4(b + (k + 2) * ldb), b3 = f4(b + (k + 3) * ldb);
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const float4 av = f4(a[i] + k);
      float4& c = acc[i];
      c.x = fmaf(av.x, b0.x, c.x), c.y = fmaf(av.x, b0.y, c.y), c.z = fmaf(av.x, b0.z, c.z), c.w = fmaf(av.x, b0.w, c.w);
      c.x = fmaf(av.y, b1.x, c.x), c.y = fmaf(av.y, b1.y, c.y), c.z = fmaf(av.y, b1.z, c.z), c.w = fmaf(av.y, b1.w, c.w);
      c.x = fmaf(av.z, b2.x, c.x), c.y = fmaf(av.z, b2.y, c.y), c.z = fmaf(av.z, b2.z, c.z), c.w = fmaf(av.z, b2.w, c.w);
      c.x = fmaf(av.w, b3.x, c.x), c.y = fmaf(av.w, b3.y, c.y), c.z = fmaf(av.w, b3.z, c.z), c.w = fmaf(av.w, b3.w, c.w);
    }
  }
#pragma unroll 1  // at most 3 k (none where K % 4 == 0): unrolled, it only adds code
  for (int k = k4; k < k1; ++k) {
    const float4 bk = f4(b + k * ldb);
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      const float av = a[i][k];
      float4& c = acc[i];
      c.x = fmaf(av, bk.x, c.x), c.y = fmaf(av, bk.y, c.y), c.z = fmaf(av, bk.z, c.z), c.w = fmaf(av, bk.w, c.w);
    }
  }
}

// Which thread takes which TM-row x 4-column tile of an M x 4 NQ product. Lane rows (v1): item
// t = thread + j * kThreads is quad t % NQ, rows (t / NQ) TM + 0..TM-1. kPairs (v2): threads in
// fours, item u = thread / 4 + j * kThreads / 4; thread 4u' + 2b + a takes quad 2 (u % NQ2) + b
// and row tile mt = 2 (u / NQ2) + a, rows mt, mt + Mt, ..., mt + (TM - 1) Mt (Mt = ceil(M /
// TM)): the B address depends on threadIdx.x >> 1 only and the A addresses not on bit 1.
template <int TM, int kThreads, bool kPairs>
struct TileWalk {
  static_assert(kThreads % 32 == 0, "whole warps");
  static constexpr int kStep = kPairs ? kThreads / 4 : kThreads;  ///< item stride per thread
  int NQ, mt_n, nq2;
  int items;  ///< items per product; thread-local walk: first(), += kStep, < items
  __device__ __forceinline__ TileWalk(int M, int nq)
      : NQ(nq), mt_n((M + TM - 1) / TM), nq2((nq + 1) >> 1),
        items(kPairs ? ((mt_n + 1) >> 1) * nq2 : mt_n * nq) {}
  __device__ __forceinline__ static int first() {
    return kPairs ? int(threadIdx.x) >> 2 : int(threadIdx.x);
  }
  /// Quad, first row and row stride of item t; false for the pair layout's padding items.
  __device__ __forceinline__ bool at(int t, int* q, int* m0, int* mstep) const {
    if constexpr (kPairs) {
      *q = 2 * (t % nq2) + ((int(threadIdx.x) >> 1) & 1);
      *m0 = 2 * (t / nq2) + (int(threadIdx.x) & 1);
      *mstep = mt_n;
      return *q < NQ && *m0 < mt_n;
    } else {
      *q = t % NQ, *m0 = (t / NQ) * TM, *mstep = 1;
      return true;
    }
  }
};

// C[m][4q..4q+3] = sum_{k < K} A[m][k] * B[k][4q..4q+3] for m < M, q < NQ, handed to
// epi(m, q, value). A: shared memory, row stride lda (multiple of 4, columns up to
// round-up-4(K) readable). B: shared or global, row stride ldb (multiple of 4), rows < K
// only are read. Each of the kThreads threads takes TM rows x one quad at a time, in the
// TileWalk layout (kPairs: v2's 2 x 2 quads).
template <int TM, int kThreads, bool kPairs, class Epi>
__device__ __forceinline__ void tile_gemm(const float* A, int lda, const float* B, int ldb, int M,
                                          int NQ, int K, Epi&& epi) {
  const TileWalk<TM, kThreads, kPairs> walk(M, NQ);
  for (int t = walk.first(); t < walk.items; t += walk.kStep) {
    int q, m0, mstep;
    if (!walk.at(t, &q, &m0, &mstep)) continue;
    const float* a[TM];
#pragma unroll
    for (int i = 0; i < TM; ++i) a[i] = A + min(m0 + i * mstep, M - 1) * lda;
    float4 acc[TM];
#pragma unroll
    for (int i = 0; i < TM; ++i) acc[i] = make_float4(0.f, 0.f, 0.f, 0.f);
    tile_accumulate<TM>(a, B + 4 * q, ldb, 0, K, acc);
#pragma unroll
    for (int i = 0; i < TM; ++i)
      if (m0 + i * mstep < M) epi(m0 + i * mstep, q, acc[i]);
  }
}

// Lane layouts of smem_gemm: v1 lane rows, v2 2 x 2 quads, or quads for TM 1 / 2 and rows for
// TM 4 (the H200's phase traces of the fused blocks: quads faster at TM 2, rows at TM 4).
enum GemmLayout : int { kGemmRows = 0, kGemmPairs = 1, kGemmMixed = 2 };
constexpr bool gemm_pairs_at(int layout, int tm) {
  return layout == kGemmPairs || (layout == kGemmMixed && tm < 4);
}

// tm: 1, 2, 4 pixels per thread tile, chosen at run time; or kTm > 0: TM fixed at compile
// time, `tm` ignored (one tile loop instead of three: less code, the same arithmetic; the
// block kernels' fixed-TM builds). kLayout: a GemmLayout.
template <int kThreads, int kLayout = kGemmRows, int kTm = 0, class Epi>
__device__ __forceinline__ void smem_gemm(int tm, const float* A, int lda, const float* B, int ldb,
                                          int M, int NQ, int K, Epi&& epi) {
  if constexpr (kTm > 0) {
    tile_gemm<kTm, kThreads, gemm_pairs_at(kLayout, kTm)>(A, lda, B, ldb, M, NQ, K, epi);
  } else if (tm >= 4) {
    if constexpr (gemm_pairs_at(kLayout, 4))
      tile_gemm<4, kThreads, true>(A, lda, B, ldb, M, NQ, K, epi);
    else
      tile_gemm<4, kThreads, false>(A, lda, B, ldb, M, NQ, K, epi);
  } else if (tm == 2) {
    if constexpr (gemm_pairs_at(kLayout, 2))
      tile_gemm<2, kThreads, true>(A, lda, B, ldb, M, NQ, K, epi);
    else
      tile_gemm<2, kThreads, false>(A, lda, B, ldb, M, NQ, K, epi);
  } else {
    if constexpr (gemm_pairs_at(kLayout, 1))
      tile_gemm<1, kThreads, true>(A, lda, B, ldb, M, NQ, K, epi);
    else
      tile_gemm<1, kThreads, false>(A, lda, B, ldb, M, NQ, K, epi);
  }
}

// Rows per thread tile (4, 2 or 1) for an M x (4 NQ) x K product on `threads` threads. A step
// of 4 k costs each thread 4 B + tm A float4 shared loads and 16 tm FMAs; the estimate (SM
// cycles) is the largest of the shared-memory pipe (lds_cycles per warp-wide 16-byte load: 4,
// or 2 where the pairs layout lets thread pairs share an address), the
// FMA pipes (4 warp FMAs per cycle) and one thread's dependent chain (~30 cycles of load
// latency + its FMAs per step). The first H200 profile (pure per-thread instruction count,
// tm 1) was bound by the shared-memory pipe.
inline int pick_smem_tm(int m, int nq, int k, int threads, int lds_cycles = 4) {
  int best = 4;
  int64_t best_cost = -1;
  const int64_t steps = (k + 3) / 4;
  for (int tm : {4, 2, 1}) {
    const int64_t tiles = int64_t((m + tm - 1) / tm) * nq;
    const int64_t warps = (tiles + 31) / 32;
    const int64_t rounds = (tiles + threads - 1) / threads;
    const int64_t lds = warps * steps * (4 + tm) * lds_cycles;
    const int64_t fma = warps * steps * 16 * tm / 4;
    const int64_t chain = rounds * steps * (30 + 16 * tm);
    const int64_t cost = std::max({lds, fma, chain});
    if (best_cost < 0 || cost < best_cost) best = tm, best_cost = cost;
  }
  return best;
}

}  // namespace mbv2::custom
