// The project's one CUDA_CHECK / CUDNN_CHECK pair: throw std::runtime_error
// naming the call, the file and the line. The *_NOTHROW twins are for destructors.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace mbv2 {

/// A failed CUDA runtime call, with its error code kept for callers that care
/// (e.g. cudaErrorMemoryAllocation becomes "batch does not fit in memory").
class CudaError : public std::runtime_error {
 public:
  CudaError(cudaError_t code, const std::string& what) : std::runtime_error(what), code_(code) {}
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

namespace detail {
[[noreturn]] inline void throw_cuda_error(cudaError_t code, const char* call, const char* file,
                                          int line) {
  throw CudaError(code, std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: " +
                            cudaGetErrorName(code) + " (" + cudaGetErrorString(code) + ")");
}
}  // namespace detail

}  // namespace mbv2

#define MBV2_CUDA_CHECK(call)                                                         \
  do {                                                                                \
    const cudaError_t mbv2_err_ = (call);                                             \
    if (mbv2_err_ != cudaSuccess)                                                     \
      ::mbv2::detail::throw_cuda_error(mbv2_err_, #call, __FILE__, __LINE__);         \
  } while (0)

/// After every kernel launch: configuration errors surface here, at the launch site.
#define MBV2_CUDA_CHECK_LAST() MBV2_CUDA_CHECK(cudaGetLastError())

#define MBV2_CUDA_CHECK_NOTHROW(call)                                                 \
  do {                                                                                \
    const cudaError_t mbv2_err_ = (call);                                             \
    if (mbv2_err_ != cudaSuccess)                                                     \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,       \
                   cudaGetErrorName(mbv2_err_));                                      \
  } while (0)

// Expands only where <cudnn.h> is included (cudnn_ref/); common/ itself does not link cuDNN.
#define MBV2_CUDNN_CHECK(call)                                                        \
  do {                                                                                \
    const cudnnStatus_t mbv2_st_ = (call);                                            \
    if (mbv2_st_ != CUDNN_STATUS_SUCCESS)                                             \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                               ": " #call " failed: " + cudnnGetErrorString(mbv2_st_)); \
  } while (0)

#define MBV2_CUDNN_CHECK_NOTHROW(call)                                                \
  do {                                                                                \
    const cudnnStatus_t mbv2_st_ = (call);                                            \
    if (mbv2_st_ != CUDNN_STATUS_SUCCESS)                                             \
      std::fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call,       \
                   cudnnGetErrorString(mbv2_st_));                                    \
  } while (0)

// Short names used throughout the project.
#define CUDA_CHECK(call) MBV2_CUDA_CHECK(call)
#define CUDA_CHECK_LAST() MBV2_CUDA_CHECK_LAST()
#define CUDNN_CHECK(call) MBV2_CUDNN_CHECK(call)
