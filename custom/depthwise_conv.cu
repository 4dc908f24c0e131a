// Depthwise convolution, NHWC, with fused bias + ReLU6 (+ residual).
//
// Versions:
//   v1  3x3, stride 1 or 2: one thread = kPW consecutive output pixels along W x 4 channels
//       (float4) or x 1 channel (scalar fallback for C % 4 != 0 or unaligned tensors);
//       consecutive threads take consecutive channel groups of the same pixels, so every
//       load and store is coalesced. The 9 weights and the bias sit in registers; each
//       input row segment ((kPW - 1) * stride + 3 columns) is loaded once per thread and
//       reused by all kPW outputs (neighbouring rows come from L1). kPW = 4/2/1 is chosen so
//       that small layers (7x7 at batch 1) still spread over all SMs.
//       Generic kernel (any kernel size / stride / padding) with runtime loops, 1 pixel.
//   v2  (reverted) taps and bias loaded before the PDL wait: on the H200 the wait then
//       exposed their latency in every launch, PDL or not (batch 256: 7-15% slower, e.g.
//       14x14x384 57.7 -> 66.3 us); the wait is first again.
#include "custom/depthwise_conv.h"

#include <climits>
#include <sstream>

#include "common/util.h"
#include "custom/kernel_common.cuh"
#include "custom/pointwise_conv.h"

namespace mbv2::custom {

// ----------------------------------------------------------------------------
// kernels

struct DwParams {
  const float* x;
  const float* w;     // [k*k][ldc]
  const float* bias;  // [ldc]
  const float* residual;
  float* y;
  int H, W, C, OH, OW, ldc;
  int k, stride, pad, relu6;
  int groups_per_row;  // ceil(OW / kPW)
  int cvecs;           // ceil(C / kVec)
  int total;           // N * OH * groups_per_row * cvecs (< 2^31)
};

template <int kVec>
__device__ __forceinline__ void fma_vec(Vec<kVec>& acc, const Vec<kVec>& x, const Vec<kVec>& w) {
#pragma unroll
  for (int e = 0; e < kVec; ++e) acc.v[e] = fmaf(x.v[e], w.v[e], acc.v[e]);
}

template <int kVec>
__device__ __forceinline__ void finish_and_store(Vec<kVec> acc, const DwParams& p, size_t offset) {
  if (p.relu6) {
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc.v[e] = relu6(acc.v[e]);
  }
  if (p.residual) {
    const Vec<kVec> r = load_vec<kVec>(p.residual + offset);
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc.v[e] += r.v[e];
  }
  store_vec<kVec>(p.y + offset, acc);
}

// 3x3, compile-time stride. Thread t -> (channel group, pixel group along W, row, image),
// channel group fastest.
template <int kVec, int kPW, int kS>
__global__ void __launch_bounds__(256) depthwise3x3_kernel(const DwParams p) {
  constexpr int kCols = (kPW - 1) * kS + 3;
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  pdl_wait();
  if (t >= p.total) return;
  const int cv = t % p.cvecs;
  int rest = t / p.cvecs;
  const int g = rest % p.groups_per_row;
  rest /= p.groups_per_row;
  const int oh = rest % p.OH;
  const int n = rest / p.OH;
  const int c = cv * kVec;
  const int ow0 = g * kPW;

  Vec<kVec> w[9];
#pragma unroll
  for (int tap = 0; tap < 9; ++tap) w[tap] = load_vec<kVec>(p.w + tap * p.ldc + c);
  const Vec<kVec> b = load_vec<kVec>(p.bias + c);
  Vec<kVec> acc[kPW];
#pragma unroll
  for (int o = 0; o < kPW; ++o) acc[o] = b;

  const int ih0 = oh * kS - p.pad, iw0 = ow0 * kS - p.pad;
#pragma unroll
  for (int kh = 0; kh < 3; ++kh) {
    const int ih = ih0 + kh;
    if (unsigned(ih) >= unsigned(p.H)) continue;
    const float* row = p.x + (size_t(n) * p.H + ih) * size_t(p.W) * p.C + c;
    Vec<kVec> cols[kCols];
#pragma unroll
    for (int j = 0; j < kCols; ++j) {
      const int iw = iw0 + j;
      cols[j] = unsigned(iw) < unsigned(p.W) ? load_vec<kVec>(row + size_t(iw) * p.C)
                                             : zero_vec<kVec>();
    }
#pragma unroll
    for (int kw = 0; kw < 3; ++kw)
#pragma unroll
      for (int o = 0; o < kPW; ++o) fma_vec<kVec>(acc[o], cols[o * kS + kw], w[kh * 3 + kw]);
  }
  pdl_launch_dependents();
  const size_t out_row = (size_t(n) * p.OH + oh) * size_t(p.OW);
#pragma unroll
  for (int o = 0; o < kPW; ++o) {
    const int ow = ow0 + o;
    if (ow < p.OW) finish_and_store<kVec>(acc[o], p, (out_row + ow) * p.C + c);
  }
}

// Any kernel size, stride and padding; one output pixel per thread.
template <int kVec>
__global__ void __launch_bounds__(256) depthwise_generic_kernel(const DwParams p) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  pdl_wait();
  if (t >= p.total) return;
  const int cv = t % p.cvecs;
  int rest = t / p.cvecs;
  const int ow = rest % p.groups_per_row;  // groups_per_row == OW here
  rest /= p.groups_per_row;
  const int oh = rest % p.OH;
  const int n = rest / p.OH;
  const int c = cv * kVec;
  Vec<kVec> acc = load_vec<kVec>(p.bias + c);
  for (int kh = 0; kh < p.k; ++kh) {
    const int ih = oh * p.stride - p.pad + kh;
    if (unsigned(ih) >= unsigned(p.H)) continue;
    for (int kw = 0; kw < p.k; ++kw) {
      const int iw = ow * p.stride - p.pad + kw;
      if (unsigned(iw) >= unsigned(p.W)) continue;
      const Vec<kVec> x = load_vec<kVec>(p.x + ((size_t(n) * p.H + ih) * p.W + iw) * p.C + c);
      fma_vec<kVec>(acc, x, load_vec<kVec>(p.w + (kh * p.k + kw) * p.ldc + c));
    }
  }
  finish_and_store<kVec>(acc, p, ((size_t(n) * p.OH + oh) * p.OW + ow) * p.C + c);
}

// ----------------------------------------------------------------------------
// host side

namespace {

int64_t thread_count(const DepthwiseArgs& a, int vec, int pixels) {
  return int64_t(a.n) * a.oh * ceil_div(a.ow, pixels) * ceil_div(a.c, vec);
}

bool fast_shape(const DepthwiseArgs& a) {
  return a.kernel == 3 && (a.stride == 1 || a.stride == 2);
}

template <int kVec, int kPW>
void launch_fast(const DwParams& p, int stride, cudaStream_t stream, bool pdl) {
  const dim3 grid(unsigned(ceil_div(p.total, 256))), block(256);
  if (stride == 1)
    launch_kernel(depthwise3x3_kernel<kVec, kPW, 1>, grid, block, 0, stream, pdl, p);
  else
    launch_kernel(depthwise3x3_kernel<kVec, kPW, 2>, grid, block, 0, stream, pdl, p);
}

}  // namespace

std::vector<float> pack_depthwise_weights(const std::vector<float>& w, int channels, int kernel) {
  const size_t taps = size_t(kernel) * kernel;
  if (w.size() != size_t(channels) * taps)
    throw InputError("pack_depthwise_weights: weight size mismatch");
  const int ldc = padded4(channels);
  std::vector<float> out(taps * ldc, 0.0f);
  for (int c = 0; c < channels; ++c)
    for (size_t tap = 0; tap < taps; ++tap) out[tap * ldc + c] = w[size_t(c) * taps + tap];
  return out;
}

std::string DepthwisePlan::str() const {
  std::ostringstream s;
  if (generic)
    s << "dw_generic<vec" << vec << ">";
  else
    s << "dw3x3<vec" << vec << ", " << pixels << "px/thread>";
  return s.str();
}

DepthwisePlan plan_depthwise(const DepthwiseArgs& a, int sm_count) {
  DepthwisePlan plan;
  plan.vec = a.c % 4 == 0 ? 4 : 1;
  plan.generic = !fast_shape(a);
  if (plan.generic) {
    plan.pixels = 1;
    return plan;
  }
  // Fewer pixels per thread when the layer is small, so that it still fills the GPU.
  const int64_t want = int64_t(sm_count) * 1024;
  plan.pixels = thread_count(a, plan.vec, 4) >= want ? 4 : thread_count(a, plan.vec, 2) >= want / 2 ? 2 : 1;
  return plan;
}

void launch_depthwise(const DepthwisePlan& plan, const DepthwiseArgs& a, cudaStream_t stream,
                      bool pdl) {
  if (!a.x || !a.w || !a.bias || !a.y) throw InputError("depthwise: null pointer");
  if (a.n <= 0 || a.c <= 0 || a.oh <= 0 || a.ow <= 0) throw InputError("depthwise: empty problem");
  // float4 only when every tensor we touch allows it; otherwise the scalar kernel.
  const bool vec4 = plan.vec == 4 && a.c % 4 == 0 && aligned16(a.x) && aligned16(a.y) &&
                    (a.residual == nullptr || aligned16(a.residual));
  const int vec = vec4 ? 4 : 1;
  const bool generic = plan.generic || !fast_shape(a);
  const int pixels = generic ? 1 : plan.pixels;
  const int64_t total = thread_count(a, vec, pixels);
  if (total > INT_MAX - 256) throw NotSupportedError("depthwise: layer too large for 32-bit indexing");

  DwParams p;
  p.x = a.x, p.w = a.w, p.bias = a.bias, p.residual = a.residual, p.y = a.y;
  p.H = a.h, p.W = a.w_in, p.C = a.c, p.OH = a.oh, p.OW = a.ow, p.ldc = padded4(a.c);
  p.k = a.kernel, p.stride = a.stride, p.pad = a.pad, p.relu6 = a.relu6 ? 1 : 0;
  p.groups_per_row = ceil_div(a.ow, pixels);
  p.cvecs = ceil_div(a.c, vec);
  p.total = int(total);

  if (generic) {
    const dim3 grid(unsigned(ceil_div(p.total, 256))), block(256);
    if (vec == 4)
      launch_kernel(depthwise_generic_kernel<4>, grid, block, 0, stream, pdl, p);
    else
      launch_kernel(depthwise_generic_kernel<1>, grid, block, 0, stream, pdl, p);
    return;
  }
  if (vec == 4) {
    if (pixels == 4) launch_fast<4, 4>(p, a.stride, stream, pdl);
    else if (pixels == 2) launch_fast<4, 2>(p, a.stride, stream, pdl);
    else launch_fast<4, 1>(p, a.stride, stream, pdl);
  } else {
    if (pixels == 4) launch_fast<1, 4>(p, a.stride, stream, pdl);
    else if (pixels == 2) launch_fast<1, 2>(p, a.stride, stream, pdl);
    else launch_fast<1, 1>(p, a.stride, stream, pdl);
  }
}

}  // namespace mbv2::custom
