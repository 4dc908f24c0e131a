#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

#include "common/util.h"

namespace mbv2 {

namespace {

template <typename Ref>
Agreement compare_impl(const float* out, const Ref* ref, size_t n, const Tolerance& tol) {
  Agreement a;
  a.tolerance = tol;
  a.count = int64_t(n);
  double ref_max = 0.0;
  for (size_t i = 0; i < n; ++i) ref_max = std::max(ref_max, std::fabs(double(ref[i])));
  a.ref_max_abs = ref_max;
  const double rel_floor = std::max(1e-3 * ref_max, 1e-30);
  double diff2 = 0.0, ref2 = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double o = out[i], r = double(ref[i]);
    ref2 += r * r;
    if (std::isnan(o)) { ++a.nan_count; continue; }
    if (std::isinf(o)) { ++a.inf_count; continue; }
    const double d = std::fabs(o - r);
    diff2 += d * d;
    a.max_abs = std::max(a.max_abs, d);
    a.max_rel = std::max(a.max_rel, d / std::max(std::fabs(r), rel_floor));
  }
  a.rel_l2 = ref2 > 0.0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  std::ostringstream why;
  if (a.nan_count) why << a.nan_count << " NaN outputs";
  else if (a.inf_count) why << a.inf_count << " Inf outputs";
  else if (a.rel_l2 > tol.rel_l2) why << "rel-L2 " << a.rel_l2 << " > " << tol.rel_l2;
  else if (a.max_abs > tol.max_abs_frac * ref_max + 1e-30 && a.max_abs > 0.0)
    why << "max abs error " << a.max_abs << " > " << tol.max_abs_frac << " x max|ref| ("
        << ref_max << ")";
  a.reason = why.str();
  a.pass = a.reason.empty();
  return a;
}

}  // namespace

Agreement compare(const float* out, const float* ref, size_t n, const Tolerance& tol) {
  return compare_impl(out, ref, n, tol);
}

Agreement compare(const float* out, const double* ref, size_t n, const Tolerance& tol) {
  return compare_impl(out, ref, n, tol);
}

Agreement compare(const HostTensor& out, const HostTensor& ref, const Tolerance& tol) {
  if (out.shape != ref.shape)
    throw InputError("compare: output shape " + out.shape.str() + " differs from reference " +
                     ref.shape.str());
  if (out.layout == ref.layout) return compare(out.data.data(), ref.data.data(), out.data.size(), tol);
  const HostTensor same = to_layout(out, ref.layout);
  return compare(same.data.data(), ref.data.data(), same.data.size(), tol);
}

Tolerance layer_tolerance(Precision precision) {
  switch (precision) {
    case Precision::kFP64: return {1e-10, 1e-9};
    case Precision::kFP32: return {1e-4, 1e-3};
    case Precision::kTF32: return {5e-3, 2e-2};
    case Precision::kFP16: return {1e-2, 5e-2};
    case Precision::kBF16: return {3e-2, 1e-1};
  }
  return {};
}

Tolerance network_tolerance(Precision precision) {
  switch (precision) {
    case Precision::kFP64: return {1e-9, 1e-8};
    case Precision::kFP32: return {1e-4, 1e-3};
    case Precision::kTF32: return {1e-2, 5e-2};
    case Precision::kFP16: return {3e-2, 1e-1};
    case Precision::kBF16: return {6e-2, 2e-1};
  }
  return {};
}

std::vector<int> top_k(const float* values, int n, int k) {
  std::vector<int> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, n);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) {
    // NaN sorts last so a broken output never looks like a confident class.
    const float va = values[a], vb = values[b];
    if (std::isnan(va) != std::isnan(vb)) return std::isnan(vb);
    return va > vb || (va == vb && a < b);
  });
  idx.resize(size_t(k));
  return idx;
}

std::vector<double> softmax(const float* logits, int n) {
  double m = -INFINITY;
  for (int i = 0; i < n; ++i) m = std::max(m, double(logits[i]));
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += (p[size_t(i)] = std::exp(double(logits[i]) - m));
  for (double& v : p) v /= sum;
  return p;
}

}  // namespace mbv2
