// Engine configurations for one operation graph: where they come from (heuristics modes
// A and B, the fallback list, a sweep of every engine, knob variants) and turning one into
// a finalized execution plan.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/tensor.h"
#include "cudnn_ref/cudnn_raii.h"
#include "cudnn_ref/engine_info.h"

namespace mbv2::cudnn {

/// A finalized engine configuration with the engine it names kept alive.
struct EngineConfig {
  BackendDesc config;
  std::shared_ptr<BackendDesc> engine;
  EngineInfo info;
};

struct GatherLimits {
  int max_configs = 16;           ///< configurations returned, in source order
  bool sweep = true;              ///< add engines no heuristic named, with default knobs
  Precision precision = Precision::kFP32;
};

struct GatherStats {
  int heuristic_results = 0;      ///< configurations the heuristics returned (all modes)
  int duplicates = 0;
  int filtered_by_notes = 0;      ///< tensor-core / down-converting engines dropped
  std::vector<std::string> errors;  ///< heuristics modes that failed, with status
};

/// Configurations for `graph`: heuristics modes A, B, then the fallback list (each with as
/// many results as cuDNN returns), then a sweep of engines no mode named; de-duplicated
/// and filtered by numerical notes, at most limits.max_configs.
std::vector<EngineConfig> gather_engine_configs(cudnnBackendDescriptor_t graph,
                                                const GatherLimits& limits, GatherStats* stats);

/// Configurations equal to `base` except for one knob, each knob stepping through its
/// legal range (at most 6 values per knob), at most `max_variants`, skipping `seen` keys.
std::vector<EngineConfig> knob_variants(cudnnBackendDescriptor_t graph, const EngineInfo& base,
                                        int max_variants, const std::vector<std::string>& seen);

/// A finalized execution plan.
struct ExecutionPlan {
  BackendDesc plan;
  EngineInfo info;
  int64_t workspace_bytes = 0;
  double finalize_ms = 0.0;  ///< includes runtime compilation for RUNTIME_COMPILATION engines
};

/// Builds the plan for `config`; returns the status (NOT_SUPPORTED and friends are normal).
/// out->finalize_ms is set even when finalization fails (a failed compile still cost time).
cudnnStatus_t build_plan(cudnnHandle_t handle, const EngineConfig& config, ExecutionPlan* out);

}  // namespace mbv2::cudnn
