// The statistics of a timed result: median (the headline), min, max, mean and the
// coefficient of variation, computed here rather than by Google Benchmark so that
// every version of it gives the same numbers.
#pragma once

#include <vector>

#include "common/report.h"

namespace mbv2 {

/// Median of values (the mean of the middle two for an even count); 0 when empty.
double median_of(std::vector<double> values);

/// Timing in microseconds from per-repetition times in seconds: median, min, max, mean,
/// cv = sample standard deviation / mean (0 for a single value). Empty input -> zeros.
Timing summarize_repetitions(const std::vector<double>& seconds);

}  // namespace mbv2
