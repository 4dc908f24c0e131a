#include "reports/report_query.h"

#include <algorithm>
#include <cmath>

namespace mbv2 {

bool is_cudnn_backend(const std::string& name) { return name.rfind("cudnn", 0) == 0; }

const LayerResult* find_result(const LayerRow& row, const std::string& backend) {
  for (const LayerResult& r : row.results)
    if (r.backend == backend) return &r;
  return nullptr;
}

const EndToEndResult* find_result(const EndToEndRow& row, const std::string& backend) {
  for (const EndToEndResult& r : row.results)
    if (r.backend == backend) return &r;
  return nullptr;
}

bool counts_as_timed(Disposition disposition, const std::optional<Timing>& timing) {
  return disposition == Disposition::kPassed && timing && std::isfinite(timing->median_us) &&
         timing->median_us > 0.0;
}

namespace {

template <typename Result>
const Result* fastest_cudnn(const std::vector<Result>& results) {
  const Result* best = nullptr;
  for (const Result& r : results) {
    if (!is_cudnn_backend(r.backend) || !counts_as_timed(r.disposition, r.timing)) continue;
    if (!best || r.timing->median_us < best->timing->median_us) best = &r;
  }
  return best;
}

/// Known names first in their canonical order, then the rest in order of appearance.
std::vector<std::string> ordered(const std::vector<std::string>& seen,
                                 const std::vector<std::string>& canonical) {
  std::vector<std::string> out;
  for (const std::string& name : canonical)
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) out.push_back(name);
  for (const std::string& name : seen)
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  return out;
}

}  // namespace

const LayerResult* best_cudnn(const LayerRow& row) { return fastest_cudnn(row.results); }
const EndToEndResult* best_cudnn(const EndToEndRow& row) { return fastest_cudnn(row.results); }

std::string shape_hwc(const std::vector<int>& nchw) {
  if (nchw.size() == 4)
    return std::to_string(nchw[2]) + "x" + std::to_string(nchw[3]) + "x" + std::to_string(nchw[1]);
  if (nchw.size() == 2) return std::to_string(nchw[1]);
  std::string out;
  for (size_t i = 0; i < nchw.size(); ++i) out += (i ? "x" : "") + std::to_string(nchw[i]);
  return out.empty() ? "?" : out;
}

std::string cudnn_variant(const std::string& backend) {
  if (backend.rfind("cudnn-", 0) == 0 && backend.size() > 6) return backend.substr(6);
  return backend;
}

std::vector<std::string> layer_regimes(const Report& report) {
  std::vector<std::string> seen;
  for (const LayerRow& row : report.layers)
    if (std::find(seen.begin(), seen.end(), row.regime) == seen.end()) seen.push_back(row.regime);
  return ordered(seen, {"warm", "cold"});
}

std::vector<std::string> e2e_modes(const Report& report) {
  std::vector<std::string> seen;
  for (const EndToEndRow& row : report.end_to_end)
    if (std::find(seen.begin(), seen.end(), row.mode) == seen.end()) seen.push_back(row.mode);
  return ordered(seen, {"stream", "graph"});
}

std::vector<int> report_batches(const Report& report) {
  std::vector<int> out;
  auto add = [&out](int b) {
    if (std::find(out.begin(), out.end(), b) == out.end()) out.push_back(b);
  };
  for (int b : report.config.batches) add(b);
  for (const LayerRow& row : report.layers) add(row.batch);
  for (const EndToEndRow& row : report.end_to_end) add(row.batch);
  return out;
}

}  // namespace mbv2
