// Device building blocks shared by the pointwise GEMM (pointwise_conv.cu) and the fused
// depthwise+project kernel (fused_block.cu): the thread-tile geometry, the shared-memory
// FMA step, the fused epilogue and the deterministic split-K fix-up.
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
};

/// Instantiates `Body<Shape>` for tile index `tile` of kGemmTiles.
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
  // the sum does not depend on which block arrived last. Splits outer, quads inner: one
  // round of kQuads independent float4 loads per split; acc is reused as the sum to keep
  // register pressure at the main loop's level.
  const float4* base =
      reinterpret_cast<const float4*>(sk.workspace + size_t(tile_id) * sk.splits * kTileFloats);
#pragma unroll
  for (int i = 0; i < S::kTM; ++i)
#pragma unroll
    for (int j = 0; j < S::kTN; ++j) acc[i][j] = 0.0f;
#pragma unroll 1
  for (int s = 0; s < sk.splits; ++s) {
    const float4* part = base + size_t(s) * (kTileFloats / 4);
#pragma unroll
    for (int q = 0; q < kQuads; ++q) {
      const int i = q / (S::kTN / 4), j = (q % (S::kTN / 4)) * 4;
      const float4 v = __ldcg(part + size_t(q) * S::kThreads + tid);
      acc[i][j] += v.x, acc[i][j + 1] += v.y, acc[i][j + 2] += v.z, acc[i][j + 3] += v.w;
      // At most 8 loads in flight: keeps the 8x8 tile (64 accumulators) within 128 registers.
      if (q % 8 == 7) asm volatile("" ::: "memory");
    }
  }
  if (tid == 0) sk.counters[tile_id] = 0;  // ready for the next launch (graph replays)
  return true;
}

/// Stores a finished tile with bias, optional ReLU6 and optional residual.
template <class S>
__device__ __forceinline__ void store_tile(const float (&acc)[S::kTM][S::kTN], int m0, int n0,
                                           int tx, int ty, const EpilogueParams& ep) {
#pragma unroll
  for (int fi = 0; fi < S::kFragM; ++fi) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = fi * 4 + e;
      const int m = m0 + fi * S::kFragStrideM + ty * 4 + e;
      if (m >= ep.M) continue;
      const size_t row = size_t(m) * size_t(ep.N);
#pragma unroll
      for (int fj = 0; fj < S::kFragN; ++fj) {
        const int n = n0 + fj * S::kFragStrideN + tx * 4;
        const int j = fj * 4;
        if (ep.vec) {
          if (n >= ep.N) continue;  // N % 4 == 0: the float4 is wholly in or out
          const float4 b = __ldg(reinterpret_cast<const float4*>(ep.bias + n));
          float4 v = make_float4(acc[i][j] + b.x, acc[i][j + 1] + b.y, acc[i][j + 2] + b.z,
                                 acc[i][j + 3] + b.w);
          if (ep.relu6) v = make_float4(relu6(v.x), relu6(v.y), relu6(v.z), relu6(v.w));
          if (ep.residual) {
            const float4 r = __ldg(reinterpret_cast<const float4*>(ep.residual + row + n));
            v.x += r.x, v.y += r.y, v.z += r.z, v.w += r.w;
          }
          *reinterpret_cast<float4*>(ep.out + row + n) = v;
        } else {
#pragma unroll
          for (int f = 0; f < 4; ++f) {
            if (n + f >= ep.N) continue;
            float v = acc[i][j + f] + __ldg(ep.bias + n + f);
            if (ep.relu6) v = relu6(v);
            if (ep.residual) v += __ldg(ep.residual + row + n + f);
            ep.out[row + n + f] = v;
          }
        }
      }
    }
  }
}

}  // namespace mbv2::custom
