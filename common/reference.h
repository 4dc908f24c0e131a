// The FP64 CPU reference: ground truth for tests and for the harness.
//
// Every layer kind, with FP64 accumulation, on tensors stored in NCHW or NHWC.
// Multithreaded over output rows (std::thread), so MobileNetV2 at batch 1 runs
// in about a second on two cores.
#pragma once

#include <vector>

#include "common/model.h"
#include "common/tensor.h"
#include "common/weights.h"

namespace mbv2 {

/// One layer. `residual` is required iff layer.has_residual(); output in `out_layout`.
HostTensor reference_layer(const Layer& layer, const LayerWeights& weights,
                           const HostTensor& input, const HostTensor* residual,
                           Layout out_layout);

struct ReferenceRun {
  /// Output of every layer (float, in the layout that was asked for); empty unless kept.
  std::vector<HostTensor> activations;
  /// [batch, classes] as float, and the FP64 values before rounding.
  HostTensor logits;
  std::vector<double> logits_f64;
};

/// The whole network. Activations are carried in FP64 between layers, so the logits
/// are the FP64 network's; `keep_activations` also returns every layer's output as float.
ReferenceRun reference_forward(const ModelSpec& spec, const ModelWeights& weights,
                               const HostTensor& input, bool keep_activations = false,
                               Layout activation_layout = Layout::kNHWC);

}  // namespace mbv2
