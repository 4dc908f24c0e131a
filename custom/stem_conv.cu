// Direct dense convolution, NHWC: the MobileNetV2 stem (3x3, stride 2, 3 -> 32 channels)
// and any other small groups=1 KxK conv, with fused bias + ReLU6 (+ residual).
//
// Versions:
//   v1  One block = an output tile (kTH x kTW pixels of one image) x all output channels.
//       The input tile ((kTH-1)*s + k rows x (kTW-1)*s + k columns x Cin, zero where the
//       padding is) and all weights ([tap][Cin][Cout]) are staged in shared memory with
//       coalesced loads. One thread item = kPpt consecutive output pixels x kCpt channels;
//       channels are interleaved across threads (float4 j of group g holds channels
//       j*groups*4 + g*4 ...) so that neighbouring threads write neighbouring float4s.
//       Fast path: Cin = 3, 3x3, stride 2, 4 pixels x 8 channels per item, the input row
//       segment of each (kh, ci) held in registers; tile height 8, or 4 when that is needed
//       to give every SM a block (batch 1). Generic path: runtime Cin / k / stride, 1 pixel x
//       4 channels per item.
//   v1.1 Weights staged before the PDL wait; the input tile staged with 8 global loads in
//       flight per thread (the load-store loop had one: serial L2 round trips).
//   v1.2 Fast path with 4, 2 or 1 output pixels per thread (plan.ppt): at batch 1 the
//       4-pixel items give 112 blocks of 128 threads, one warp per scheduler, each thread
//       ~860 FMAs in sequence; 2 or 1 pixels per thread put 256 or 512 threads on the same
//       tile (MBV2_CUSTOM_STEM_PPT). H200 batch 1, graph end to end, 3 rounds: 2 pixels
//       157.04 / 157.12 / 157.17 µs, 1 pixel 158.44 / 158.22 / 158.21, 4 pixels ~158.2:
//       the planner takes 2 for 4-row tiles (small batch), 4 otherwise.
//       Launch bounds 512 only for the 1-pixel instantiation: with 512 on all of them the
//       4-pixel kernels took 87 registers instead of 77, 2 blocks per SM instead of 3, and the
//       batch-256 stem measured 392 vs 353 µs (reference report of c4b19e7). The planner caps
//       the threads at the same bound (edd1c47 did not: 2-pixel items over 256 threads, e.g.
//       width 1.4 or 8-row tiles, failed to launch on the H200).
#include "custom/stem_conv.h"

#include <algorithm>
#include <sstream>

#include "common/util.h"
#include "custom/kernel_common.cuh"

namespace mbv2::custom {

// ----------------------------------------------------------------------------
// kernel

struct DcParams {
  const float* x;
  const float* w;     // [k*k*Cin][ldw]
  const float* bias;  // [ldw]
  const float* residual;
  float* y;
  int H, W, Cin, OH, OW, Cout, k, stride, pad, relu6;
  int groups, ldw;
  int in_tile_h, in_tile_w;
  int vec_out;  // Cout % 4 == 0 and y / residual 16-byte aligned
};

// The most threads a block of an instantiation runs: its launch bounds, and the planner's cap
// (a launch above them fails with cudaErrorInvalidValue).
constexpr int max_threads(int cin, int ppt) { return cin == 3 && ppt == 1 ? 512 : 256; }

// kCin / kK / kS = 0: taken from the parameters at run time.
template <int kCin, int kK, int kS, int kTH, int kTW, int kPpt, int kCpt>
__global__ void __launch_bounds__(max_threads(kCin, kPpt)) direct_conv_kernel(const DcParams p) {
  static_assert(kCpt % 4 == 0 && kTW % kPpt == 0, "items are float4 channel groups");
  extern __shared__ __align__(16) float smem[];
  const int cin = kCin ? kCin : p.Cin;
  const int k = kK ? kK : p.k;
  const int s = kS ? kS : p.stride;
  const int w_floats = k * k * cin * p.ldw;  // multiple of 4 (ldw is)
  float* s_w = smem;
  float* s_in = smem + w_floats;
  const int tid = threadIdx.x, nthreads = blockDim.x;
  const int n = blockIdx.z, oh0 = blockIdx.y * kTH, ow0 = blockIdx.x * kTW;
  const int ih_base = oh0 * s - p.pad, iw_base = ow0 * s - p.pad;

  // Weights are constant: staged before waiting for the previous kernel.
  for (int i = tid; i < w_floats / 4; i += nthreads)
    reinterpret_cast<float4*>(s_w)[i] = __ldg(reinterpret_cast<const float4*>(p.w) + i);
  pdl_wait();
  // The input tile, kStage loads in flight per thread before the first shared store (a
  // load-store loop kept one load in flight: ~14 serial global round trips per thread at
  // batch 1, about half of the kernel's 8.7 µs on the H200).
  constexpr int kStage = 8;
  const int row_floats = p.in_tile_w * cin;
  const int tile_floats = p.in_tile_h * row_floats;
  for (int i0 = tid; i0 < tile_floats; i0 += kStage * nthreads) {
    float v[kStage];
#pragma unroll
    for (int u = 0; u < kStage; ++u) {
      const int i = i0 + u * nthreads;
      const int r = i / row_floats, rem = i - r * row_floats;
      const int col = rem / cin, ci = rem - col * cin;
      const int ih = ih_base + r, iw = iw_base + col;
      v[u] = 0.0f;
      if (i < tile_floats && unsigned(ih) < unsigned(p.H) && unsigned(iw) < unsigned(p.W))
        v[u] = __ldg(p.x + ((size_t(n) * p.H + ih) * p.W + iw) * cin + ci);
    }
#pragma unroll
    for (int u = 0; u < kStage; ++u)
      if (i0 + u * nthreads < tile_floats) s_in[i0 + u * nthreads] = v[u];
  }
  __syncthreads();
  pdl_launch_dependents();

  constexpr int kQuadsPerRow = kTW / kPpt;
  const int groups = p.groups;
  const int items = kTH * kQuadsPerRow * groups;
  for (int item = tid; item < items; item += nthreads) {
    const int g = item % groups, pq = item / groups;
    const int lr = pq / kQuadsPerRow, lq = pq % kQuadsPerRow;
    const int oh = oh0 + lr, ow_first = ow0 + lq * kPpt;
    if (oh >= p.OH || ow_first >= p.OW) continue;

    float acc[kPpt][kCpt];
#pragma unroll
    for (int cq = 0; cq < kCpt / 4; ++cq) {
      const float4 b = __ldg(reinterpret_cast<const float4*>(p.bias + cq * groups * 4 + g * 4));
#pragma unroll
      for (int px = 0; px < kPpt; ++px) {
        acc[px][cq * 4 + 0] = b.x, acc[px][cq * 4 + 1] = b.y;
        acc[px][cq * 4 + 2] = b.z, acc[px][cq * 4 + 3] = b.w;
      }
    }
    for (int kh = 0; kh < k; ++kh) {
      for (int ci = 0; ci < cin; ++ci) {
        const float* in_row = s_in + ((lr * s + kh) * p.in_tile_w + lq * kPpt * s) * cin + ci;
        if constexpr (kK != 0 && kS != 0) {
          constexpr int kCols = (kPpt - 1) * kS + kK;
          float v[kCols];
#pragma unroll
          for (int j = 0; j < kCols; ++j) v[j] = in_row[j * cin];
#pragma unroll
          for (int kw = 0; kw < kK; ++kw) {
            const float* wr = s_w + ((kh * kK + kw) * cin + ci) * p.ldw + g * 4;
#pragma unroll
            for (int cq = 0; cq < kCpt / 4; ++cq) {
              const float4 w4 = *reinterpret_cast<const float4*>(wr + cq * groups * 4);
#pragma unroll
              for (int px = 0; px < kPpt; ++px) {
                const float xv = v[px * kS + kw];
                acc[px][cq * 4 + 0] = fmaf(xv, w4.x, acc[px][cq * 4 + 0]);
                acc[px][cq * 4 + 1] = fmaf(xv, w4.y, acc[px][cq * 4 + 1]);
                acc[px][cq * 4 + 2] = fmaf(xv, w4.z, acc[px][cq * 4 + 2]);
                acc[px][cq * 4 + 3] = fmaf(xv, w4.w, acc[px][cq * 4 + 3]);
              }
            }
          }
        } else {
          for (int kw = 0; kw < k; ++kw) {
            const float* wr = s_w + ((kh * k + kw) * cin + ci) * p.ldw + g * 4;
#pragma unroll
            for (int cq = 0; cq < kCpt / 4; ++cq) {
              const float4 w4 = *reinterpret_cast<const float4*>(wr + cq * groups * 4);
#pragma unroll
              for (int px = 0; px < kPpt; ++px) {
                const float xv = in_row[(px * s + kw) * cin];
                acc[px][cq * 4 + 0] = fmaf(xv, w4.x, acc[px][cq * 4 + 0]);
                acc[px][cq * 4 + 1] = fmaf(xv, w4.y, acc[px][cq * 4 + 1]);
                acc[px][cq * 4 + 2] = fmaf(xv, w4.z, acc[px][cq * 4 + 2]);
                acc[px][cq * 4 + 3] = fmaf(xv, w4.w, acc[px][cq * 4 + 3]);
              }
            }
          }
        }
      }
    }

#pragma unroll
    for (int px = 0; px < kPpt; ++px) {
      const int ow = ow_first + px;
      if (ow >= p.OW) break;
      const size_t base = ((size_t(n) * p.OH + oh) * p.OW + ow) * size_t(p.Cout);
#pragma unroll
      for (int cq = 0; cq < kCpt / 4; ++cq) {
        const int c0 = cq * groups * 4 + g * 4;
        float v[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) v[e] = p.relu6 ? relu6(acc[px][cq * 4 + e]) : acc[px][cq * 4 + e];
        if (p.vec_out) {
          if (c0 >= p.Cout) continue;  // Cout % 4 == 0: wholly in or out
          if (p.residual) {
            const float4 r = __ldg(reinterpret_cast<const float4*>(p.residual + base + c0));
            v[0] += r.x, v[1] += r.y, v[2] += r.z, v[3] += r.w;
          }
          *reinterpret_cast<float4*>(p.y + base + c0) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            if (c0 + e >= p.Cout) continue;
            p.y[base + c0 + e] = v[e] + (p.residual ? __ldg(p.residual + base + c0 + e) : 0.0f);
          }
        }
      }
    }
  }
}

// ----------------------------------------------------------------------------
// host side

namespace {

using KernelFn = void (*)(DcParams);

constexpr int kFastTW = 32, kFastPpt = 4, kFastCpt = 8;
constexpr int kGenericTH = 8, kGenericTW = 16, kGenericPpt = 1, kGenericCpt = 4;

template <int kTH>
KernelFn fast_kernel(int ppt) {
  if (ppt == 1) return direct_conv_kernel<3, 3, 2, kTH, kFastTW, 1, kFastCpt>;
  if (ppt == 2) return direct_conv_kernel<3, 3, 2, kTH, kFastTW, 2, kFastCpt>;
  return direct_conv_kernel<3, 3, 2, kTH, kFastTW, kFastPpt, kFastCpt>;
}

KernelFn kernel_for(const DirectConvPlan& plan) {
  if (plan.fast) return plan.tile_h == 8 ? fast_kernel<8>(plan.ppt) : fast_kernel<4>(plan.ppt);
  return direct_conv_kernel<0, 0, 0, kGenericTH, kGenericTW, kGenericPpt, kGenericCpt>;
}

int in_tile(int tile, int stride, int kernel) { return (tile - 1) * stride + kernel; }

}  // namespace

std::string DirectConvPlan::str() const {
  std::ostringstream s;
  s << "direct_conv<" << (fast ? "3x3s2 cin3 " : "generic ") << tile_h << "x" << tile_w
    << " tile, " << (fast ? ppt : kGenericPpt) << "px x " << (fast ? kFastCpt : kGenericCpt)
    << "ch/thread>";
  return s.str();
}

DirectConvPlan plan_direct_conv(const DirectConvArgs& a, int sm_count, int force_ppt) {
  if (a.cin <= 0 || a.cout <= 0 || a.kernel <= 0 || a.stride <= 0 || a.pad < 0)
    throw InputError("direct conv: bad shape");
  DirectConvPlan plan;
  plan.fast = a.cin == 3 && a.kernel == 3 && a.stride == 2;
  const int cpt = plan.fast ? kFastCpt : kGenericCpt;
  plan.tile_w = plan.fast ? kFastTW : kGenericTW;
  plan.tile_h = plan.fast ? 8 : kGenericTH;
  if (plan.fast) {
    const int64_t blocks8 =
        int64_t(ceil_div(a.ow, plan.tile_w)) * ceil_div(a.oh, 8) * std::max(1, a.n);
    if (blocks8 < 2 * int64_t(sm_count)) plan.tile_h = 4;
  }
  // 2 pixels per thread where the grid is short of 2 blocks per SM (4-row tiles; H200 batch
  // 1: 157.1 vs 158.2 µs end to end with 4, 158.3 with 1); else 4.
  plan.ppt = kGenericPpt;
  if (plan.fast) plan.ppt = force_ppt == 1 || force_ppt == 2 || force_ppt == 4 ? force_ppt : (plan.tile_h == 4 ? 2 : kFastPpt);
  plan.groups = ceil_div(a.cout, cpt);
  plan.ldw = plan.groups * cpt;
  const int items = plan.tile_h * (plan.tile_w / plan.ppt) * plan.groups;
  plan.threads = std::min(max_threads(plan.fast ? 3 : 0, plan.ppt), ceil_div(items, 32) * 32);
  const size_t w_floats = size_t(a.kernel) * a.kernel * a.cin * plan.ldw;
  const size_t tile_floats = size_t(in_tile(plan.tile_h, a.stride, a.kernel)) *
                             in_tile(plan.tile_w, a.stride, a.kernel) * a.cin;
  plan.smem_bytes = (w_floats + tile_floats) * sizeof(float);
  if (plan.smem_bytes > 200 * 1024)
    throw NotSupportedError("direct conv: weights and input tile need " +
                            std::to_string(plan.smem_bytes / 1024) +
                            " KB of shared memory (limit 200 KB)");
  return plan;
}

std::vector<float> pack_direct_weights(const std::vector<float>& w, const DirectConvArgs& a,
                                       const DirectConvPlan& plan) {
  const int k = a.kernel, cin = a.cin, cout = a.cout;
  if (w.size() != size_t(cout) * cin * k * k) throw InputError("direct conv: weight size mismatch");
  std::vector<float> out(size_t(k) * k * cin * plan.ldw, 0.0f);
  for (int co = 0; co < cout; ++co)
    for (int ci = 0; ci < cin; ++ci)
      for (int kh = 0; kh < k; ++kh)
        for (int kw = 0; kw < k; ++kw)
          out[(size_t(kh * k + kw) * cin + ci) * plan.ldw + co] =
              w[((size_t(co) * cin + ci) * k + kh) * k + kw];
  return out;
}

std::vector<float> pad_direct_bias(const std::vector<float>& b, const DirectConvPlan& plan) {
  std::vector<float> out(size_t(plan.ldw), 0.0f);
  for (size_t i = 0; i < b.size() && i < out.size(); ++i) out[i] = b[i];
  return out;
}

void configure_direct_conv(const DirectConvPlan& plan) {
  if (plan.smem_bytes > 48 * 1024)
    MBV2_CUDA_CHECK(cudaFuncSetAttribute(kernel_for(plan), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(plan.smem_bytes)));
}

void launch_direct_conv(const DirectConvPlan& plan, const DirectConvArgs& a, cudaStream_t stream,
                        bool pdl) {
  if (!a.x || !a.w || !a.bias || !a.y) throw InputError("direct conv: null pointer");
  if (a.n <= 0 || a.oh <= 0 || a.ow <= 0) throw InputError("direct conv: empty problem");
  if (a.n > 65535) throw NotSupportedError("direct conv: batch above 65535");
  if (plan.fast != (a.cin == 3 && a.kernel == 3 && a.stride == 2))
    throw std::logic_error("direct conv: plan does not match the layer");
  DcParams p;
  p.x = a.x, p.w = a.w, p.bias = a.bias, p.residual = a.residual, p.y = a.y;
  p.H = a.h, p.W = a.w_in, p.Cin = a.cin, p.OH = a.oh, p.OW = a.ow, p.Cout = a.cout;
  p.k = a.kernel, p.stride = a.stride, p.pad = a.pad, p.relu6 = a.relu6 ? 1 : 0;
  p.groups = plan.groups, p.ldw = plan.ldw;
  p.in_tile_h = in_tile(plan.tile_h, a.stride, a.kernel);
  p.in_tile_w = in_tile(plan.tile_w, a.stride, a.kernel);
  p.vec_out = (a.cout % 4 == 0 && aligned16(a.y) && (!a.residual || aligned16(a.residual))) ? 1 : 0;
  const dim3 grid(unsigned(ceil_div(a.ow, plan.tile_w)), unsigned(ceil_div(a.oh, plan.tile_h)),
                  unsigned(a.n));
  launch_kernel(kernel_for(plan), grid, dim3(unsigned(plan.threads)), plan.smem_bytes, stream, pdl,
                p);
}

}  // namespace mbv2::custom
