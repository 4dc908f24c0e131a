// Global average pool and the linear classifier.
//
// Versions:
//   v1  Pool: a block = 32 lanes (channels, float4 or scalar) x 8 pixel slices of one image;
//       slices are added in a fixed order in shared memory (deterministic).
//       GEMV classifier for batch <= 8: one warp per class reads the weight row once
//       (float4, coalesced) and applies it to every image; butterfly shuffle reduction.
//       Larger batches use the pointwise GEMM (pointwise_conv.cu).
//       Fused pool + classifier for forward() at batch <= 8: grid = class slices (64) x
//       channel slices (128); each block pools its channel slice into shared memory and
//       writes partial logits; the last block of each class slice (arrival counter) adds
//       the partials in slice order and the bias. One launch instead of two at batch 1.
#include "custom/pool_classifier.h"

#include "common/util.h"
#include "custom/kernel_common.cuh"

namespace mbv2::custom {

// ----------------------------------------------------------------------------
// kernels

constexpr int kPoolSlices = 8;  // warps per pool block, each summing every 8th pixel

template <int kVec>
__global__ void __launch_bounds__(256) global_avg_pool_kernel(const float* __restrict__ x,
                                                              float* __restrict__ y, int hw, int c,
                                                              float inv) {
  __shared__ __align__(16) float red[kPoolSlices][32 * kVec];
  const int lane = threadIdx.x % 32, slice = threadIdx.x / 32;
  const int n = blockIdx.y;
  const int ch = (blockIdx.x * 32 + lane) * kVec;
  pdl_wait();
  Vec<kVec> acc = zero_vec<kVec>();
  if (ch < c) {
    const float* base = x + size_t(n) * hw * c + ch;
    for (int p = slice; p < hw; p += kPoolSlices) {
      const Vec<kVec> v = load_vec<kVec>(base + size_t(p) * c);
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc.v[e] += v.v[e];
    }
  }
  store_vec<kVec>(&red[slice][lane * kVec], acc);
  __syncthreads();
  if (slice == 0 && ch < c) {
    Vec<kVec> out;
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      float s = red[0][lane * kVec + e];
#pragma unroll
      for (int sl = 1; sl < kPoolSlices; ++sl) s += red[sl][lane * kVec + e];
      out.v[e] = s * inv;
    }
    store_vec<kVec>(y + size_t(n) * c + ch, out);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <bool kVec>
__global__ void __launch_bounds__(256) linear_gemv_kernel(const float* __restrict__ x,
                                                          const float* __restrict__ w,
                                                          const float* __restrict__ bias,
                                                          float* __restrict__ y, int batch, int n,
                                                          int k) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int o = blockIdx.x * 8 + warp;
  pdl_wait();
  if (o >= n) return;  // whole warp leaves together
  float acc[kGemvMaxBatch] = {};
  const float* wr = w + size_t(o) * k;
  if constexpr (kVec) {
#pragma unroll 4
    for (int kk = lane * 4; kk < k; kk += 128) {
      const float4 wv = __ldg(reinterpret_cast<const float4*>(wr + kk));
#pragma unroll
      for (int b = 0; b < kGemvMaxBatch; ++b) {
        if (b >= batch) break;
        const float4 xv = __ldg(reinterpret_cast<const float4*>(x + size_t(b) * k + kk));
        acc[b] = fmaf(xv.x, wv.x, acc[b]);
        acc[b] = fmaf(xv.y, wv.y, acc[b]);
        acc[b] = fmaf(xv.z, wv.z, acc[b]);
        acc[b] = fmaf(xv.w, wv.w, acc[b]);
      }
    }
  } else {
    for (int kk = lane; kk < k; kk += 32) {
      const float wv = __ldg(wr + kk);
#pragma unroll
      for (int b = 0; b < kGemvMaxBatch; ++b) {
        if (b >= batch) break;
        acc[b] = fmaf(__ldg(x + size_t(b) * k + kk), wv, acc[b]);
      }
    }
  }
  pdl_launch_dependents();
  const float bo = __ldg(bias + o);
#pragma unroll
  for (int b = 0; b < kGemvMaxBatch; ++b) {
    const float s = warp_sum(acc[b]);  // all lanes take part, whatever the batch
    if (lane == 0 && b < batch) y[size_t(b) * n + o] = s + bo;
  }
}

constexpr int kPcClasses = 64;    // classes per block (8 warps x 8)
constexpr int kPcChannels = 128;  // channels per block (32 lanes x float4)

// Grid: x = class slices, y = channel slices.
__global__ void __launch_bounds__(256) pool_classifier_kernel(
    const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
    float* __restrict__ y, float* workspace, int* counters, int batch, int hw, int k, int n,
    float inv) {
  __shared__ __align__(16) float red[kPoolSlices][kGemvMaxBatch][kPcChannels];
  __shared__ __align__(16) float pooled[kGemvMaxBatch][kPcChannels];
  __shared__ int s_is_last;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int o0 = blockIdx.x * kPcClasses, k0 = blockIdx.y * kPcChannels;
  const int ch = k0 + lane * 4;
  pdl_wait();

  // Pool this block's 128 channels for every image.
  float4 acc[kGemvMaxBatch];
#pragma unroll
  for (int b = 0; b < kGemvMaxBatch; ++b) acc[b] = make_float4(0.f, 0.f, 0.f, 0.f);
  if (ch < k) {
    for (int p = warp; p < hw; p += kPoolSlices) {
#pragma unroll
      for (int b = 0; b < kGemvMaxBatch; ++b) {
        if (b >= batch) break;
        const float4 v =
            __ldg(reinterpret_cast<const float4*>(x + (size_t(b) * hw + p) * k + ch));
        acc[b].x += v.x, acc[b].y += v.y, acc[b].z += v.z, acc[b].w += v.w;
      }
    }
  }
#pragma unroll
  for (int b = 0; b < kGemvMaxBatch; ++b)
    if (b < batch) *reinterpret_cast<float4*>(&red[warp][b][lane * 4]) = acc[b];
  __syncthreads();
  for (int i = tid; i < batch * kPcChannels; i += blockDim.x) {
    const int b = i / kPcChannels, c = i % kPcChannels;
    float s = red[0][b][c];
#pragma unroll
    for (int sl = 1; sl < kPoolSlices; ++sl) s += red[sl][b][c];
    pooled[b][c] = k0 + c < k ? s * inv : 0.0f;
  }
  __syncthreads();

  // Partial logits of this channel slice: warp w takes classes o0 + w*8 .. +7.
  const int slices = gridDim.y;
  for (int i = 0; i < kPcClasses / 8; ++i) {
    const int o = o0 + warp * (kPcClasses / 8) + i;
    if (o >= n) break;  // warp-uniform
    float4 wv = make_float4(0.f, 0.f, 0.f, 0.f);
    if (ch < k) wv = __ldg(reinterpret_cast<const float4*>(w + size_t(o) * k + ch));
#pragma unroll
    for (int b = 0; b < kGemvMaxBatch; ++b) {
      if (b >= batch) break;
      const float4 pv = *reinterpret_cast<const float4*>(&pooled[b][lane * 4]);
      float s = wv.x * pv.x;
      s = fmaf(wv.y, pv.y, s);
      s = fmaf(wv.z, pv.z, s);
      s = fmaf(wv.w, pv.w, s);
      s = warp_sum(s);
      if (lane == 0) __stcg(workspace + (size_t(blockIdx.y) * batch + b) * n + o, s);
    }
  }
  __threadfence();
  __syncthreads();
  if (tid == 0) s_is_last = atomicAdd(counters + blockIdx.x, 1) == slices - 1;
  __syncthreads();
  if (!s_is_last) return;
  __threadfence();
  for (int i = tid; i < batch * kPcClasses; i += blockDim.x) {
    const int b = i / kPcClasses, o = o0 + i % kPcClasses;
    if (o >= n) continue;
    float s = 0.0f;
    for (int sl = 0; sl < slices; ++sl) s += __ldcg(workspace + (size_t(sl) * batch + b) * n + o);
    y[size_t(b) * n + o] = s + __ldg(bias + o);
  }
  if (tid == 0) counters[blockIdx.x] = 0;  // ready for the next launch
}

// ----------------------------------------------------------------------------
// host side

void launch_global_avg_pool(const float* x, float* y, int n, int hw, int c, cudaStream_t stream,
                            bool pdl) {
  if (!x || !y) throw InputError("global avg pool: null pointer");
  if (n <= 0 || hw <= 0 || c <= 0) throw InputError("global avg pool: empty problem");
  if (n > 65535) throw NotSupportedError("global avg pool: batch above 65535");
  const float inv = 1.0f / float(hw);
  if (c % 4 == 0 && aligned16(x) && aligned16(y)) {
    const dim3 grid(unsigned(ceil_div(c, 32 * 4)), unsigned(n));
    launch_kernel(global_avg_pool_kernel<4>, grid, dim3(256), 0, stream, pdl, x, y, hw, c, inv);
  } else {
    const dim3 grid(unsigned(ceil_div(c, 32)), unsigned(n));
    launch_kernel(global_avg_pool_kernel<1>, grid, dim3(256), 0, stream, pdl, x, y, hw, c, inv);
  }
}

void launch_linear_gemv(const float* x, const float* w, const float* bias, float* y, int batch,
                        int n, int k, cudaStream_t stream, bool pdl) {
  if (!x || !w || !bias || !y) throw InputError("linear: null pointer");
  if (batch <= 0 || batch > kGemvMaxBatch || n <= 0 || k <= 0)
    throw InputError("linear GEMV: batch must be in [1, 8] and the shape non-empty");
  const dim3 grid(unsigned(ceil_div(n, 8)));
  if (k % 4 == 0 && aligned16(x) && aligned16(w))
    launch_kernel(linear_gemv_kernel<true>, grid, dim3(256), 0, stream, pdl, x, w, bias, y, batch,
                  n, k);
  else
    launch_kernel(linear_gemv_kernel<false>, grid, dim3(256), 0, stream, pdl, x, w, bias, y, batch,
                  n, k);
}

bool pool_classifier_fusable(const PoolClassifierShape& s, const float* x, const float* w) {
  return s.batch >= 1 && s.batch <= kGemvMaxBatch && s.k % 4 == 0 && s.hw >= 1 && s.n >= 1 &&
         aligned16(x) && aligned16(w) && ceil_div(s.n, kPcClasses) <= 65535 * 1024 &&
         ceil_div(s.k, kPcChannels) <= 65535;
}

size_t pool_classifier_workspace_floats(const PoolClassifierShape& s) {
  return size_t(ceil_div(s.k, kPcChannels)) * size_t(s.batch) * size_t(s.n);
}

int pool_classifier_counters(const PoolClassifierShape& s) { return ceil_div(s.n, kPcClasses); }

void launch_pool_classifier(const PoolClassifierShape& s, const float* x, const float* w,
                            const float* bias, float* y, float* workspace, int* counters,
                            cudaStream_t stream, bool pdl) {
  if (!x || !w || !bias || !y || !workspace || !counters)
    throw InputError("pool+classifier: null pointer");
  if (!pool_classifier_fusable(s, x, w))
    throw std::logic_error("pool+classifier: shape cannot be fused");
  const dim3 grid(unsigned(ceil_div(s.n, kPcClasses)), unsigned(ceil_div(s.k, kPcChannels)));
  launch_kernel(pool_classifier_kernel, grid, dim3(256), 0, stream, pdl, x, w, bias, y, workspace,
                counters, s.batch, s.hw, s.k, s.n, 1.0f / float(s.hw));
}

}  // namespace mbv2::custom
