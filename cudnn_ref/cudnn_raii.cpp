#include "cudnn_ref/cudnn_raii.h"

#include "common/cuda_check.h"

namespace mbv2::cudnn {

std::string status_text(cudnnStatus_t status) {
  std::string text = cudnnGetErrorString(status);
  char detail[512] = {0};
  cudnnGetLastErrorString(detail, sizeof(detail));
  if (detail[0] != '\0') text += std::string(" (") + detail + ")";
  return text;
}

void expect_success(cudnnStatus_t status, const std::string& what) {
  if (status != CUDNN_STATUS_SUCCESS) throw CudnnFailure(status, what + ": " + status_text(status));
}

CudnnHandle make_cudnn_handle() {
  cudnnHandle_t h = nullptr;
  CUDNN_CHECK(cudnnCreate(&h));
  return CudnnHandle(h);
}

BackendDesc make_backend_desc(cudnnBackendDescriptorType_t type) {
  cudnnBackendDescriptor_t d = nullptr;
  expect_success(cudnnBackendCreateDescriptor(type, &d),
                 "cudnnBackendCreateDescriptor(type " + std::to_string(int(type)) + ")");
  return BackendDesc(d);
}

TensorDesc make_tensor_desc() {
  cudnnTensorDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  return TensorDesc(d);
}

FilterDesc make_filter_desc() {
  cudnnFilterDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
  return FilterDesc(d);
}

ConvDesc make_conv_desc() {
  cudnnConvolutionDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
  return ConvDesc(d);
}

ActivationDesc make_activation_desc() {
  cudnnActivationDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateActivationDescriptor(&d));
  return ActivationDesc(d);
}

PoolingDesc make_pooling_desc() {
  cudnnPoolingDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreatePoolingDescriptor(&d));
  return PoolingDesc(d);
}

ReduceDesc make_reduce_desc() {
  cudnnReduceTensorDescriptor_t d = nullptr;
  CUDNN_CHECK(cudnnCreateReduceTensorDescriptor(&d));
  return ReduceDesc(d);
}

CublasHandle make_cublas_handle() {
  cublasHandle_t h = nullptr;
  MBV2_CUBLAS_CHECK(cublasCreate(&h));
  return CublasHandle(h);
}

CublasLtHandle make_cublaslt_handle() {
  cublasLtHandle_t h = nullptr;
  MBV2_CUBLAS_CHECK(cublasLtCreate(&h));
  return CublasLtHandle(h);
}

}  // namespace mbv2::cudnn
