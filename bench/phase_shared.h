// What the prepare, verify and calibrate phases share.
#pragma once

#include <cstddef>
#include <exception>
#include <string>

#include "bench/run_state.h"

namespace mbv2 {

/// Floats after the largest output that must stay NaN: a kernel writing past its output
/// shows up there instead of in a neighbour's data.
inline constexpr size_t kGuardFloats = 1024;

/// The note of a result whose verification is still to come.
inline constexpr const char* kPendingNote = "not verified";

/// A failure that is not the backend's "not supported": counted as a run error and noted
/// (not_run). Throws FatalRunError when the CUDA context is gone.
Verdict failure_verdict(BenchContext& ctx, const std::string& what, const std::exception& e);

}  // namespace mbv2
