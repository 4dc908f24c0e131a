// RAII owners for cuDNN, cuBLAS and cuBLASLt handles and descriptors (copying deleted),
// and CudnnFailure: a cuDNN status that the engine search treats as "this candidate
// cannot run" rather than as a bug.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cudnn.h>

#include <stdexcept>
#include <string>
#include <utility>

/// cuBLAS / cuBLASLt calls: throw std::runtime_error naming the call, file and line
/// (the cuBLAS twin of common/cuda_check.h's CUDNN_CHECK).
#define MBV2_CUBLAS_CHECK(call)                                                         \
  do {                                                                                  \
    const cublasStatus_t mbv2_cb_ = (call);                                             \
    if (mbv2_cb_ != CUBLAS_STATUS_SUCCESS)                                              \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                               ": " #call " failed: " + cublasGetStatusString(mbv2_cb_)); \
  } while (0)

namespace mbv2::cudnn {

/// A cuDNN call that failed for a reason the caller may recover from (an engine or a
/// graph pattern cuDNN does not support); carries the status.
class CudnnFailure : public std::runtime_error {
 public:
  CudnnFailure(cudnnStatus_t status, const std::string& what)
      : std::runtime_error(what), status_(status) {}
  cudnnStatus_t status() const { return status_; }

 private:
  cudnnStatus_t status_;
};

/// Throws CudnnFailure naming `what`, the status and cuDNN's last error message.
void expect_success(cudnnStatus_t status, const std::string& what);

/// "CUDNN_STATUS_NOT_SUPPORTED (detail)" for reports: the status plus cuDNN's last message.
std::string status_text(cudnnStatus_t status);

/// Owns one object of a C library; `Destroy` releases it. Move-only. Destruction
/// errors are ignored: library code prints nothing and destructors never throw.
template <typename T, typename Status, Status (*Destroy)(T)>
class UniqueHandle {
 public:
  UniqueHandle() = default;
  explicit UniqueHandle(T handle) : handle_(handle) {}
  ~UniqueHandle() { reset(); }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  UniqueHandle(UniqueHandle&& o) noexcept : handle_(std::exchange(o.handle_, T{})) {}
  UniqueHandle& operator=(UniqueHandle&& o) noexcept {
    if (this != &o) {
      reset();
      handle_ = std::exchange(o.handle_, T{});
    }
    return *this;
  }

  T get() const { return handle_; }
  explicit operator bool() const { return handle_ != T{}; }
  void reset() {
    if (handle_ != T{}) (void)Destroy(handle_);
    handle_ = T{};
  }

 private:
  T handle_{};
};

using CudnnHandle = UniqueHandle<cudnnHandle_t, cudnnStatus_t, &cudnnDestroy>;
using BackendDesc =
    UniqueHandle<cudnnBackendDescriptor_t, cudnnStatus_t, &cudnnBackendDestroyDescriptor>;
using TensorDesc =
    UniqueHandle<cudnnTensorDescriptor_t, cudnnStatus_t, &cudnnDestroyTensorDescriptor>;
using FilterDesc =
    UniqueHandle<cudnnFilterDescriptor_t, cudnnStatus_t, &cudnnDestroyFilterDescriptor>;
using ConvDesc = UniqueHandle<cudnnConvolutionDescriptor_t, cudnnStatus_t,
                              &cudnnDestroyConvolutionDescriptor>;
using ActivationDesc = UniqueHandle<cudnnActivationDescriptor_t, cudnnStatus_t,
                                    &cudnnDestroyActivationDescriptor>;
using PoolingDesc =
    UniqueHandle<cudnnPoolingDescriptor_t, cudnnStatus_t, &cudnnDestroyPoolingDescriptor>;
using ReduceDesc = UniqueHandle<cudnnReduceTensorDescriptor_t, cudnnStatus_t,
                                &cudnnDestroyReduceTensorDescriptor>;
using CublasHandle = UniqueHandle<cublasHandle_t, cublasStatus_t, &cublasDestroy_v2>;
using CublasLtHandle = UniqueHandle<cublasLtHandle_t, cublasStatus_t, &cublasLtDestroy>;
using LtMatmulDesc =
    UniqueHandle<cublasLtMatmulDesc_t, cublasStatus_t, &cublasLtMatmulDescDestroy>;
using LtLayout =
    UniqueHandle<cublasLtMatrixLayout_t, cublasStatus_t, &cublasLtMatrixLayoutDestroy>;
using LtPreference = UniqueHandle<cublasLtMatmulPreference_t, cublasStatus_t,
                                  &cublasLtMatmulPreferenceDestroy>;

/// Creators: throw (CUDNN_CHECK / MBV2_CUBLAS_CHECK) when the library cannot create one.
CudnnHandle make_cudnn_handle();
/// A backend descriptor of `type`; throws CudnnFailure when cuDNN refuses.
BackendDesc make_backend_desc(cudnnBackendDescriptorType_t type);
TensorDesc make_tensor_desc();
FilterDesc make_filter_desc();
ConvDesc make_conv_desc();
ActivationDesc make_activation_desc();
PoolingDesc make_pooling_desc();
ReduceDesc make_reduce_desc();
CublasHandle make_cublas_handle();
CublasLtHandle make_cublaslt_handle();

}  // namespace mbv2::cudnn
