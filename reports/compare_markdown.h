// Markdown for a comparison: a headline verdict line, the counts, then the rows that
// changed (or all of them). Suitable for a CI job summary.
#pragma once

#include <string>

#include "common/report.h"
#include "reports/compare.h"

namespace mbv2 {

struct CompareRenderOptions {
  bool all_rows = false;  ///< every row, not only the ones that changed
  std::string base_label = "base";  ///< usually the base report's path
  std::string head_label = "new";
};

/// The comparison as markdown. An incomparable pair gives a single line saying why.
std::string render_compare_markdown(const Comparison& comparison, const Report& base,
                                    const Report& head, const CompareRenderOptions& options);

}  // namespace mbv2
