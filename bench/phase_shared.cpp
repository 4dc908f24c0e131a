#include "bench/phase_shared.h"

#include "bench/gpu_errors.h"

namespace mbv2 {

Verdict failure_verdict(BenchContext& ctx, const std::string& what, const std::exception& e) {
  ++ctx.run_errors;
  std::string why;
  if (cuda_context_broken(&why))
    throw FatalRunError(what + " failed and left the CUDA context unusable: " + one_line(e.what()));
  return {Disposition::kNotRun, what + " failed: " + one_line(e.what()), std::nullopt};
}

}  // namespace mbv2
