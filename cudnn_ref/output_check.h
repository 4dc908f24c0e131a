// Device-side agreement check for the engine search: does a candidate's output match the
// layer's reference output? Computed with cuBLAS (axpy, nrm2, iamax) so that nothing is
// copied to the host but a few scalars, even at batch 256.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "common/metrics.h"
#include "cudnn_ref/cudnn_raii.h"

namespace mbv2::cudnn {

struct DeviceAgreement {
  double rel_l2 = 0.0;       ///< ||out - ref|| / ||ref||
  double max_abs = 0.0;      ///< max |out - ref|
  double ref_max_abs = 0.0;  ///< max |ref|
  bool pass = false;
  std::string text() const;  ///< "rel-L2 3.1e-07, max abs 2.4e-06"
};

class OutputChecker {
 public:
  OutputChecker();
  /// Compares `n` floats of `out` against `ref` on `stream` (synchronous). Overwrites `out`
  /// with out - ref. NaN or Inf anywhere in `out` fails.
  DeviceAgreement compare_and_clobber(float* out, const float* ref, int64_t n,
                                      const Tolerance& tolerance, cudaStream_t stream);

 private:
  float max_abs(const float* x, int64_t n, cudaStream_t stream);
  CublasHandle handle_;
};

}  // namespace mbv2::cudnn
