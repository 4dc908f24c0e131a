// The engine search for one convolution layer (cutlass-profiler style phases):
//   reference  -> the layer computed with the legacy API, separate ops (the check's truth)
//   candidates -> operation graphs from fully fused (conv+bias+ReLU6+residual) down to
//                 conv alone plus legacy epilogue ops, each with every engine config the
//                 heuristics (A, B, fallback) and an engine sweep offer; the legacy fused
//                 and unfused calls; knob variants of the fastest graph candidates
//   profile    -> each candidate timed by CUDA-graph replay on the real buffers
//   verify     -> every candidate that becomes the fastest is re-run on a NaN-poisoned
//                 output and compared with the reference; disagreeing ones are dropped
// The result is the fastest verified candidate, shared with layers of identical shape.
#pragma once

#include <cudnn.h>

#include <memory>
#include <string>

#include "common/model.h"
#include "cudnn_ref/conv_graph.h"
#include "cudnn_ref/engine_config.h"
#include "cudnn_ref/legacy_ops.h"
#include "cudnn_ref/search_context.h"

namespace mbv2::cudnn {

enum class ConvPath {
  kGraphFused,       ///< one operation graph holds conv and every epilogue op
  kGraphPartial,     ///< a graph holds conv (and maybe bias); legacy ops do the rest
  kLegacyFused,      ///< cudnnConvolutionBiasActivationForward
  kLegacySeparate,   ///< cudnnConvolutionForward + legacy epilogue ops
};
/// "graph-fused", "graph+legacy-epilogue", "legacy-fused", "legacy-separate".
const char* to_string(ConvPath path);

/// What the search chose; immutable and shared by layers of identical shape.
struct ConvChoice {
  ConvPath path = ConvPath::kGraphFused;
  std::shared_ptr<ConvGraph> graph;          ///< graph paths
  std::shared_ptr<ExecutionPlan> plan;       ///< graph paths
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;  ///< legacy paths
  int64_t workspace_bytes = 0;
  /// Epilogue ops run separately after the main op (legacy API, in place on y).
  bool epi_bias = false, epi_relu6 = false, epi_residual = false;
  double median_us = 0.0;
  std::string kernel;   ///< LayerDescription::kernel
  std::string details;  ///< LayerDescription::details
};

/// Everything the search runs on: the layer, its weights and (input, residual, output).
struct ConvSearchInput {
  const Layer* layer = nullptr;
  int batch = 1;
  Layout layout = Layout::kNHWC;
  const LegacyConv* legacy = nullptr;  ///< null when the legacy API cannot describe the layer
  const float* w = nullptr;
  const float* b = nullptr;
  const float* x = nullptr;
  const float* z = nullptr;  ///< residual, null when the layer has none
  float* y = nullptr;
};

/// The fastest verified choice, or null with the reasons in `why`.
std::shared_ptr<ConvChoice> search_conv(SearchContext& ctx, const ConvSearchInput& in,
                                        std::string* why);

}  // namespace mbv2::cudnn
