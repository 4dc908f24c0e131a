// Agreement between an output and its reference: max abs, max rel, rel-L2,
// NaN/Inf detection and a tolerance check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/tensor.h"

namespace mbv2 {

struct Tolerance {
  double rel_l2 = 1e-4;        ///< ||out - ref|| / ||ref|| must not exceed this
  double max_abs_frac = 1e-3;  ///< max |out - ref| must not exceed this times max |ref|
};

struct Agreement {
  double max_abs = 0.0;  ///< max |out - ref|
  double max_rel = 0.0;  ///< max |out - ref| / max(|ref|, 1e-3 * max|ref|)
  double rel_l2 = 0.0;   ///< ||out - ref||_2 / ||ref||_2
  double ref_max_abs = 0.0;
  int64_t count = 0;
  int64_t nan_count = 0;
  int64_t inf_count = 0;
  Tolerance tolerance;
  bool pass = false;
  std::string reason;  ///< why it failed, empty when it passed
};

/// Elementwise comparison of `n` values; NaN or Inf in `out` never passes.
Agreement compare(const float* out, const float* ref, size_t n, const Tolerance& tol);
Agreement compare(const float* out, const double* ref, size_t n, const Tolerance& tol);
/// Same logical shape required; layouts may differ.
Agreement compare(const HostTensor& out, const HostTensor& ref, const Tolerance& tol);

/// Per-layer tolerance for a precision (strict FP32: rel-L2 1e-4).
Tolerance layer_tolerance(Precision precision);
/// Whole-network logits tolerance for a precision (strict FP32: rel-L2 1e-4).
Tolerance network_tolerance(Precision precision);

/// Indices of the k largest values, largest first (ties: lower index first).
std::vector<int> top_k(const float* values, int n, int k);
/// Softmax of one row, in FP64.
std::vector<double> softmax(const float* logits, int n);

}  // namespace mbv2
