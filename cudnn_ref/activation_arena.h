// Where forward() keeps activations: each layer's output goes to a slot that no live
// activation (an input or residual still to be read) occupies; slots are reused as soon as
// their activation's last reader has run. Pure planning, no CUDA: unit-testable anywhere.
#pragma once

#include <cstdint>
#include <vector>

#include "common/model.h"

namespace mbv2::cudnn {

struct ArenaPlan {
  /// Slot holding layer i's output; -1 for the last layer (it writes the caller's logits).
  std::vector<int> slot_of_layer;
  /// Floats each slot must hold (the largest activation it ever holds).
  std::vector<int64_t> slot_floats;
};

/// Plans the slots for `spec` at `batch` (greedy: the free slot that fits best, else the
/// largest free one grown, else a new one).
ArenaPlan plan_arena(const ModelSpec& spec, int batch);

/// Index of the last layer reading layer i's output (input or residual); i if none.
std::vector<int> last_readers(const ModelSpec& spec);

}  // namespace mbv2::cudnn
