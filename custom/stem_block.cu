// The network's front (stem 3x3 conv -> depthwise 3x3 -> project 1x1) in one kernel, for
// forward().
//
// Why: at batch 1 the three layers are three launches of ~4-9 µs each for ~0.03 GFLOP, and
// at every batch the unfused path writes and reads back two 112x112x32 tensors per image
// (411 MB each at batch 256) that nothing else reads.
//
// Versions:
//   v1  One block = a tile of tile_h x tile_w output pixels of one image, 256 threads.
//       (0) before the PDL wait, cp.async all weights (stem [9*Cin][C0], depthwise [9][C0],
//       projection [C0][C1], biases) into shared memory; (1) the image patch the tile's stem
//       pixels read (1-pixel halo of stem outputs for the depthwise), 8 loads in flight per
//       thread; (2) the stem outputs of the tile plus halo (zero outside the image: the
//       depthwise padding), one thread item = 1 pixel x 4 channels; (3) the depthwise of
//       the tile, same items; (4) the projection, 1 pixel x 4 output channels per item,
//       float4 loads along K. Halo stem pixels are recomputed by the neighbouring tiles
//       ((t+2)^2 / t^2: 1.56x of the stem's 27 FMAs per output at 8x8, 1.27x at 16x16).
//       Rows of the stem / depthwise tiles are padded by 4 floats (conflict-free float4
//       reads of neighbouring pixels).
#include "custom/stem_block.h"

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <stdexcept>

#include "common/util.h"
#include "custom/cp_async.cuh"
#include "custom/kernel_common.cuh"
#include "custom/pointwise_conv.h"

namespace mbv2::custom {

namespace {

// Float offsets of the kernel's shared-memory arrays (all multiples of 4 floats).
struct SbSmem {
  int ws, bs, wd, bd, wp, bp, x, s, d, total;
};

__host__ __device__ inline int sb_round4(int v) { return (v + 3) & ~3; }

__host__ __device__ inline SbSmem sb_smem_layout(int th, int tw, int cin, int stride, int c0,
                                                 int c1p) {
  SbSmem m;
  int o = 0;
  const int in_h = (th + 1) * stride + 3, in_w = (tw + 1) * stride + 3;
  m.ws = o, o += 9 * cin * c0;             // stem weights [9 * Cin][C0]
  m.bs = o, o += c0;                       // stem bias
  m.wd = o, o += 9 * c0;                   // depthwise taps [9][C0]
  m.bd = o, o += c0;                       // depthwise bias
  m.wp = o, o += c0 * c1p;                 // projection weights [C0][C1p]
  m.bp = o, o += c1p;                      // projection bias
  m.x = o, o += sb_round4(in_h * in_w * cin);      // image patch [in_h][in_w][Cin]
  m.s = o, o += (th + 2) * (tw + 2) * (c0 + 4);    // stem outputs + halo [(th+2)(tw+2)][C0+4]
  m.d = o, o += th * tw * (c0 + 4);                // depthwise outputs [th * tw][C0+4]
  m.total = o;
  return m;
}

struct SbParams {
  StemBlockArgs a;
  int h, w, cin, stride, sh, sw, c0, c1, c1p, stem_ldw;
  int th, tw, tiles_w, tiles_h;
  int stem_relu6, dw_relu6, project_relu6;
  SbSmem sm;
};

__device__ __forceinline__ float4 ld4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ void st4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ __forceinline__ float4 relu6_4(float4 v) {
  return make_float4(relu6(v.x), relu6(v.y), relu6(v.z), relu6(v.w));
}
__device__ __forceinline__ void fma4(float4& c, float a, float4 b) {
  c.x = fmaf(a, b.x, c.x), c.y = fmaf(a, b.y, c.y), c.z = fmaf(a, b.z, c.z), c.w = fmaf(a, b.w, c.w);
}

__global__ void __launch_bounds__(kStemBlockThreads) stem_block_kernel(const SbParams p) {
  extern __shared__ __align__(16) float smem[];
  constexpr int T = kStemBlockThreads;
  const int tid = threadIdx.x;
  const int tile = int(blockIdx.x);
  const int img = tile / (p.tiles_w * p.tiles_h);
  const int oh0 = (tile / p.tiles_w) % p.tiles_h * p.th, ow0 = tile % p.tiles_w * p.tw;
  const int c0 = p.c0, q0 = c0 / 4, q1 = p.c1p / 4;
  float* Ws = smem + p.sm.ws;
  float* Bs = smem + p.sm.bs;
  float* Wd = smem + p.sm.wd;
  float* Bd = smem + p.sm.bd;
  float* Wp = smem + p.sm.wp;
  float* Bp = smem + p.sm.bp;
  float* Xs = smem + p.sm.x;
  float* Ss = smem + p.sm.s;
  float* Ds = smem + p.sm.d;

  // (0) Weights: constant, fetched before waiting for the previous kernel.
  for (int f = tid; f < 9 * p.cin * q0; f += T) {
    const int r = f / q0, j = (f % q0) * 4;
    cp_async16(Ws + r * c0 + j, p.a.stem_w + size_t(r) * p.stem_ldw + j, true);
  }
  for (int f = tid; f < 11 * q0; f += T) {  // 9 taps, then the two biases
    const int r = f / q0, j = (f % q0) * 4;
    const float* src = r < 9 ? p.a.dw_w + size_t(r) * c0 : (r == 9 ? p.a.dw_b : p.a.stem_b);
    float* dst = r < 9 ? Wd + r * c0 : (r == 9 ? Bd : Bs);
    cp_async16(dst + j, src + j, true);
  }
  for (int f = tid; f < (c0 + 1) * q1; f += T) {  // C0 rows of weights, then the bias
    const int r = f / q1, j = (f % q1) * 4;
    cp_async16((r < c0 ? Wp + r * p.c1p : Bp) + j,
               (r < c0 ? p.a.project_w + size_t(r) * p.c1p : p.a.project_b) + j, true);
  }
  cp_async_commit();

  pdl_wait();

  // (1) The image patch: stem pixels oh0-1 .. oh0+th (halo) read image rows from
  // (oh0-1)*stride-1 on; zero outside the image (the stem's padding).
  {
    constexpr int kStage = 8;
    const int in_h = (p.th + 1) * p.stride + 3, in_w = (p.tw + 1) * p.stride + 3;
    const int ih0 = (oh0 - 1) * p.stride - 1, iw0 = (ow0 - 1) * p.stride - 1;
    const int row = in_w * p.cin, count = in_h * row;
    const float* x_img = p.a.x + size_t(img) * p.h * p.w * p.cin;
    for (int i0 = tid; i0 < count; i0 += kStage * T) {
      float v[kStage];
#pragma unroll
      for (int u = 0; u < kStage; ++u) {
        const int i = i0 + u * T;
        const int r = i / row, rem = i - r * row;
        const int ih = ih0 + r, iw = iw0 + rem / p.cin, ci = rem % p.cin;
        v[u] = 0.0f;
        if (i < count && unsigned(ih) < unsigned(p.h) && unsigned(iw) < unsigned(p.w))
          v[u] = __ldg(x_img + (size_t(ih) * p.w + iw) * p.cin + ci);
      }
#pragma unroll
      for (int u = 0; u < kStage; ++u)
        if (i0 + u * T < count) Xs[i0 + u * T] = v[u];
    }
  }
  cp_async_wait<0>();
  __syncthreads();

  // (2) Stem outputs of the tile and its 1-pixel halo.
  {
    const int hw = p.tw + 2, in_w = (p.tw + 1) * p.stride + 3, lds = c0 + 4;
    const int items = (p.th + 2) * hw * q0;
    for (int it = tid; it < items; it += T) {
      const int q = it % q0, pix = it / q0;
      const int r = pix / hw, c = pix % hw;
      const int oh = oh0 - 1 + r, ow = ow0 - 1 + c;
      float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
      if (unsigned(oh) < unsigned(p.sh) && unsigned(ow) < unsigned(p.sw)) {
        acc = ld4(Bs + 4 * q);
        for (int kh = 0; kh < 3; ++kh) {
          const float* xrow = Xs + ((r * p.stride + kh) * in_w + c * p.stride) * p.cin;
          const float* wrow = Ws + kh * 3 * p.cin * c0 + 4 * q;
          for (int k = 0; k < 3 * p.cin; ++k) fma4(acc, xrow[k], ld4(wrow + k * c0));
        }
        if (p.stem_relu6) acc = relu6_4(acc);
      }
      st4(Ss + pix * lds + 4 * q, acc);
    }
  }
  __syncthreads();

  // (3) Depthwise 3x3 of the tile.
  const int rows_valid = min(p.th, p.sh - oh0), cols_valid = min(p.tw, p.sw - ow0);
  {
    const int hw = p.tw + 2, lds = c0 + 4;
    const int items = p.th * p.tw * q0;
    for (int it = tid; it < items; it += T) {
      const int q = it % q0, pix = it / q0;
      const int r = pix / p.tw, c = pix % p.tw;
      if (r >= rows_valid || c >= cols_valid) continue;
      float4 acc = ld4(Bd + 4 * q);
#pragma unroll
      for (int i = 0; i < 3; ++i)
#pragma unroll
        for (int j = 0; j < 3; ++j) {
          const float4 s = ld4(Ss + ((r + i) * hw + c + j) * lds + 4 * q);
          const float4 wt = ld4(Wd + (i * 3 + j) * c0 + 4 * q);
          acc.x = fmaf(s.x, wt.x, acc.x), acc.y = fmaf(s.y, wt.y, acc.y);
          acc.z = fmaf(s.z, wt.z, acc.z), acc.w = fmaf(s.w, wt.w, acc.w);
        }
      st4(Ds + pix * lds + 4 * q, p.dw_relu6 ? relu6_4(acc) : acc);
    }
  }
  __syncthreads();
  pdl_launch_dependents();

  // (4) Projection: 1 pixel x 4 output channels per item.
  {
    const int lds = c0 + 4;
    const int items = p.th * p.tw * q1;
    for (int it = tid; it < items; it += T) {
      const int q = it % q1, pix = it / q1;
      const int r = pix / p.tw, c = pix % p.tw;
      if (r >= rows_valid || c >= cols_valid) continue;
      float4 acc = ld4(Bp + 4 * q);
      const float* drow = Ds + pix * lds;
      const float* wcol = Wp + 4 * q;
#pragma unroll 2
      for (int k = 0; k < c0; k += 4) {
        const float4 d = ld4(drow + k);
        fma4(acc, d.x, ld4(wcol + (k + 0) * p.c1p));
        fma4(acc, d.y, ld4(wcol + (k + 1) * p.c1p));
        fma4(acc, d.z, ld4(wcol + (k + 2) * p.c1p));
        fma4(acc, d.w, ld4(wcol + (k + 3) * p.c1p));
      }
      if (p.project_relu6) acc = relu6_4(acc);
      st4(p.a.out + ((size_t(img) * p.sh + oh0 + r) * p.sw + ow0 + c) * p.c1 + 4 * q, acc);
    }
  }
}

SbSmem layout_of(const StemBlockShape& s, const StemBlockPlan& p) {
  return sb_smem_layout(p.tile_h, p.tile_w, s.cin, s.stride, s.c0, padded4(s.c1));
}

}  // namespace

std::string StemBlockPlan::str(int batch) const {
  if (!ok) return "stem_block<none: " + reason + ">";
  std::ostringstream s;
  s << "stem_block<" << tile_h << "x" << tile_w << " tile> [" << smem_bytes << " B, batch " << batch
    << "]";
  return s.str();
}

StemBlockPlan plan_stem_block(const StemBlockShape& s, int sm_count, size_t smem_limit,
                              int stem_ldw) {
  StemBlockPlan p;
  auto refuse = [&](const std::string& why) {
    p = StemBlockPlan();
    p.reason = why;
    return p;
  };
  if (s.n < 1 || s.h < 1 || s.w < 1 || s.cin < 1 || s.sh < 1 || s.sw < 1 || s.c0 < 1 || s.c1 < 1)
    return refuse("empty shape");
  if (s.stride < 1 || s.stride > 2 || (s.h - 1) / s.stride + 1 != s.sh ||
      (s.w - 1) / s.stride + 1 != s.sw)
    return refuse("not a 3x3 pad-1 stem of stride 1 or 2");
  if (s.cin > 8) return refuse("more than 8 input channels");
  if (s.c0 % 4 != 0 || s.c1 % 4 != 0) return refuse("channel counts not multiples of 4");
  if (stem_ldw < s.c0 || stem_ldw % 4 != 0) return refuse("packed stem weights narrower than C0");
  if (int64_t(s.n) * s.sh * s.sw * s.c1 >= (int64_t(1) << 31) ||
      int64_t(s.n) * s.h * s.w * s.cin >= (int64_t(1) << 31))
    return refuse("more than 2^31 elements");
  // The largest tile that still gives every SM two blocks (halo recompute shrinks with the
  // tile), among those that fit in shared memory.
  const int tiles[][2] = {{16, 16}, {8, 16}, {8, 8}, {4, 8}};
  bool found = false;
  for (const auto& t : tiles) {
    const SbSmem m = sb_smem_layout(t[0], t[1], s.cin, s.stride, s.c0, padded4(s.c1));
    if (size_t(m.total) * sizeof(float) > smem_limit) continue;
    p.tile_h = t[0], p.tile_w = t[1];
    found = true;
    const int64_t blocks =
        int64_t((s.sh + t[0] - 1) / t[0]) * ((s.sw + t[1] - 1) / t[1]) * s.n;
    if (blocks >= 2 * int64_t(sm_count)) break;
  }
  if (!found) return refuse("weights and the smallest tile do not fit in shared memory");
  const int64_t blocks =
      int64_t((s.sh + p.tile_h - 1) / p.tile_h) * ((s.sw + p.tile_w - 1) / p.tile_w) * s.n;
  if (blocks > 0x7fffffff) return refuse("grid too large");
  p.stem_ldw = stem_ldw;
  p.smem_bytes = size_t(layout_of(s, p).total) * sizeof(float);
  p.ok = true;
  return p;
}

void configure_stem_block(size_t smem_bytes) {
  MBV2_CUDA_CHECK(cudaFuncSetAttribute(stem_block_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       int(std::max<size_t>(smem_bytes, 48 * 1024))));
}

void launch_stem_block(const StemBlockShape& s, const StemBlockPlan& plan, const StemBlockArgs& a,
                       cudaStream_t stream, bool pdl) {
  if (!plan.ok) throw std::logic_error("stem_block: launch of a refused plan (" + plan.reason + ")");
  if (!a.x || !a.stem_w || !a.stem_b || !a.dw_w || !a.dw_b || !a.project_w || !a.project_b || !a.out)
    throw InputError("stem_block: null pointer");
  if (!aligned16(a.stem_w) || !aligned16(a.stem_b) || !aligned16(a.dw_w) || !aligned16(a.dw_b) ||
      !aligned16(a.project_w) || !aligned16(a.project_b) || !aligned16(a.out))
    throw std::logic_error("stem_block: weights and output must be 16-byte aligned");
  SbParams p;
  p.a = a;
  p.h = s.h, p.w = s.w, p.cin = s.cin, p.stride = s.stride, p.sh = s.sh, p.sw = s.sw;
  p.c0 = s.c0, p.c1 = s.c1, p.c1p = padded4(s.c1), p.stem_ldw = plan.stem_ldw;
  p.th = plan.tile_h, p.tw = plan.tile_w;
  p.tiles_h = (s.sh + p.th - 1) / p.th, p.tiles_w = (s.sw + p.tw - 1) / p.tw;
  p.stem_relu6 = s.stem_relu6, p.dw_relu6 = s.dw_relu6, p.project_relu6 = s.project_relu6;
  p.sm = layout_of(s, plan);
  if (size_t(p.sm.total) * sizeof(float) != plan.smem_bytes)
    throw std::logic_error("stem_block: plan does not match the shape");
  const dim3 grid(unsigned(int64_t(p.tiles_h) * p.tiles_w * s.n));
  launch_kernel(stem_block_kernel, grid, dim3(kStemBlockThreads), plan.smem_bytes, stream, pdl, p);
}

}  // namespace mbv2::custom
