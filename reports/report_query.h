// Read-only questions about a report that the summary, the compare and the plots share:
// which result is ours, which cuDNN variant is best, how a shape reads.
#pragma once

#include <string>
#include <vector>

#include "common/report.h"

namespace mbv2 {

/// The backend that holds our kernels.
inline constexpr const char* kCustomBackend = "custom";

/// cuDNN variants are the backends whose name starts with "cudnn" ("cudnn-nhwc", ...).
bool is_cudnn_backend(const std::string& name);

/// The result of `backend` on a row; nullptr when the row has none.
const LayerResult* find_result(const LayerRow& row, const std::string& backend);
const EndToEndResult* find_result(const EndToEndRow& row, const std::string& backend);

/// Passed and timed with a positive, finite median: the only results whose time counts.
bool counts_as_timed(Disposition disposition, const std::optional<Timing>& timing);

/// The fastest cuDNN variant that passed on this row; nullptr when none did.
const LayerResult* best_cudnn(const LayerRow& row);
const EndToEndResult* best_cudnn(const EndToEndRow& row);

/// "112x112x32" (H x W x C) from an [n, c, h, w] or [n, c] shape.
std::string shape_hwc(const std::vector<int>& nchw);

/// "cudnn-nhwc" → "nhwc": the variant part of a cuDNN backend name.
std::string cudnn_variant(const std::string& backend);

/// Regimes present in the layer rows, "warm" first, "cold" second, others after.
std::vector<std::string> layer_regimes(const Report& report);
/// Modes present in the end-to-end rows, "stream" first, "graph" second, others after.
std::vector<std::string> e2e_modes(const Report& report);
/// Batches of the run: config.batches, then any other batch the rows use, in order seen.
std::vector<int> report_batches(const Report& report);

}  // namespace mbv2
