// cp.async (sm_80+) wrappers: 16-byte global -> shared copies that bypass the registers,
// grouped and waited for in commit order. Used by the v2 GEMM pipeline (pointwise_conv.cu).
//
// Versions:
//   v1  cp_async16 (zero-filling when the source is out of range), commit, wait_group<N>.
#pragma once

#include <cuda_runtime.h>

namespace mbv2::custom {

/// Starts copying 16 bytes from `src` (global, 16-byte aligned) to `dst` (shared, 16-byte
/// aligned); with valid == false nothing is read and `dst` gets zeros (src must still be a
/// valid address: pass any in-range pointer). Completes at a later cp_async_wait<>().
__device__ __forceinline__ void cp_async16(float* dst, const float* src, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned saddr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(saddr), "l"(src),
               "r"(src_bytes)
               : "memory");
#else
  // Pre-sm_80 device code (never built here) and the host pass: a plain copy.
  *reinterpret_cast<float4*>(dst) =
      valid ? *reinterpret_cast<const float4*>(src) : make_float4(0.f, 0.f, 0.f, 0.f);
#endif
}

/// Closes the group of copies this thread started since the last commit.
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

/// Waits until at most `kPending` of this thread's committed groups are still in flight.
/// Other threads' copies become visible only after a __syncthreads() that follows.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
#endif
}

}  // namespace mbv2::custom
