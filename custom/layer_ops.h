// One layer alone: which kernel family runs it (or why none can), its packed device
// weights and plan, and the launch. The backend (custom_backend.cpp) builds on this for
// run_layer() and for the unfused steps of forward().
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "common/backend.h"
#include "common/device_memory.h"
#include "common/model.h"
#include "common/weights.h"
#include "custom/depthwise_conv.h"
#include "custom/gemm_plan.h"
#include "custom/stem_conv.h"

namespace mbv2::custom {

enum class LayerOp { kNone, kDirect, kPointwise, kDepthwise, kPool, kLinearGemv, kLinearGemm };

/// Supported or not (with the reason) under `config`, and by which kernel family.
Support classify_layer(const Layer& layer, const RunConfig& config, LayerOp* op);

/// What the planner may be told from outside (device size, forced tiles).
struct PlanContext {
  int sm_count = 132;
  int force_kernel = 0;  ///< 1 / 2: only the v1 / v2 GEMM main loop
  std::string force_tile;
  int force_splits = 0;
  bool cluster = true;  ///< v2 split-K may reduce in a thread-block cluster
  int stem_ppt = 0;     ///< direct conv fast path: output pixels per thread (0: planner)
};

/// A plain GEMM request (v2 allowed when K % 4 == 0: device buffers are 16-byte aligned;
/// an unaligned A at launch time runs the v1 kernel on the same plan).
GemmPlanRequest gemm_request(const PlanContext& ctx, int64_t m, int n, int k, bool residual);

/// A prepared layer: plan, packed weights on the device, and what describe() reports.
struct LayerKernel {
  LayerOp op = LayerOp::kNone;
  Support support = Support::yes();
  DeviceBuffer<float> w, b;
  DirectConvPlan direct;
  GemmPlan gemm;
  DepthwisePlan dw;
  std::string kernel, details;
};

/// Plans the layer and uploads its packed weights. Unsupported layers come back with
/// support.supported == false; weights of the wrong size throw InputError.
LayerKernel prepare_layer_kernel(const Layer& layer, const LayerWeights& weights,
                                 const RunConfig& config, const PlanContext& ctx);

/// Scratch shared by every split-K launch of one backend (launches are stream-ordered).
struct SplitKScratch {
  float* workspace = nullptr;
  int* counters = nullptr;
};

/// Launches the layer on device buffers of the prepared batch (residual may be null).
void launch_layer(const Layer& layer, const LayerKernel& kernel, int batch, const float* in,
                  const float* residual, float* out, const SplitKScratch& scratch,
                  cudaStream_t stream, bool pdl);

/// "layer 7 (features.3.conv.1.0)"
std::string layer_label(const Layer& layer);

}  // namespace mbv2::custom
