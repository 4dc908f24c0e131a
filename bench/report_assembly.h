// Turning a finished run into the report of common/report.h, and the summary that
// compares the custom family with the best correct cuDNN variant.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/run_state.h"
#include "bench/suite.h"
#include "common/report.h"

namespace mbv2 {

/// What the report takes from outside the run state.
struct ReportContext {
  DeviceReport device;
  GitInfo git;
  std::string created;  ///< ISO 8601 UTC
  std::vector<std::string> notes;
};

/// Configuration, per-layer rows (layer x batch x regime), end-to-end rows (batch x mode)
/// and the summary.
Report assemble_report(const BenchContext& ctx, const std::vector<std::unique_ptr<BatchRun>>& batches,
                       const Suite& suite, const ReportContext& extra);

/// GFLOP/s and GB/s at the median, and the larger of the two shares of the measured
/// ceilings in percent (0 where a ceiling is unknown).
void fill_rates(LayerResult& result, int64_t flops, int64_t bytes, const Ceilings& ceilings);

/// Per batch: layers where the custom family beats the fastest passed cuDNN-family result
/// (warm regime when present), the best cuDNN variant end to end (graph, else stream),
/// end-to-end speedups per mode, and the reconciliation (sum of per-layer medians vs end
/// to end per backend; only when the rows cover all `model_layers` layers). `family` maps
/// backend names to their family ("custom", "cudnn").
Summary summarize_report(const Report& report, const std::map<std::string, std::string>& family,
                         int model_layers);

/// Now, as "2025-01-31T12:34:56Z".
std::string utc_now_iso8601();

}  // namespace mbv2
