// A whole inverted-residual block (expand 1x1 + ReLU6 -> depthwise 3x3 + ReLU6 -> project
// 1x1 + bias [+ residual]) per 2-D tile of output pixels, one thread block per tile holding
// every hidden channel, for forward() at small batch.
//
// Why: ir_block.cu splits the hidden channels over a cluster and cuts the image into bands
// of whole rows; for the 112x112 / 56x56 blocks of batch 1 (16-24 input, 96-144 hidden
// channels) the bands' halo rows are as wide as the image, and the front of the network
// (blocks 3-5 .. 9-11) ran either as 3 kernels each or as cluster kernels that cost more
// than the three (custom/NOTES.md). A 4x7 tile of a 56x56 output needs a 9x15 input window:
// 135 pixels x 96 hidden channels fit one SM's shared memory, the block's weights are
// 10-20 KB, and nothing is reduced across blocks.
//
// Versions:
//   v1  One block of 512 threads per (image, th x tw output tile). Before the PDL wait:
//       cp.async of the expand and depthwise weights and all biases (constant). After it:
//       the input window (zeros outside the image), then the projection weights as a
//       second group (waited for only before the projection, ir_block v2.5's order). Expand
//       GEMM of the window (pixels outside the image set to 0 = the depthwise padding),
//       depthwise of the tile from shared memory (no bounds checks: the window holds the
//       padding), projection GEMM with bias, residual (from the staged window) and store in
//       its epilogue. All GEMMs: smem_gemm.cuh (TM x 4 register tiles, pipe-aware TM).
//       The planner takes the tile with the least estimated time: waves x (a block's FMAs /
//       64 per cycle + 4000 cycles per wave). H200 batch 1 (CUDA graph, same session): blocks
//       3-5 by tiles 160.4 vs 164.0 µs; 3-5, 6-8, 9-11: 158.2; + the 28x28 blocks 12-20:
//       160.0 (their 48 KB of weights per block, against 6 KB per block of a cluster
//       slice); + the 14x14 blocks with 384 hidden channels: 200.8.
//   v1.1 kExpand = false: a block without the expand layer (MobileNetV2's first block,
//       depthwise + project after the stem): the input window goes straight into the
//       expanded-window array.
//   Phase trace (MBV2_CUSTOM_TRACE=1, tools/mbv2_ir_trace): kTrace instantiations stamp
//       clock64 at kTileTracePoints points (the default kernels are separate instances).
//       H200 batch 1: the projection takes 2.2-2.9 µs in every tile block, 56-84 thread
//       tiles of 512 threads each running a 24-36-step chain (custom/NOTES.md, session 7).
//   v1.3 the expand's epilogue without the per-element image test: edge
//       tiles zero their outside pixels in a pass after the GEMM (3-5: 816 tiles x 4
//       elements had a runtime division each; the expand took 3.7 µs).
//   v1.2 the projection's K split `ksplit` ways over the idle threads:
//       partial products into shared memory [ksplit][pixels][ldo], summed in split order in
//       the store loop (deterministic). Planner: the most splits (8, 4, 2) that keep every
//       (split, tile) item on its own thread and >= 16 k per split. Prediction: ~2.5 ->
//       ~0.8 µs per tile block; measured 2.8 -> 2.4 µs (H200 b1 end to end 157.7 -> 157.6).
//   v1.4 GEMM lane layout as a template parameter (smem_gemm.cuh v2); default 2 x 2 quads
//       with v1's TM estimate: the expand 3.57 -> 3.11 µs (3-5), 2.82 -> 2.40 (9-11) on the
//       H200 at batch 1.
//   v1.5 no K split of the projection below K = 64 (the first block's K = 32: 2.16 µs
//       unsplit vs 2.55 in 2 splits); predicted -0.4 µs at batch 1, measured -0.44 (H200 b1,
//       session 9 run B: 151.10 / 151.19 / 151.08 vs 151.58 / 151.61 / 151.48 without).
//   v1.6 kernels compiled for the batch-1 plans' TMs (expand 4 with projection 2 or 1,
//       projection 4 without expand; quads layout): 53-59 KB of SASS instead of 75-100 KB
//       (ir_block v2.8 says why). H200 b1, session 10: 145.58 vs 148.07 µs with the general
//       tile kernel (the cluster kernel fixed in both).
//   v1.7 the thread-strided loops not unrolled (ir_block v2.9): 37-43 KB of SASS for the
//       fixed kernels instead of 53-59 (the weight-issue phase 0.86 -> 0.49 µs in 3-5).
//   v1.8 the fixed-TM kernels only for channel counts that are multiples of 4, without the
//       scalar staging and store paths: 34-39 KB (with ir_block v2.10, H200 b1 139.90 vs
//       141.40 µs, session 10).
#include "custom/tile_block.h"

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <stdexcept>

#include "common/util.h"
#include "custom/cp_async.cuh"
#include "custom/kernel_common.cuh"
#include "custom/pointwise_conv.h"
#include "custom/smem_gemm.cuh"

namespace mbv2::custom {

namespace {

// Float offsets of the kernel's shared-memory arrays (all multiples of 4 floats). Rows of X,
// E and D are padded by 4 floats (ir_block v2: neighbouring pixels' float4s in different banks).
struct TbSmem {
  int x, we, be, wd, bd, pb, e, d, part, wp, total;
};

__host__ __device__ inline TbSmem tb_smem_layout(int in_px, int out_px, int cin4, int ldh, int ldo,
                                                 bool stage_project, bool expand, int ksplit) {
  TbSmem s;
  int o = 0;
  s.x = o, o += expand ? in_px * (cin4 + 4) : 0;  // input window [in_px][cin4 + 4]
  s.we = o, o += expand ? cin4 * ldh : 0;         // expand weights [cin4][ldh]
  s.be = o, o += expand ? ldh : 0;                // expand bias
  s.wd = o, o += 9 * ldh;            // depthwise taps [9][ldh]
  s.bd = o, o += ldh;                // depthwise bias
  s.pb = o, o += ldo;                // projection bias
  s.e = o, o += in_px * (ldh + 4);   // expanded window [in_px][ldh + 4]
  s.d = o, o += out_px * (ldh + 4);  // depthwise tile  [out_px][ldh + 4]
  s.part = o, o += ksplit > 1 ? ksplit * out_px * ldo : 0;  // projection partials [ksplit][out_px][ldo]
  s.wp = o, o += stage_project ? ldh * ldo : 0;  // projection weights [ldh][ldo]
  s.total = o;
  return s;
}

struct TbParams {
  IrBlockArgs a;
  int h, w, cin, ch, oh, ow, cout, stride, pad;
  int th, tw, in_th, in_tw, tiles_w, tiles_per_image;
  int cin4, ldh, ldo, tm_expand, tm_project, ksplit, kc;
  int stage_project, expand_relu6, dw_relu6, project_relu6, vec_out, residual;
  TbSmem sm;
};

// The projection with K split `ks` ways: item t = (split s, tile) on its own thread, tiles in
// smem_gemm.cuh's TileWalk layout, k in [s * kc, min(K, (s + 1) * kc)) (kc a multiple of 4,
// every split non-empty: launch_tile_block checks), partial sums to P[s][m][4 * NQ].
template <int TM, bool kPairs>
__device__ __forceinline__ void tb_project_ksplit(const float* A, int lda, const float* B, int ldb,
                                                  int M, int NQ, int K, int ks, int kc, float* P) {
  const TileWalk<TM, kTileBlockThreads, kPairs> walk(M, NQ);
  for (int t = walk.first(); t < walk.items * ks; t += walk.kStep) {
    const int s = t / walk.items;
    int q, m0, mstep;
    if (!walk.at(t - s * walk.items, &q, &m0, &mstep)) continue;
    const float* a[TM];
#pragma unroll
    for (int i = 0; i < TM; ++i) a[i] = A + min(m0 + i * mstep, M - 1) * lda;
    float4 acc[TM];
#pragma unroll
    for (int i = 0; i < TM; ++i) acc[i] = make_float4(0.f, 0.f, 0.f, 0.f);
    tile_accumulate<TM>(a, B + 4 * q, ldb, s * kc, min(K, (s + 1) * kc), acc);
#pragma unroll
    for (int i = 0; i < TM; ++i)
      if (m0 + i * mstep < M) st4(P + (size_t(s) * M + m0 + i * mstep) * (4 * NQ) + 4 * q, acc[i]);
  }
}

// Phase trace (kTrace instantiations only; layout of IrBlockArgs::trace): kernel_common.cuh.
template <bool kTrace>
__device__ __forceinline__ void tb_trace(const TbParams& p, int k) {
  if constexpr (kTrace) trace_stamp(p.a.trace, kIrTraceWords, k, kTileTracePoints - 1);
}

// kExpand = false: no expand layer; the input window is staged into `es` directly. kTmE /
// kTmP: the expand's / projection's TM fixed at compile time (0: chosen at run time).
template <bool kExpand, bool kTrace, int kLayout, int kTmE, int kTmP>
__global__ void __launch_bounds__(kTileBlockThreads, 1) tile_block_kernel(const TbParams p) {
  constexpr int T = kTileBlockThreads;
  extern __shared__ __align__(16) float smem[];
  // The next kernel's blocks may take the SMs this grid leaves idle and stage their weights
  // (ir_block v2.2).
  pdl_launch_dependents();
  tb_trace<kTrace>(p, 0);
  const int tid = threadIdx.x;
  float* const xs = smem + p.sm.x;
  float* const we = smem + p.sm.we;
  float* const be = smem + p.sm.be;
  float* const wd = smem + p.sm.wd;
  float* const bd = smem + p.sm.bd;
  float* const pb = smem + p.sm.pb;
  float* const es = smem + p.sm.e;
  float* const ds = smem + p.sm.d;
  float* const wp = smem + p.sm.wp;
  const int cq = p.ldh / 4, oq = p.ldo / 4;
  const int ldx = p.cin4 + 4, lde = p.ldh + 4;

  // (1) Constant weights and biases, before waiting for the previous kernel. The packed
  // arrays are contiguous ([Cin][ldh], [9][ldh], [ldh]): flat copies; expand rows past Cin
  // zero-filled.
  {
    if constexpr (kExpand) {
      const int n = p.cin4 * cq, valid = p.cin * cq;
#pragma unroll 1
      for (int f = tid; f < n; f += T) cp_async16(we + 4 * f, p.a.expand_w + 4 * (f < valid ? f : 0), f < valid);
#pragma unroll 1
      for (int f = tid; f < cq; f += T) cp_async16(be + 4 * f, p.a.expand_b + 4 * f, true);
    }
#pragma unroll 1
    for (int f = tid; f < 9 * cq; f += T) cp_async16(wd + 4 * f, p.a.dw_w + 4 * f, true);
#pragma unroll 1
    for (int f = tid; f < cq; f += T) cp_async16(bd + 4 * f, p.a.dw_b + 4 * f, true);
#pragma unroll 1
    for (int f = tid; f < oq; f += T) cp_async16(pb + 4 * f, p.a.project_b + 4 * f, true);
    cp_async_commit();
  }
  tb_trace<kTrace>(p, 1);
  pdl_wait();
  tb_trace<kTrace>(p, 2);

  // (2) The input window of this tile, zeros outside the image (without an expand layer:
  // straight into the expanded-window array, whose zeros are then the depthwise padding).
  const int tile = int(blockIdx.x) % p.tiles_per_image, img = int(blockIdx.x) / p.tiles_per_image;
  const int ty = tile / p.tiles_w, tx = tile - ty * p.tiles_w;
  const int oh0 = ty * p.th, ow0 = tx * p.tw;
  const int ih0 = oh0 * p.stride - p.pad, iw0 = ow0 * p.stride - p.pad;
  const int in_px = p.in_th * p.in_tw;
  const float* x_img = p.a.x + size_t(img) * p.h * p.w * p.cin;
  float* const win = kExpand ? xs : es;
  const int ldw = kExpand ? ldx : lde;
  // The fixed-TM kernels run only on vector shapes (plan_tile_block, launch_tile_block): their
  // scalar staging and store paths are not compiled (v1.8).
  constexpr bool kVec = kTmP > 0;
  if (kVec || p.cin % 4 == 0) {
    const int kq = p.cin / 4;
#pragma unroll 1
    for (int f = tid; f < in_px * kq; f += T) {
      const int pix = f / kq, j = (f - pix * kq) * 4;
      const int r = pix / p.in_tw, c = pix - r * p.in_tw;
      const int ih = ih0 + r, iw = iw0 + c;
      const bool v = unsigned(ih) < unsigned(p.h) && unsigned(iw) < unsigned(p.w);
      cp_async16(win + pix * ldw + j, v ? x_img + (size_t(ih) * p.w + iw) * p.cin + j : x_img, v);
    }
  } else {
#pragma unroll 1
    for (int f = tid; f < in_px * p.cin4; f += T) {
      const int pix = f / p.cin4, k = f - pix * p.cin4;
      const int r = pix / p.in_tw, c = pix - r * p.in_tw;
      const int ih = ih0 + r, iw = iw0 + c;
      const bool v = k < p.cin && unsigned(ih) < unsigned(p.h) && unsigned(iw) < unsigned(p.w);
      win[pix * ldw + k] = v ? x_img[(size_t(ih) * p.w + iw) * p.cin + k] : 0.0f;
    }
  }
  cp_async_commit();
  // The projection weights: their own group, waited for only before the projection.
  if (p.stage_project) {
    const int n = p.ldh * oq, valid = p.ch * oq;
#pragma unroll 1
    for (int f = tid; f < n; f += T) cp_async16(wp + 4 * f, p.a.project_w + 4 * (f < valid ? f : 0), f < valid);
  }
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
  tb_trace<kTrace>(p, 3);

  // (3) Expand the whole window; then, in the tiles at the image's edge only, the window
  // pixels outside the image are set to 0 (the depthwise zero padding) after a barrier, so
  // that the GEMM's epilogue needs no per-element position test (a runtime division each).
  if constexpr (kExpand) {
    smem_gemm<T, kLayout, kTmE>(p.tm_expand, xs, ldx, we, p.ldh, in_px, cq, p.cin, [&](int m, int q, float4 v) {
      v = add4(v, f4(be + 4 * q));
      st4(es + m * lde + 4 * q, p.expand_relu6 ? relu6_4(v) : v);
    });
    __syncthreads();
    const int r_lo = max(0, -ih0), r_hi = min(p.in_th, p.h - ih0);
    const int c_lo = max(0, -iw0), c_hi = min(p.in_tw, p.w - iw0);
    if (r_lo > 0 || r_hi < p.in_th || c_lo > 0 || c_hi < p.in_tw) {  // the same in every thread
#pragma unroll 1
      for (int f = tid; f < in_px * cq; f += T) {
        const int pix = f / cq, r = pix / p.in_tw, c = pix - r * p.in_tw;
        if (r < r_lo || r >= r_hi || c < c_lo || c >= c_hi)
          st4(es + pix * lde + 4 * (f - pix * cq), make_float4(0.f, 0.f, 0.f, 0.f));
      }
      __syncthreads();
    }
  }
  tb_trace<kTrace>(p, 4);

  // (4) Depthwise 3x3 of the tile (output pixels past the image edge are computed from the
  // zero window and never stored).
  const int out_px = p.th * p.tw;
#pragma unroll 1
  for (int f = tid; f < out_px * cq; f += T) {
    const int q = f / cq, ch = (f - q * cq) * 4;
    const int r = q / p.tw, c = q - r * p.tw;
    float4 acc = f4(bd + ch);
#pragma unroll
    for (int i = 0; i < 3; ++i) {
      const float* erow = es + ((r * p.stride + i) * p.in_tw + c * p.stride) * lde + ch;
#pragma unroll
      for (int j = 0; j < 3; ++j) {
        const float4 e = f4(erow + j * lde), wt = f4(wd + (i * 3 + j) * p.ldh + ch);
        acc.x = fmaf(e.x, wt.x, acc.x), acc.y = fmaf(e.y, wt.y, acc.y);
        acc.z = fmaf(e.z, wt.z, acc.z), acc.w = fmaf(e.w, wt.w, acc.w);
      }
    }
    st4(ds + q * lde + ch, p.dw_relu6 ? relu6_4(acc) : acc);
  }
  cp_async_wait<0>();  // the projection weights
  __syncthreads();
  tb_trace<kTrace>(p, 5);

  // (5) Projection with bias, residual (the block's own input: window pixel (r+1, c+1)),
  // activation and the store: in the GEMM's epilogue, or after the K splits' partials are
  // summed in order.
  const float* B = p.stage_project ? wp : p.a.project_w;
  auto store = [&](int m, int q, float4 v) {
    const int r = m / p.tw, c = m - r * p.tw;
    const int oh = oh0 + r, ow = ow0 + c;
    if (oh >= p.oh || ow >= p.ow) return;
    const int o = 4 * q;
    v = add4(v, f4(pb + o));
    const float* xr = p.residual ? win + ((r + 1) * p.in_tw + c + 1) * ldw + o : nullptr;
    const size_t base = ((size_t(img) * p.oh + oh) * p.ow + ow) * p.cout + o;
    if (kVec || p.vec_out) {
      if (xr) v = add4(v, f4(xr));
      st4(p.a.out + base, p.project_relu6 ? relu6_4(v) : v);
    } else {
      const float vals[4] = {v.x, v.y, v.z, v.w};
      for (int j = 0; j < 4 && o + j < p.cout; ++j) {
        const float y = xr ? vals[j] + xr[j] : vals[j];
        p.a.out[base + j] = p.project_relu6 ? relu6(y) : y;
      }
    }
  };
  if (p.ksplit > 1) {
    float* const part = smem + p.sm.part;
    if constexpr (kTmP > 0)
      tb_project_ksplit<kTmP, gemm_pairs_at(kLayout, kTmP)>(ds, lde, B, p.ldo, out_px, oq, p.ch, p.ksplit, p.kc, part);
    else if (p.tm_project >= 4)
      tb_project_ksplit<4, gemm_pairs_at(kLayout, 4)>(ds, lde, B, p.ldo, out_px, oq, p.ch, p.ksplit, p.kc, part);
    else if (p.tm_project == 2)
      tb_project_ksplit<2, gemm_pairs_at(kLayout, 2)>(ds, lde, B, p.ldo, out_px, oq, p.ch, p.ksplit, p.kc, part);
    else
      tb_project_ksplit<1, gemm_pairs_at(kLayout, 1)>(ds, lde, B, p.ldo, out_px, oq, p.ch, p.ksplit, p.kc, part);
    __syncthreads();
#pragma unroll 1
    for (int t = tid; t < out_px * oq; t += T) {
      const int m = t / oq, q = t - m * oq;
      float4 v = f4(part + m * p.ldo + 4 * q);
      for (int s = 1; s < p.ksplit; ++s) v = add4(v, f4(part + (s * out_px + m) * p.ldo + 4 * q));
      store(m, q, v);
    }
  } else {
    smem_gemm<T, kLayout, kTmP>(p.tm_project, ds, lde, B, p.ldo, out_px, oq, p.ch, store);
  }
  if constexpr (kTrace) {
    __syncthreads();  // (trace only) every thread's outputs stored
    tb_trace<kTrace>(p, 6);
  }
}

// Every instantiation, chosen by its switches (launch and configure_tile_block).
using TbKernel = void (*)(const TbParams);
template <int kLayout, int kTmE, int kTmP>
TbKernel tile_block_kernel_for(bool expand, bool trace) {
  if (trace)
    return expand ? tile_block_kernel<true, true, kLayout, kTmE, kTmP> : tile_block_kernel<false, true, kLayout, 0, kTmP>;
  return expand ? tile_block_kernel<true, false, kLayout, kTmE, kTmP> : tile_block_kernel<false, false, kLayout, 0, kTmP>;
}
// The TMs compiled in (TileBlockPlan::fixed_tm): the batch-1 plans' in the 2 x 2 quads layout
// (expand 4 with projection 2 or 1; projection 4 without expand), for input and output channel
// counts that are multiples of 4 (the kernels have no scalar paths). 0 when none is.
int fixed_tm_kernel(const IrBlockShape& s, int gemm_layout, int tm_expand, int tm_project) {
  if (gemm_layout != kGemmPairs || s.cin % 4 != 0 || s.cout % 4 != 0) return 0;
  if (tm_expand == 4 && tm_project == 2) return 42;
  if (tm_expand == 4 && tm_project == 1) return 41;
  if (tm_expand == 0 && tm_project == 4) return 4;
  return 0;
}
// (fixed: only the instantiations a plan can ask for; `expand` follows from the TMs.)
TbKernel tile_block_kernel_for(int gemm_layout, bool expand, bool trace, int fixed = 0) {
  if (fixed == 42)
    return trace ? tile_block_kernel<true, true, kGemmPairs, 4, 2> : tile_block_kernel<true, false, kGemmPairs, 4, 2>;
  if (fixed == 41)
    return trace ? tile_block_kernel<true, true, kGemmPairs, 4, 1> : tile_block_kernel<true, false, kGemmPairs, 4, 1>;
  if (fixed == 4)
    return trace ? tile_block_kernel<false, true, kGemmPairs, 0, 4> : tile_block_kernel<false, false, kGemmPairs, 0, 4>;
  if (gemm_layout == kGemmPairs) return tile_block_kernel_for<kGemmPairs, 0, 0>(expand, trace);
  if (gemm_layout == kGemmMixed) return tile_block_kernel_for<kGemmMixed, 0, 0>(expand, trace);
  return tile_block_kernel_for<kGemmRows, 0, 0>(expand, trace);
}

// K splits of the projection (and the k per split, a multiple of 4) for an out_px x (4 oq) x
// ch product in tm-pixel tiles: forced (clamped so that no split is empty), or the most of
// 8, 4, 2 that keep every (split, tile) item on its own thread with >= 16 k per split; none
// below K = kMinSplitK (H200 batch 1, session 8 trace: the first block's projection, K = 32,
// took 2.55 µs in 2 splits and 2.16 without; K = 96..192 gained 0.3-0.6 µs per block).
constexpr int kMinSplitK = 64;
void choose_ksplit(int out_px, int oq, int ch, int tm, int force, int* ks, int* kc) {
  const int tiles = (out_px + tm - 1) / tm * oq;
  int k = 1;
  if (force > 0) {
    k = force;
  } else if (ch >= kMinSplitK) {
    for (int c : {8, 4, 2})
      if (int64_t(tiles) * c <= kTileBlockThreads && ch / c >= 16) {
        k = c;
        break;
      }
  }
  k = std::clamp(k, 1, std::max(1, (ch + 3) / 4));
  int c = ((ch + k - 1) / k + 3) / 4 * 4;
  k = (ch + c - 1) / c;  // every split non-empty
  *ks = k, *kc = c;
}

TbSmem layout_of(const IrBlockShape& s, const TileBlockPlan& p) {
  return tb_smem_layout(p.in_th * p.in_tw, p.th * p.tw, padded4(s.cin), padded4(s.ch), padded4(s.cout),
                        p.stage_project, s.expand, p.ksplit);
}

}  // namespace

std::string TileBlockPlan::str(int batch) const {
  if (!ok) return "tile_block<none: " + reason + ">";
  std::ostringstream s;
  s << "tile_block<" << th << "x" << tw << " tile, ";
  if (tm_expand)
    s << "tm " << tm_expand << "/" << tm_project;
  else
    s << "no expand, tm " << tm_project;
  if (ksplit > 1) s << ", K/" << ksplit;
  if (gemm_layout) s << (gemm_layout == 1 ? ", pairs" : ", mixed");
  s << ", wp " << (stage_project ? "smem" : "L2") << (fixed_tm ? ", fixed tm" : "") << "> [" << int64_t(tiles_h) * tiles_w * batch << " blocks, "
    << smem_bytes << " B]";
  return s.str();
}

TileBlockPlan plan_tile_block(const IrBlockShape& s, int sm_count, size_t smem_limit, int force_th,
                              int force_tw, int force_ksplit, int gemm_layout, int tm_lds_cycles,
                              bool fixed_tm) {
  TileBlockPlan p;
  auto refuse = [&](const std::string& why) {
    p = TileBlockPlan();
    p.reason = why;
    return p;
  };
  if (const std::string why = ir_block_shape_problem(s); !why.empty()) return refuse(why);
  sm_count = std::max(sm_count, 1);
  const int cin4 = padded4(s.cin), ldh = padded4(s.ch), ldo = padded4(s.cout);
  const int lds_cycles = tm_lds_cycles;
  double best = -1.0;
  for (int th = 1; th <= s.oh; ++th) {
    if (force_th > 0 && th != std::min(force_th, s.oh)) continue;
    for (int tw = 1; tw <= s.ow; ++tw) {
      if (force_tw > 0 && tw != std::min(force_tw, s.ow)) continue;
      const int in_th = (th - 1) * s.stride + 3, in_tw = (tw - 1) * s.stride + 3;
      const int in_px = in_th * in_tw, out_px = th * tw;
      const int tm_project = pick_smem_tm(out_px, ldo / 4, s.ch, kTileBlockThreads, lds_cycles);
      int ks = 1, kc = 0;
      choose_ksplit(out_px, ldo / 4, s.ch, tm_project, force_ksplit, &ks, &kc);
      bool fits = false, stage = false;
      for (bool st : {true, false}) {
        const TbSmem m = tb_smem_layout(in_px, out_px, cin4, ldh, ldo, st, s.expand, ks);
        if (size_t(m.total) * sizeof(float) <= smem_limit) {
          fits = true, stage = st;
          break;
        }
      }
      if (!fits) continue;
      const int tiles_h = (s.oh + th - 1) / th, tiles_w = (s.ow + tw - 1) / tw;
      const int64_t blocks = int64_t(s.n) * tiles_h * tiles_w;
      if (blocks > 0x7fffffff) continue;
      const int64_t waves = (blocks + sm_count - 1) / sm_count;
      const double fma = (s.expand ? double(in_px) * ldh * cin4 : 0.0) + double(out_px) * ldh * 9 +
                         double(out_px) * ldh * ldo;
      const double cost = double(waves) * (fma / 64.0 + 4000.0);
      if (best < 0.0 || cost < best) {
        best = cost;
        p.th = th, p.tw = tw, p.in_th = in_th, p.in_tw = in_tw, p.tiles_h = tiles_h, p.tiles_w = tiles_w;
        p.stage_project = stage;
        p.tm_project = tm_project, p.ksplit = ks, p.k_per_split = kc;
      }
    }
  }
  if (best < 0.0) return refuse("no output tile fits in shared memory");
  p.tm_expand = s.expand ? pick_smem_tm(p.in_th * p.in_tw, ldh / 4, s.cin, kTileBlockThreads, lds_cycles) : 0;
  p.gemm_layout = gemm_layout;
  p.fixed_tm = fixed_tm && fixed_tm_kernel(s, p.gemm_layout, p.tm_expand, p.tm_project) != 0;
  p.smem_bytes = size_t(layout_of(s, p).total) * sizeof(float);
  p.ok = true;
  return p;
}

void configure_tile_block(size_t smem_bytes) {
  for (int layout : {kGemmRows, kGemmPairs, kGemmMixed})
    for (bool expand : {false, true})
      for (bool trace : {false, true})
        for (int fixed : {0, 42, 41, 4})
          MBV2_CUDA_CHECK(cudaFuncSetAttribute(tile_block_kernel_for(layout, expand, trace, fixed),
                                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               int(std::max<size_t>(smem_bytes, 48 * 1024))));
}

void launch_tile_block(const IrBlockShape& s, const TileBlockPlan& plan, const IrBlockArgs& a,
                       cudaStream_t stream, bool pdl) {
  if (!plan.ok) throw std::logic_error("tile_block: launch of a refused plan (" + plan.reason + ")");
  check_ir_block_args(a, s.expand, "tile_block");
  if (s.expand != (plan.tm_expand != 0)) throw std::logic_error("tile_block: plan does not match the shape");
  TbParams p;
  p.a = a;
  p.h = s.h, p.w = s.w, p.cin = s.cin, p.ch = s.ch, p.oh = s.oh, p.ow = s.ow, p.cout = s.cout;
  p.stride = s.stride, p.pad = s.pad;
  p.th = plan.th, p.tw = plan.tw, p.in_th = plan.in_th, p.in_tw = plan.in_tw;
  p.tiles_w = plan.tiles_w, p.tiles_per_image = plan.tiles_h * plan.tiles_w;
  p.cin4 = padded4(s.cin), p.ldh = padded4(s.ch), p.ldo = padded4(s.cout);
  p.tm_expand = plan.tm_expand, p.tm_project = plan.tm_project;
  p.ksplit = plan.ksplit, p.kc = plan.k_per_split;
  if (plan.ksplit < 1 || (plan.ksplit > 1 && (plan.k_per_split % 4 != 0 || (plan.ksplit - 1) * plan.k_per_split >= s.ch ||
                                               plan.ksplit * plan.k_per_split < s.ch)))
    throw std::logic_error("tile_block: bad projection K split");
  p.stage_project = plan.stage_project;
  p.expand_relu6 = s.expand_relu6, p.dw_relu6 = s.dw_relu6, p.project_relu6 = s.project_relu6;
  p.residual = s.residual;
  p.vec_out = s.cout % 4 == 0 && aligned16(a.out);
  p.sm = layout_of(s, plan);
  if (size_t(p.sm.total) * sizeof(float) != plan.smem_bytes)
    throw std::logic_error("tile_block: plan does not match the shape");
  const dim3 grid(unsigned(int64_t(plan.tiles_h) * plan.tiles_w * s.n));
  // The fixed-TM kernels store float4s only: an output that is not 16-byte aligned takes
  // the general kernel.
  const int fixed = plan.fixed_tm && p.vec_out ? fixed_tm_kernel(s, plan.gemm_layout, plan.tm_expand, plan.tm_project) : 0;
  if (plan.fixed_tm && p.vec_out && fixed == 0) throw std::logic_error("tile_block: no kernel compiled for the plan's TMs");
  const auto kernel = tile_block_kernel_for(plan.gemm_layout, s.expand, a.trace != nullptr, fixed);
  launch_kernel(kernel, grid, dim3(kTileBlockThreads), plan.smem_bytes, stream, pdl, p);
}

}  // namespace mbv2::custom
