// Phase 1 of a run (cutlass-profiler style: prepare -> verify -> calibrate -> time):
// harness buffers, then every selected backend created and prepared for one batch.
#pragma once

#include <memory>
#include <string>

#include "bench/run_state.h"

namespace mbv2 {

/// Precisions the harness can run: its buffers and references are float, and fp32/tf32
/// compute on float storage. Anything else is reported not_supported for every backend.
bool harness_runs(Precision precision);

/// Allocates the harness buffers, then creates and prepares every selected backend for
/// `batch`. Throws InputError "batch N does not fit in GPU memory: ..." when an allocation
/// fails; a backend that cannot run the configuration is recorded, not thrown.
std::unique_ptr<BatchRun> prepare_batch(BenchContext& ctx, int batch);

/// "kernel [details] ws=..." for a report's what_ran.
std::string describe_text(const LayerDescription& d);

}  // namespace mbv2
