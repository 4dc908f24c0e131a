// Fused depthwise 3x3 + project 1x1 (the second half of an inverted-residual block), used by
// forward() when fusion is on.
//
// Versions:
//   v1  The projection GEMM of gemm_core.cuh with a depthwise "A producer": per chunk of KC
//       hidden channels (48, or 32 for the widest tile) a block computes the depthwise
//       output of its BM pixels straight into shared memory (k-major, As[KC][BM + 4]),
//       stages the matching KC x BN slice of the projection weights, then runs KC FMA
//       steps from shared memory. The depthwise tensor is never written to or read from
//       DRAM (at batch 256 that saves 2 x its size per block: ~0.25 ms for block 2 alone)
//       and one launch per block disappears. Split-K over the hidden channels with the
//       same deterministic fix-up fills the GPU at batch 1.
//       Producer mapping: each thread keeps one pixel for the whole kernel (so its input
//       coordinates are computed once) and takes every (T/BM)-th float4 channel quad;
//       pairs of threads share a pixel, so a warp reads 16 pixels x 32 contiguous bytes
//       (whole sectors) per tap and writes 32 distinct shared-memory banks.
//   v1.1 Instantiated only for the tiles with fused_ok() (whole thread pairs per pixel);
//       the v2 tile table's other tiles throw if a plan ever names them.
#include "custom/fused_block.h"

#include "common/util.h"
#include "custom/gemm_core.cuh"
#include "custom/pointwise_conv.h"

namespace mbv2::custom {

// ----------------------------------------------------------------------------
// kernel

struct DwProjectParams {
  const float* x;     // [N][H][W][C]
  const float* dw_w;  // [9][ldc]
  const float* dw_b;  // [ldc]
  const float* wt;    // [C][ldb]
  int H, W, C, OH, OW, stride, pad, dw_relu6, ldc, ldb;
  int chunks_per_split;
  EpilogueParams ep;
  SplitKParams sk;
};

// The depthwise producer needs ~30 registers more than the plain GEMM's A loader: ask for
// 2 blocks of 256 threads (or 512 threads' worth) per SM, i.e. up to 128 registers.
template <class S>
constexpr int kFusedMinBlocks = S::kThreads >= 256 ? 2 : 512 / S::kThreads;

template <class S, bool kSplitK>
__global__ void __launch_bounds__(S::kThreads, kFusedMinBlocks<S>) dw_project_kernel(const DwProjectParams p) {
  constexpr int BM = S::kBM, BN = S::kBN, T = S::kThreads;
  constexpr int KC = fused_chunk_channels(BM, BN);
  constexpr int kQuads = KC / 4;          // channel quads per chunk
  constexpr int kQuadStep = T / BM;       // threads per pixel
  constexpr int kItems = (kQuads + kQuadStep - 1) / kQuadStep;
  static_assert(T % (2 * BM) == 0, "pairs of threads per pixel, whole pixel sets per block");
  static_assert(KC % 8 == 0, "chunks hold whole pairs of channel quads");
  constexpr int kBItems = KC * BN / 4;

  __shared__ __align__(16) float As[KC][S::kApad];
  __shared__ __align__(16) float Bs[KC][BN];

  const int tid = threadIdx.x;
  const int tx = tid % S::kThreadsN, ty = tid / S::kThreadsN;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, split = blockIdx.z;
  const int M = p.ep.M, C = p.C;

  // This thread's producer pixel and first channel quad.
  const int r = (tid >> 1) % BM;
  const int q0 = ((tid >> 1) / BM) * 2 + (tid & 1);
  const int m = m0 + r;
  const bool m_ok = m < M;
  int ih0 = 0, iw0 = 0;
  const float* x_img = p.x;
  if (m_ok) {
    const int ow = m % p.OW, rest = m / p.OW;
    const int oh = rest % p.OH, img = rest / p.OH;
    ih0 = oh * p.stride - p.pad;
    iw0 = ow * p.stride - p.pad;
    x_img = p.x + size_t(img) * p.H * p.W * C;
  }

  const int chunks = (C + KC - 1) / KC;
  const int ch_begin = split * p.chunks_per_split;
  const int ch_end = min(chunks, ch_begin + p.chunks_per_split);

  pdl_wait();
  float acc[S::kTM][S::kTN] = {};
  for (int ch = ch_begin; ch < ch_end; ++ch) {
    const int kc0 = ch * KC;
    // Projection weights for these KC channels.
#pragma unroll
    for (int l = 0; l < (kBItems + T - 1) / T; ++l) {
      const int f = tid + l * T;
      if (f >= kBItems) break;
      const int kr = f / (BN / 4), col = (f % (BN / 4)) * 4;
      const int k = kc0 + kr, n = n0 + col;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (k < C && n < p.ldb) v = __ldg(reinterpret_cast<const float4*>(p.wt + size_t(k) * p.ldb + n));
      *reinterpret_cast<float4*>(&Bs[kr][col]) = v;
    }
    // Depthwise outputs of this block's pixels for these KC channels.
#pragma unroll 2
    for (int it = 0; it < kItems; ++it) {
      const int q = q0 + it * kQuadStep;
      if (q >= kQuads) break;
      const int c = kc0 + q * 4;
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (m_ok && c < C) {  // C % 4 == 0: the quad is wholly in or out
        v = __ldg(reinterpret_cast<const float4*>(p.dw_b + c));
#pragma unroll
        for (int kh = 0; kh < 3; ++kh) {
          const int ih = ih0 + kh;
          if (unsigned(ih) >= unsigned(p.H)) continue;
#pragma unroll
          for (int kw = 0; kw < 3; ++kw) {
            const int iw = iw0 + kw;
            if (unsigned(iw) >= unsigned(p.W)) continue;
            const float4 xv =
                __ldg(reinterpret_cast<const float4*>(x_img + (size_t(ih) * p.W + iw) * C + c));
            const float4 wv =
                __ldg(reinterpret_cast<const float4*>(p.dw_w + (kh * 3 + kw) * p.ldc + c));
            v.x = fmaf(xv.x, wv.x, v.x);
            v.y = fmaf(xv.y, wv.y, v.y);
            v.z = fmaf(xv.z, wv.z, v.z);
            v.w = fmaf(xv.w, wv.w, v.w);
          }
        }
        if (p.dw_relu6) v = make_float4(relu6(v.x), relu6(v.y), relu6(v.z), relu6(v.w));
      }
      As[q * 4 + 0][r] = v.x;
      As[q * 4 + 1][r] = v.y;
      As[q * 4 + 2][r] = v.z;
      As[q * 4 + 3][r] = v.w;
    }
    __syncthreads();
#pragma unroll 8
    for (int k = 0; k < KC; ++k) fma_step<S>(&As[k][0], &Bs[k][0], tx, ty, acc);
    __syncthreads();  // the next chunk overwrites As / Bs
  }
  pdl_launch_dependents();
  if constexpr (kSplitK) {
    if (!splitk_fixup<S>(acc, p.sk, blockIdx.y * gridDim.x + blockIdx.x, split)) return;
  }
  store_tile<S>(acc, m0, n0, tx, ty, p.ep);
}

// ----------------------------------------------------------------------------
// host side

template <class S>
struct LaunchDwProject {
  static void run(const GemmPlan& plan, const DwProjectParams& params, cudaStream_t stream,
                  bool pdl) {
    if constexpr (!S::kFusedOk) {
      throw std::logic_error("dw+project: tile " + tile_name(plan.tile) + " is not fusable");
    } else {
      run_fused(plan, params, stream, pdl);
    }
  }
  static void run_fused(const GemmPlan& plan, const DwProjectParams& params, cudaStream_t stream,
                        bool pdl) {
    const dim3 grid(unsigned(plan.tiles_m), unsigned(plan.tiles_n), unsigned(plan.splits));
    if (plan.splits > 1)
      launch_kernel(dw_project_kernel<S, true>, grid, dim3(S::kThreads), 0, stream, pdl, params);
    else
      launch_kernel(dw_project_kernel<S, false>, grid, dim3(S::kThreads), 0, stream, pdl, params);
  }
};

bool dw_project_fusable(const DwProjectArgs& a) {
  return a.c % 4 == 0 && aligned16(a.x) && aligned16(a.out) &&
         (a.residual == nullptr || aligned16(a.residual)) && a.n_out > 0 &&
         int64_t(a.n) * a.oh * a.ow < (int64_t(1) << 31);
}

void launch_dw_project(const GemmPlan& plan, const DwProjectArgs& a, cudaStream_t stream, bool pdl) {
  if (!a.x || !a.dw_w || !a.dw_b || !a.wt || !a.bias || !a.out)
    throw InputError("dw+project: null pointer");
  if (!dw_project_fusable(a)) throw std::logic_error("dw+project: shape or pointers not fusable");
  const int64_t m = int64_t(a.n) * a.oh * a.ow;
  if (plan.tile < 0 || plan.tile >= kGemmTileCount || !kGemmTiles[plan.tile].fused_ok())
    throw std::logic_error("dw+project: plan names no fusable tile");
  const GemmTile& t = kGemmTiles[plan.tile];
  const int kc = fused_chunk_channels(t.bm, t.bn);
  if (plan.granule != kc || plan.tiles_m != ceil_div<int64_t>(m, t.bm) ||
      plan.tiles_n != ceil_div(a.n_out, t.bn) || plan.splits < 1 ||
      int64_t(plan.splits) * plan.granules_per_split < ceil_div(a.c, kc))
    throw std::logic_error("dw+project: plan does not match the problem");
  if (plan.splits > 1 && (!a.workspace || !a.counters))
    throw std::logic_error("dw+project: split-K plan without workspace");

  DwProjectParams p;
  p.x = a.x, p.dw_w = a.dw_w, p.dw_b = a.dw_b, p.wt = a.wt;
  p.H = a.h, p.W = a.w, p.C = a.c, p.OH = a.oh, p.OW = a.ow;
  p.stride = a.stride, p.pad = a.pad, p.dw_relu6 = a.dw_relu6 ? 1 : 0;
  p.ldc = padded4(a.c), p.ldb = padded4(a.n_out);
  p.chunks_per_split = plan.granules_per_split;
  p.ep.bias = a.bias;
  p.ep.residual = a.residual;
  p.ep.out = a.out;
  p.ep.M = int(m);
  p.ep.N = a.n_out;
  p.ep.relu6 = a.relu6 ? 1 : 0;
  p.ep.vec = a.n_out % 4 == 0 ? 1 : 0;  // pointers checked by dw_project_fusable
  p.sk.workspace = a.workspace;
  p.sk.counters = a.counters;
  p.sk.splits = plan.splits;
  dispatch_tile<LaunchDwProject>(plan.tile, plan, p, stream, pdl);
}

}  // namespace mbv2::custom
