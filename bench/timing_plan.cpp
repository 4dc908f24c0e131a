#include "bench/run_state.h"

namespace mbv2 {

TimingPlan timing_plan(const CliOptions& o) {
  TimingPlan p;
  if (o.quick) {
    p.layer_repetitions = 3;
    p.layer_iterations = 2;
    p.e2e_repetitions = 3;
    p.e2e_iterations = 3;
    p.warmup_samples = 1;
    p.warm_window_us = 20.0;
    p.max_launches = 10;
  }
  if (o.benchmark_repetitions > 0) {
    p.layer_repetitions = o.benchmark_repetitions;
    p.e2e_repetitions = o.benchmark_repetitions;
  }
  return p;
}

}  // namespace mbv2
