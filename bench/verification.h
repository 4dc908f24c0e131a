// Phase 2, the numeric gate, run before anything is timed.
//
// Per layer, every backend gets the same input: the CPU reference's float activation of
// the layer before, in its own layout; its output is NaN-poisoned first and compared with
// reference_layer() under layer_tolerance(). End to end, forward() on the whole batch and
// the replay of its captured CUDA graph are compared with the reference logits under
// network_tolerance(), with the top-5 classes of every image.
//
// The reference runs once per batch and layer and serves every backend; activations are
// dropped as soon as no later layer needs them.
#pragma once

#include "bench/run_state.h"

namespace mbv2 {

/// Verifies every selected layer and the network of every prepared backend; captures the
/// CUDA graphs of forward().
void verify_batch(BenchContext& ctx, BatchRun& run);

}  // namespace mbv2
