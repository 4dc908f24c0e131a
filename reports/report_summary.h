// Markdown rendering of a report: the summary bench prints and `mbv2_report summary` shows.
#pragma once

#include <string>

#include "common/report.h"

namespace mbv2 {

/// Per-layer table (layer, shape, custom µs, best cuDNN µs, speedup, % of ceiling,
/// agreement) and end-to-end table (µs, images/s, speedup, top-5 agreement), markdown.
std::string render_summary_markdown(const Report& report);

}  // namespace mbv2
