#include "bench/calibration.h"

#include <algorithm>
#include <cmath>

#include "bench/gpu_errors.h"
#include "common/cuda_check.h"

namespace mbv2 {

void calibrate_batch(BenchContext& ctx, BatchRun& run) {
  cudaStream_t stream = ctx.stream.get();
  // Timing inputs: seeded, finite, in the range activations live in.
  fill_uniform(run.layer_in.get(), run.layer_in.size(), 0x1234u + uint64_t(run.batch), -1.0f, 1.0f, stream);
  fill_uniform(run.layer_res.get(), run.layer_res.size(), 0x5678u + uint64_t(run.batch), -1.0f, 1.0f, stream);
  MBV2_CUDA_CHECK(cudaStreamSynchronize(stream));
  CudaEvent start, stop;
  for (auto& br : run.backends)
    for (size_t i = 0; i < br->layers.size(); ++i) {
      LayerCase& lc = br->layers[i];
      if (!lc.selected || !lc.timeable()) continue;
      const bool residual = ctx.setup.spec.layers[i].has_residual();
      Backend* backend = br->backend.get();
      const float* in = run.layer_in.get();
      const float* res = residual ? run.layer_res.get() : nullptr;
      float* out = run.layer_out.get();
      const int index = int(i);
      auto launch = [=](cudaStream_t s) { backend->run_layer(index, in, res, out, s); };
      SampleSetup setup;
      setup.stream = stream;
      setup.blocker = &ctx.blocker;
      setup.launches = 1;
      setup.blocker_timeout_s = ctx.plan.blocker_timeout_s;
      try {
        try {
          time_sample(setup, launch, start, stop);  // settles caches and clocks
        } catch (const BlockerTimeout&) {
          setup.blocker = nullptr;  // the benchmark will meet this too and fall back the same way
        }
        setup.launches = 3;
        lc.estimate_us = time_sample(setup, launch, start, stop).gpu_s * 1e6;
      } catch (const std::exception& e) {
        // The benchmark will meet the same failure and record it; K stays 1.
        lc.estimate_us = 0.0;
        std::string why;
        if (cuda_context_broken(&why))
          throw FatalRunError(br->info->name + " layer " + std::to_string(i) +
                              " left the CUDA context unusable: " + one_line(e.what()));
      }
      const double k = lc.estimate_us > 0.0 ? std::ceil(ctx.plan.warm_window_us / lc.estimate_us) : 1.0;
      lc.launches = int(std::min<double>(std::max(k, 1.0), ctx.plan.max_launches));
    }
}

}  // namespace mbv2
