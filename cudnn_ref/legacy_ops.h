// cuDNN's legacy (pre-graph) API for one convolution layer: cudnnConvolutionForward,
// cudnnConvolutionBiasActivationForward, and the separate epilogue operations
// (cudnnAddTensor for bias and residual, cudnnActivationForward with CLIPPED_RELU, coef 6).
// Used as the search's reference output, as candidates, and as the epilogue of graphs
// that hold only part of the layer.
#pragma once

#include <cudnn.h>

#include <string>
#include <vector>

#include "common/model.h"
#include "common/tensor.h"
#include "cudnn_ref/cudnn_raii.h"

namespace mbv2::cudnn {

/// A legacy 4-D tensor descriptor of `shape` stored in `layout` (by strides).
/// Throws CudnnFailure when the tensor does not fit the legacy API's int sizes.
TensorDesc legacy_tensor_desc(Shape4 shape, Layout layout);

/// "cudnnAddTensor(bias) + cudnnActivationForward(CLIPPED_RELU 6)" or "none".
std::string epilogue_text(bool add_bias, bool relu6, bool add_residual);

/// The epilogue operations a layer still needs after its main operation, run in place on y
/// in the reference order: +bias, then ReLU6, then +residual.
class LegacyEpilogue {
 public:
  void init(Shape4 out, Layout layout, bool add_bias, bool relu6, bool add_residual);
  /// Enqueues on the handle's stream; throws (CUDNN_CHECK) on failure.
  void run(cudnnHandle_t handle, const float* bias, const float* residual, float* y) const;
  int op_count() const { return int(add_bias_) + int(relu6_) + int(add_residual_); }
  std::string describe() const { return epilogue_text(add_bias_, relu6_, add_residual_); }

 private:
  bool add_bias_ = false, relu6_ = false, add_residual_ = false;
  TensorDesc y_desc_, bias_desc_;
  ActivationDesc act_;
};

/// cudnnConvolutionForward / cudnnConvolutionBiasActivationForward for one layer.
class LegacyConv {
 public:
  /// Builds descriptors (FMA math for strict FP32, default math for TF32); throws CudnnFailure.
  void init(const Layer& layer, int batch, Layout layout, Precision precision);
  /// Deterministic forward algorithms cuDNN ranks as usable, best first (at most `max`).
  std::vector<cudnnConvolutionFwdAlgo_t> algorithms(cudnnHandle_t handle, int max) const;
  /// Workspace bytes of `algo`, or -1 when cuDNN rejects it.
  int64_t workspace_bytes(cudnnHandle_t handle, cudnnConvolutionFwdAlgo_t algo) const;

  /// y = conv(x, w).
  cudnnStatus_t conv(cudnnHandle_t handle, cudnnConvolutionFwdAlgo_t algo, const float* x,
                     const float* w, float* y, void* workspace, size_t workspace_bytes) const;
  /// y = act(conv(x, w) + alpha2 * z + bias), act = clipped ReLU 6 or identity. With
  /// alpha2 = 0, z is y (cuDNN must not read it; the search's NaN check catches it if it does).
  cudnnStatus_t conv_bias_act(cudnnHandle_t handle, cudnnConvolutionFwdAlgo_t algo,
                              const float* x, const float* w, const float* z, float alpha2,
                              const float* bias, bool relu6, float* y, void* workspace,
                              size_t workspace_bytes) const;

 private:
  TensorDesc x_desc_, y_desc_, bias_desc_;
  FilterDesc w_desc_;
  ConvDesc conv_desc_;
  ActivationDesc relu6_, identity_;
};

/// "IMPLICIT_PRECOMP_GEMM", ...
const char* algo_name(cudnnConvolutionFwdAlgo_t algo);

}  // namespace mbv2::cudnn
