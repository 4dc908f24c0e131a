#include "cudnn_ref/search_context.h"

#include <sstream>

#include "common/cuda_check.h"
#include "common/util.h"

namespace mbv2::cudnn {

void SearchStats::note(const std::string& problem) {
  constexpr size_t kMaxProblems = 4;
  if (problems.size() < kMaxProblems) problems.push_back(problem);
}

std::string SearchStats::text() const {
  std::ostringstream s;
  s << "engine configs " << heuristic_results << " from heuristics (duplicates " << duplicates
    << ", filtered by numerical notes " << filtered_by_notes << "), knob variants "
    << knob_variants << ", plans built " << plans_built << " (failed " << plans_failed
    << ", workspace too large " << workspace_too_large << ", runtime compilation skipped "
    << runtime_compile_skipped << "), candidates timed " << timed << " (pruned " << pruned
    << ", failed to run " << run_failed << ", rejected by output check " << rejected_by_check
    << "); runtime compilation " << runtime_compile_ms << " ms; search " << search_ms << " ms";
  return s.str();
}

SearchContext::SearchContext(cudnnHandle_t handle, cudaStream_t stream, Precision precision)
    : handle_(handle), stream_(stream), precision_(precision) {
  runtime_compile_ms_left = limits.runtime_compile_budget_ms;
}

Tolerance SearchContext::check_tolerance() const {
  Tolerance t = layer_tolerance(precision_);
  t.rel_l2 *= 0.5;
  t.max_abs_frac *= 0.5;
  return t;
}

void* SearchContext::workspace(size_t bytes) {
  if (bytes == 0) return workspace_.get();
  if (workspace_.size() < bytes) {
    constexpr size_t kGranule = size_t(1) << 20;
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    workspace_.allocate(ceil_div(bytes, kGranule) * kGranule);
  }
  return workspace_.get();
}

float* SearchContext::reference(size_t count) {
  if (reference_.size() < count) {
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    reference_.allocate(count);
  }
  return reference_.get();
}

}  // namespace mbv2::cudnn
