// Phase 3: one warm launch of every verified layer, timed, to choose K (launches per warm
// sample) so a sample outlasts the event timer's resolution; and the timing inputs.
#pragma once

#include "bench/run_state.h"

namespace mbv2 {

/// Fills the harness inputs with seeded random values and times one warm launch of every
/// verified layer, which sets its K. Throws FatalRunError when the CUDA context is lost.
void calibrate_batch(BenchContext& ctx, BatchRun& run);

}  // namespace mbv2
