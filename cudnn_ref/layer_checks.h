// What the cuDNN backend accepts before touching the GPU: precisions, layer geometry,
// weight sizes, buffer pointers. Pure host code, unit-testable without a device.
#pragma once

#include <string>

#include "common/backend.h"
#include "common/model.h"
#include "common/weights.h"

namespace mbv2::cudnn {

/// supports(): fp32 and tf32 only; conv/pool/linear geometry consistent with the layer kind.
Support check_layer(const Layer& layer, const RunConfig& config);

/// prepare() preconditions: batch >= 1, one LayerWeights per layer with the sizes the layer
/// needs, a non-empty spec. Throws InputError naming the first problem.
void check_prepare_inputs(const ModelSpec& spec, const ModelWeights& weights,
                          const RunConfig& config);

/// run_layer()/forward() buffers: non-null and 16-byte aligned (cuDNN tensors are declared
/// with 16-byte alignment). Throws InputError naming `what` and the layer.
void check_buffer(const void* ptr, const char* what, const std::string& where);

}  // namespace mbv2::cudnn
