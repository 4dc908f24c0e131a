#include "bench/statistics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mbv2 {

double median_of(std::vector<double> values) {
  if (values.empty()) return 0.0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + std::ptrdiff_t(mid), values.end());
  const double upper = values[mid];
  if (values.size() % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + std::ptrdiff_t(mid));
  return 0.5 * (lower + upper);
}

Timing summarize_repetitions(const std::vector<double>& seconds) {
  Timing t;
  t.repetitions = int(seconds.size());
  if (seconds.empty()) return t;
  std::vector<double> us(seconds.size());
  std::transform(seconds.begin(), seconds.end(), us.begin(), [](double s) { return s * 1e6; });
  t.median_us = median_of(us);
  t.min_us = *std::min_element(us.begin(), us.end());
  t.max_us = *std::max_element(us.begin(), us.end());
  t.mean_us = std::accumulate(us.begin(), us.end(), 0.0) / double(us.size());
  if (us.size() > 1 && t.mean_us > 0.0) {
    double ss = 0.0;
    for (double v : us) ss += (v - t.mean_us) * (v - t.mean_us);
    t.cv = std::sqrt(ss / double(us.size() - 1)) / t.mean_us;
  }
  return t;
}

}  // namespace mbv2
