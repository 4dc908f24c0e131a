#include "cudnn_ref/activation_arena.h"

#include <algorithm>

namespace mbv2::cudnn {

std::vector<int> last_readers(const ModelSpec& spec) {
  const int count = int(spec.layers.size());
  std::vector<int> last(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) last[size_t(i)] = i;
  for (const Layer& l : spec.layers) {
    for (int src : {l.input_from, l.residual_from}) {
      if (src >= 0 && src < count) last[size_t(src)] = std::max(last[size_t(src)], l.index);
    }
  }
  return last;
}

ArenaPlan plan_arena(const ModelSpec& spec, int batch) {
  const int count = int(spec.layers.size());
  const std::vector<int> last = last_readers(spec);
  ArenaPlan plan;
  plan.slot_of_layer.assign(size_t(count), -1);
  std::vector<int> holder;  // layer whose output a slot holds, -1 when free

  for (int i = 0; i < count; ++i) {
    // Free slots whose activation nobody at or after layer i still reads.
    for (size_t s = 0; s < holder.size(); ++s)
      if (holder[s] >= 0 && last[size_t(holder[s])] < i) holder[s] = -1;
    if (i == count - 1) break;  // the last layer writes the caller's buffer

    const int64_t need = spec.layers[size_t(i)].output_shape(batch).numel();
    int best_fit = -1, largest = -1;
    for (size_t s = 0; s < holder.size(); ++s) {
      if (holder[s] >= 0) continue;
      const int64_t cap = plan.slot_floats[s];
      if (cap >= need && (best_fit < 0 || cap < plan.slot_floats[size_t(best_fit)]))
        best_fit = int(s);
      if (largest < 0 || cap > plan.slot_floats[size_t(largest)]) largest = int(s);
    }
    int slot = best_fit >= 0 ? best_fit : largest;
    if (slot < 0) {
      slot = int(holder.size());
      holder.push_back(-1);
      plan.slot_floats.push_back(0);
    }
    plan.slot_floats[size_t(slot)] = std::max(plan.slot_floats[size_t(slot)], need);
    holder[size_t(slot)] = i;
    plan.slot_of_layer[size_t(i)] = slot;
  }
  return plan;
}

}  // namespace mbv2::cudnn
