// 1x1 convolution + bias + activation + global average pool in one kernel (forward() at
// small batch: MobileNetV2's last conv 320 -> 1280 on 7x7 and the pool).
//
// Why: at batch 1 the last conv (a 49 x 1280 x 320 GEMM, split-K 7 in clusters) and the pool
// are two launches of 6.9 and 2.9 µs (H200, warm) for 20 MFLOP and a 250 KB intermediate.
//
// Versions:
//   v1  One block of 512 threads per (image, slice of `quads` output quads). Before the PDL
//       wait: cp.async of the slice's weights [K4][4 quads] (rows past K zero). After it:
//       the image's input [hw][K4] (zero-padded to a multiple of 4). Then every thread takes
//       one (split, pixel, quad) item: a float4 of partial sums over its K range; the block
//       adds the splits in order, the bias and the activation per pixel, and averages the
//       pixels in order (deterministic, bit-identical replays). Predicted ~4 µs for the two
//       layers' ~9.7; measured (H200, batch-1 CUDA graph, same session, twice): 160.3 µs with
//       it against 157.7 / 158.0 without: 2.4 µs slower, so off by default. Not profiled;
//       candidates: every block stages the whole 63 KB image input (6.7 MB from L2 at once),
//       the pool's 49-step serial chain on 3 threads, one wave of 107 blocks where the
//       GEMM's split-K 7 clusters spread the K loop over 280.
#include "custom/conv_pool.h"

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

struct CpSmem {
  int a, b, part, total;
};

__host__ __device__ inline CpSmem cp_smem_layout(int hw, int k4, int quads, int splits) {
  CpSmem s;
  int o = 0;
  s.a = o, o += hw * (k4 + 4);          // the image's input [hw][k4 + 4] (rows padded: banks)
  s.b = o, o += k4 * quads * 4;         // the slice's weights [k4][quads * 4]
  s.part = o, o += splits * hw * quads * 4;  // partial sums [splits][hw][quads] float4
  s.total = o;
  return s;
}

struct CpParams {
  const float *x, *w, *bias;
  float* y;
  int hw, k, k4, cout, ldn, quads, splits, kc, relu6, vec_out;
  CpSmem sm;
};

__global__ void __launch_bounds__(kConvPoolThreads, 1) conv_pool_kernel(const CpParams p) {
  constexpr int T = kConvPoolThreads;
  extern __shared__ __align__(16) float smem[];
  pdl_launch_dependents();
  const int tid = threadIdx.x;
  const int img = blockIdx.y, q0 = int(blockIdx.x) * p.quads;
  const int nq = min(p.quads, p.ldn / 4 - q0);
  float* const as = smem + p.sm.a;
  float* const bs = smem + p.sm.b;
  float4* const part = reinterpret_cast<float4*>(smem + p.sm.part);
  const int lda = p.k4 + 4, ldb = p.quads * 4;

  // Weights of the slice (constant): before the wait. Rows past K and quads past the slice
  // are zero.
  for (int f = tid; f < p.k4 * p.quads; f += T) {
    const int row = f / p.quads, j = f - row * p.quads;
    const bool v = row < p.k && j < nq;
    cp_async16(bs + row * ldb + 4 * j, v ? p.w + size_t(row) * p.ldn + 4 * (q0 + j) : p.w, v);
  }
  cp_async_commit();
  pdl_wait();
  const float* x = p.x + size_t(img) * p.hw * p.k;
  if (p.k % 4 == 0) {
    const int kq = p.k / 4;
    for (int f = tid; f < p.hw * kq; f += T) {
      const int px = f / kq, j = f - px * kq;
      cp_async16(as + px * lda + 4 * j, x + size_t(px) * p.k + 4 * j, true);
    }
  } else {
    for (int f = tid; f < p.hw * p.k4; f += T) {
      const int px = f / p.k4, kk = f - px * p.k4;
      as[px * lda + kk] = kk < p.k ? x[size_t(px) * p.k + kk] : 0.0f;
    }
  }
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  // One (split, pixel, quad) item per thread: K range [s * kc, min(k4, (s + 1) * kc)).
  const int per_split = p.hw * p.quads;
  for (int t = tid; t < p.splits * per_split; t += T) {
    const int s = t / per_split, rem = t - s * per_split;
    const int px = rem / p.quads, j = rem - px * p.quads;
    const int k_end = min(p.k4, (s + 1) * p.kc);
    const float* a = as + px * lda;
    const float* b = bs + 4 * j;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 4
    for (int kk = s * p.kc; kk < k_end; kk += 4) {
      const float4 av = f4(a + kk);
      const float4 b0 = f4(b + (kk + 0) * ldb), b1 = f4(b + (kk + 1) * ldb);
      const float4 b2 = f4(b + (kk + 2) * ldb), b3 = f4(b + (kk + 3) * ldb);
      acc.x = fmaf(av.x, b0.x, acc.x), acc.y = fmaf(av.x, b0.y, acc.y), acc.z = fmaf(av.x, b0.z, acc.z), acc.w = fmaf(av.x, b0.w, acc.w);
      acc.x = fmaf(av.y, b1.x, acc.x), acc.y = fmaf(av.y, b1.y, acc.y), acc.z = fmaf(av.y, b1.z, acc.z), acc.w = fmaf(av.y, b1.w, acc.w);
      acc.x = fmaf(av.z, b2.x, acc.x), acc.y = fmaf(av.z, b2.y, acc.y), acc.z = fmaf(av.z, b2.z, acc.z), acc.w = fmaf(av.z, b2.w, acc.w);
      acc.x = fmaf(av.w, b3.x, acc.x), acc.y = fmaf(av.w, b3.y, acc.y), acc.z = fmaf(av.w, b3.z, acc.z), acc.w = fmaf(av.w, b3.w, acc.w);
    }
    part[t] = acc;
  }
  __syncthreads();
  // Per pixel: the splits in order, bias, activation (into split 0's slots).
  for (int t = tid; t < per_split; t += T) {
    const int j = t % p.quads;
    if (j >= nq) continue;
    float4 v = part[t];
    for (int s = 1; s < p.splits; ++s) v = add4(v, part[s * per_split + t]);
    v = add4(v, *reinterpret_cast<const float4*>(p.bias + 4 * (q0 + j)));
    part[t] = p.relu6 ? relu6_4(v) : v;
  }
  __syncthreads();
  // The mean over the pixels, in order.
  const float inv = 1.0f / float(p.hw);
  for (int j = tid; j < nq; j += T) {
    float4 v = part[j];
    for (int px = 1; px < p.hw; ++px) v = add4(v, part[px * p.quads + j]);
    v = make_float4(v.x * inv, v.y * inv, v.z * inv, v.w * inv);
    const int c = 4 * (q0 + j);
    float* out = p.y + size_t(img) * p.cout + c;
    if (p.vec_out) {
      st4(out, v);
    } else {
      const float vals[4] = {v.x, v.y, v.z, v.w};
      for (int i = 0; i < 4 && c + i < p.cout; ++i) out[i] = vals[i];
    }
  }
}

}  // namespace

std::string ConvPoolPlan::str() const {
  if (!ok) return "conv_pool<none: " + reason + ">";
  std::ostringstream s;
  s << "conv_pool<" << quads << " quads, K / " << splits << "> [" << slices << " blocks per image, "
    << smem_bytes << " B]";
  return s.str();
}

ConvPoolPlan plan_conv_pool(const ConvPoolShape& s, int sm_count, size_t smem_limit) {
  ConvPoolPlan p;
  auto refuse = [&](const std::string& why) {
    p = ConvPoolPlan();
    p.reason = why;
    return p;
  };
  if (s.n < 1 || s.hw < 1 || s.k < 1 || s.cout < 1) return refuse("empty shape");
  if (int64_t(s.n) * s.hw * s.k >= (int64_t(1) << 31) || int64_t(s.n) * s.cout >= (int64_t(1) << 31))
    return refuse("more than 2^31 elements");
  const int k4 = padded4(s.k), nq = padded4(s.cout) / 4;
  sm_count = std::max(sm_count, 1);
  // The fewest quads per block that keep n x slices within one wave (more quads per block
  // re-read less input per weight; fewer blocks would leave SMs idle).
  int quads = std::max(1, (nq * s.n + sm_count - 1) / sm_count);
  quads = std::min(quads, nq);
  const int64_t items = int64_t(s.hw) * quads;
  const int splits = int(std::clamp<int64_t>(kConvPoolThreads / std::max<int64_t>(items, 1), 1, std::max(1, k4 / 4)));
  const CpSmem m = cp_smem_layout(s.hw, k4, quads, splits);
  if (size_t(m.total) * sizeof(float) > smem_limit) return refuse("the image's input does not fit in shared memory");
  p.quads = quads;
  p.splits = splits;
  p.slices = (nq + quads - 1) / quads;
  if (int64_t(p.slices) * s.n > 0x7fffffff || s.n > 65535) return refuse("grid too large");
  p.smem_bytes = size_t(m.total) * sizeof(float);
  p.ok = true;
  return p;
}

void configure_conv_pool(size_t smem_bytes) {
  MBV2_CUDA_CHECK(cudaFuncSetAttribute(conv_pool_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       int(std::max<size_t>(smem_bytes, 48 * 1024))));
}

void launch_conv_pool(const ConvPoolShape& s, const ConvPoolPlan& plan, const float* x, const float* w,
                      const float* bias, float* y, cudaStream_t stream, bool pdl) {
  if (!plan.ok) throw std::logic_error("conv_pool: launch of a refused plan (" + plan.reason + ")");
  if (!x || !w || !bias || !y) throw InputError("conv_pool: null pointer");
  if (!aligned16(x) || !aligned16(w) || !aligned16(bias))
    throw std::logic_error("conv_pool: input and weights must be 16-byte aligned");
  CpParams p;
  p.x = x, p.w = w, p.bias = bias, p.y = y;
  p.hw = s.hw, p.k = s.k, p.k4 = padded4(s.k), p.cout = s.cout, p.ldn = padded4(s.cout);
  p.quads = plan.quads, p.splits = plan.splits;
  p.kc = ((p.k4 + plan.splits - 1) / plan.splits + 3) & ~3;  // multiple of 4
  p.relu6 = s.relu6;
  p.vec_out = s.cout % 4 == 0 && aligned16(y);
  p.sm = cp_smem_layout(s.hw, p.k4, plan.quads, plan.splits);
  if (size_t(p.sm.total) * sizeof(float) != plan.smem_bytes)
    throw std::logic_error("conv_pool: plan does not match the shape");
  launch_kernel(conv_pool_kernel, dim3(unsigned(plan.slices), unsigned(s.n)), dim3(kConvPoolThreads),
                plan.smem_bytes, stream, pdl, p);
}

}  // namespace mbv2::custom
