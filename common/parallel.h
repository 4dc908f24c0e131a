// A minimal parallel-for over an index range on std::threads (CPU reference, checks).
#pragma once

#include <cstdint>
#include <functional>

namespace mbv2 {

/// Threads used by parallel_for: MBV2_THREADS if set, else the hardware concurrency.
int worker_threads();

/// Calls fn(begin, end) on disjoint chunks covering [0, count), in parallel.
/// The first exception thrown by any chunk is rethrown after all threads join.
void parallel_for(int64_t count, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace mbv2
