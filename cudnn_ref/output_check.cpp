#include "cudnn_ref/output_check.h"

#include <cmath>
#include <cstdio>

#include "common/cuda_check.h"

namespace mbv2::cudnn {

std::string DeviceAgreement::text() const {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "rel-L2 %.2e, max abs %.2e", rel_l2, max_abs);
  return buf;
}

OutputChecker::OutputChecker() : handle_(make_cublas_handle()) {
  MBV2_CUBLAS_CHECK(cublasSetPointerMode(handle_.get(), CUBLAS_POINTER_MODE_HOST));
}

float OutputChecker::max_abs(const float* x, int64_t n, cudaStream_t stream) {
  int64_t index = 0;  // 1-based, cuBLAS convention
  MBV2_CUBLAS_CHECK(cublasIsamax_64(handle_.get(), n, x, 1, &index));
  if (index < 1 || index > n) return std::nanf("");
  float value = 0.0f;
  CUDA_CHECK(cudaMemcpyAsync(&value, x + (index - 1), sizeof(float), cudaMemcpyDeviceToHost,
                             stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  return std::fabs(value);
}

DeviceAgreement OutputChecker::compare_and_clobber(float* out, const float* ref, int64_t n,
                                                   const Tolerance& tolerance,
                                                   cudaStream_t stream) {
  DeviceAgreement a;
  if (n <= 0) {
    a.pass = true;
    return a;
  }
  MBV2_CUBLAS_CHECK(cublasSetStream(handle_.get(), stream));
  float ref_norm = 0.0f, diff_norm = 0.0f;
  MBV2_CUBLAS_CHECK(cublasSnrm2_64(handle_.get(), n, ref, 1, &ref_norm));
  a.ref_max_abs = max_abs(ref, n, stream);
  const float minus_one = -1.0f;
  MBV2_CUBLAS_CHECK(cublasSaxpy_64(handle_.get(), n, &minus_one, ref, 1, out, 1));
  MBV2_CUBLAS_CHECK(cublasSnrm2_64(handle_.get(), n, out, 1, &diff_norm));
  a.max_abs = max_abs(out, n, stream);
  CUDA_CHECK(cudaStreamSynchronize(stream));

  // A NaN or Inf in `out` makes diff_norm NaN/Inf, and every comparison below false.
  if (ref_norm > 0.0f) {
    a.rel_l2 = double(diff_norm) / double(ref_norm);
  } else {
    a.rel_l2 = diff_norm == 0.0f ? 0.0 : INFINITY;
  }
  const bool finite = std::isfinite(diff_norm) && std::isfinite(float(a.max_abs));
  a.pass = finite && a.rel_l2 <= tolerance.rel_l2 &&
           a.max_abs <= tolerance.max_abs_frac * a.ref_max_abs + 1e-30;
  if (!finite) a.rel_l2 = std::nan("");
  return a;
}

}  // namespace mbv2::cudnn
