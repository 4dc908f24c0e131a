// Seeded random fill for the search's buffers: engines are timed and checked on real
// values, never on zeros (a zero input would let a wrong epilogue pass the check).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace mbv2::cudnn {

/// Fills `count` floats at `dst` with values uniform in [-1, 1), none exactly zero: a 1 Mi
/// value pattern (SplitMix64, `seed`) uploaded once and tiled with device copies.
/// Synchronous; for prepare() only.
void fill_uniform(float* dst, size_t count, uint64_t seed, cudaStream_t stream);

}  // namespace mbv2::cudnn
