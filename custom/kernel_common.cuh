// Device helpers shared by the custom kernels: NaN-propagating ReLU6, vector loads and
// stores of 1 or 4 floats, alignment tests, programmatic dependent launch (PDL) hooks,
// and one launch helper that adds the PDL attribute when asked.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "common/cuda_check.h"

namespace mbv2::custom {

/// min(max(x, 0), 6) that keeps NaN, like the FP64 reference (std::min/std::max), so an
/// unwritten (NaN-poisoned) value upstream cannot be laundered into a plausible 0 or 6.
__device__ __forceinline__ float relu6(float x) { return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x); }

/// Phase trace of the block kernels' kTrace instantiations: thread 0 of each thread block
/// stamps clock64() into slot 2 + k of its record (`words` per block, block index
/// blockIdx.x * gridDim.z + blockIdx.z), and the globaltimer into slot 0 at point 0 and slot 1
/// at point `last`.
__device__ __forceinline__ void trace_stamp(unsigned long long* trace, int words, int k, int last) {
  if (threadIdx.x != 0) return;
  unsigned long long* t = trace + (size_t(blockIdx.x) * gridDim.z + blockIdx.z) * words;
  t[2 + k] = clock64();
  if (k == 0 || k == last) {
    unsigned long long g;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g));
    t[k == 0 ? 0 : 1] = g;
  }
}

/// True when a pointer may be used for float4 accesses.
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

/// `kVec` consecutive floats held in registers (kVec = 1 or 4).
template <int kVec>
struct Vec {
  float v[kVec];
};

template <int kVec>
__device__ __forceinline__ Vec<kVec> load_vec(const float* p) {
  Vec<kVec> r;
  if constexpr (kVec == 4) {
    const float4 t = __ldg(reinterpret_cast<const float4*>(p));
    r.v[0] = t.x, r.v[1] = t.y, r.v[2] = t.z, r.v[3] = t.w;
  } else {
#pragma unroll
    for (int i = 0; i < kVec; ++i) r.v[i] = __ldg(p + i);
  }
  return r;
}

template <int kVec>
__device__ __forceinline__ void store_vec(float* p, const Vec<kVec>& r) {
  if constexpr (kVec == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(r.v[0], r.v[1], r.v[2], r.v[3]);
  } else {
#pragma unroll
    for (int i = 0; i < kVec; ++i) p[i] = r.v[i];
  }
}

template <int kVec>
__device__ __forceinline__ Vec<kVec> zero_vec() {
  Vec<kVec> r;
#pragma unroll
  for (int i = 0; i < kVec; ++i) r.v[i] = 0.0f;
  return r;
}

/// PDL: wait until the grid this one depends on has finished and its writes are visible.
/// A no-op when the kernel was launched without the programmatic-serialization attribute.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

/// PDL: let the next kernel in the stream start launching its blocks (they still wait in
/// pdl_wait() for this grid to complete, so writes after this point stay safe).
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

/// Launches `kernel` with an optional programmatic-stream-serialization attribute (PDL)
/// and, when cluster_z > 1, thread-block clusters of 1 x 1 x cluster_z blocks (grid.z must
/// be a multiple), then checks the launch. Capturable into CUDA graphs.
template <typename... KernelArgs, typename... Args>
void launch_kernel_cluster(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem,
                           cudaStream_t stream, bool pdl, unsigned cluster_z, Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute[2];
  unsigned n = 0;
  if (pdl) {
    attribute[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  if (cluster_z > 1) {
    attribute[n].id = cudaLaunchAttributeClusterDimension;
    attribute[n].val.clusterDim.x = 1;
    attribute[n].val.clusterDim.y = 1;
    attribute[n].val.clusterDim.z = cluster_z;
    ++n;
  }
  config.attrs = n ? attribute : nullptr;
  config.numAttrs = n;
  MBV2_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
  MBV2_CUDA_CHECK_LAST();
}

/// launch_kernel_cluster without clusters.
template <typename... KernelArgs, typename... Args>
void launch_kernel(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, bool pdl, Args&&... args) {
  launch_kernel_cluster(kernel, grid, block, smem, stream, pdl, 1u, std::forward<Args>(args)...);
}

}  // namespace mbv2::custom
