#include "cudnn_ref/legacy_ops.h"

#include <algorithm>
#include <climits>

#include "common/cuda_check.h"
#include "cudnn_ref/conv_graph.h"

namespace mbv2::cudnn {

namespace {
const float kOne = 1.0f;
const float kZero = 0.0f;
}  // namespace

TensorDesc legacy_tensor_desc(Shape4 s, Layout layout) {
  if (s.numel() > INT_MAX)
    throw CudnnFailure(CUDNN_STATUS_NOT_SUPPORTED_SHAPE,
                       "tensor " + s.str() + " is too large for cuDNN's legacy API");
  const std::vector<int64_t> st = activation_strides(layout, s.n, s.c, s.h, s.w);
  TensorDesc d = make_tensor_desc();
  expect_success(cudnnSetTensor4dDescriptorEx(d.get(), CUDNN_DATA_FLOAT, s.n, s.c, s.h, s.w,
                                              int(st[0]), int(st[1]), int(st[2]), int(st[3])),
                 "cudnnSetTensor4dDescriptorEx " + s.str());
  return d;
}

// ---------------------------------------------------------------------------------------

void LegacyEpilogue::init(Shape4 out, Layout layout, bool add_bias, bool relu6,
                          bool add_residual) {
  add_bias_ = add_bias, relu6_ = relu6, add_residual_ = add_residual;
  if (op_count() == 0) return;
  y_desc_ = legacy_tensor_desc(out, layout);
  if (add_bias_) bias_desc_ = legacy_tensor_desc({1, out.c, 1, 1}, layout);
  if (relu6_) {
    act_ = make_activation_desc();
    expect_success(cudnnSetActivationDescriptor(act_.get(), CUDNN_ACTIVATION_CLIPPED_RELU,
                                                CUDNN_PROPAGATE_NAN, 6.0),
                   "cudnnSetActivationDescriptor(CLIPPED_RELU, 6)");
  }
}

void LegacyEpilogue::run(cudnnHandle_t handle, const float* bias, const float* residual,
                         float* y) const {
  if (add_bias_)
    CUDNN_CHECK(cudnnAddTensor(handle, &kOne, bias_desc_.get(), bias, &kOne, y_desc_.get(), y));
  if (relu6_)
    CUDNN_CHECK(cudnnActivationForward(handle, act_.get(), &kOne, y_desc_.get(), y, &kZero,
                                       y_desc_.get(), y));
  if (add_residual_)
    CUDNN_CHECK(
        cudnnAddTensor(handle, &kOne, y_desc_.get(), residual, &kOne, y_desc_.get(), y));
}

std::string epilogue_text(bool add_bias, bool relu6, bool add_residual) {
  std::string s;
  auto add = [&](const char* op) { s += (s.empty() ? "" : " + ") + std::string(op); };
  if (add_bias) add("cudnnAddTensor(bias)");
  if (relu6) add("cudnnActivationForward(CLIPPED_RELU 6)");
  if (add_residual) add("cudnnAddTensor(residual)");
  return s.empty() ? "none" : s;
}

// ---------------------------------------------------------------------------------------

void LegacyConv::init(const Layer& l, int batch, Layout layout, Precision precision) {
  x_desc_ = legacy_tensor_desc(l.input_shape(batch), layout);
  y_desc_ = legacy_tensor_desc(l.output_shape(batch), layout);
  bias_desc_ = legacy_tensor_desc({1, l.out_c, 1, 1}, layout);
  w_desc_ = make_filter_desc();
  expect_success(
      cudnnSetFilter4dDescriptor(w_desc_.get(), CUDNN_DATA_FLOAT,
                                 layout == Layout::kNHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                 l.out_c, l.in_c / l.groups, l.kernel, l.kernel),
      "cudnnSetFilter4dDescriptor");
  conv_desc_ = make_conv_desc();
  expect_success(cudnnSetConvolution2dDescriptor(conv_desc_.get(), l.pad, l.pad, l.stride,
                                                 l.stride, 1, 1, CUDNN_CROSS_CORRELATION,
                                                 CUDNN_DATA_FLOAT),
                 "cudnnSetConvolution2dDescriptor");
  expect_success(cudnnSetConvolutionGroupCount(conv_desc_.get(), l.groups),
                 "cudnnSetConvolutionGroupCount");
  // FMA math forbids TF32 (cuDNN's default math allows it on Ampere and later).
  expect_success(cudnnSetConvolutionMathType(
                     conv_desc_.get(),
                     precision == Precision::kTF32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
                 "cudnnSetConvolutionMathType");
  relu6_ = make_activation_desc();
  expect_success(cudnnSetActivationDescriptor(relu6_.get(), CUDNN_ACTIVATION_CLIPPED_RELU,
                                              CUDNN_PROPAGATE_NAN, 6.0),
                 "cudnnSetActivationDescriptor(CLIPPED_RELU)");
  identity_ = make_activation_desc();
  expect_success(cudnnSetActivationDescriptor(identity_.get(), CUDNN_ACTIVATION_IDENTITY,
                                              CUDNN_PROPAGATE_NAN, 0.0),
                 "cudnnSetActivationDescriptor(IDENTITY)");
}

std::vector<cudnnConvolutionFwdAlgo_t> LegacyConv::algorithms(cudnnHandle_t handle,
                                                              int max) const {
  int max_count = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_count, 1)));
  int returned = 0;
  std::vector<cudnnConvolutionFwdAlgo_t> out;
  if (cudnnGetConvolutionForwardAlgorithm_v7(handle, x_desc_.get(), w_desc_.get(),
                                             conv_desc_.get(), y_desc_.get(), int(perf.size()),
                                             &returned, perf.data()) != CUDNN_STATUS_SUCCESS)
    return out;
  for (int i = 0; i < returned && int(out.size()) < max; ++i) {
    const cudnnConvolutionFwdAlgoPerf_t& p = perf[size_t(i)];
    if (p.status != CUDNN_STATUS_SUCCESS || p.determinism != CUDNN_DETERMINISTIC) continue;
    if (std::find(out.begin(), out.end(), p.algo) != out.end()) continue;
    out.push_back(p.algo);
  }
  return out;
}

int64_t LegacyConv::workspace_bytes(cudnnHandle_t handle, cudnnConvolutionFwdAlgo_t algo) const {
  size_t bytes = 0;
  if (cudnnGetConvolutionForwardWorkspaceSize(handle, x_desc_.get(), w_desc_.get(),
                                              conv_desc_.get(), y_desc_.get(), algo,
                                              &bytes) != CUDNN_STATUS_SUCCESS)
    return -1;
  return int64_t(bytes);
}

cudnnStatus_t LegacyConv::conv(cudnnHandle_t handle, cudnnConvolutionFwdAlgo_t algo,
                               const float* x, const float* w, float* y, void* workspace,
                               size_t workspace_bytes) const {
  return cudnnConvolutionForward(handle, &kOne, x_desc_.get(), x, w_desc_.get(), w,
                                 conv_desc_.get(), algo, workspace, workspace_bytes, &kZero,
                                 y_desc_.get(), y);
}

cudnnStatus_t LegacyConv::conv_bias_act(cudnnHandle_t handle, cudnnConvolutionFwdAlgo_t algo,
                                        const float* x, const float* w, const float* z,
                                        float alpha2, const float* bias, bool relu6, float* y,
                                        void* workspace, size_t workspace_bytes) const {
  return cudnnConvolutionBiasActivationForward(
      handle, &kOne, x_desc_.get(), x, w_desc_.get(), w, conv_desc_.get(), algo, workspace,
      workspace_bytes, &alpha2, y_desc_.get(), z, bias_desc_.get(), bias,
      relu6 ? relu6_.get() : identity_.get(), y_desc_.get(), y);
}

const char* algo_name(cudnnConvolutionFwdAlgo_t algo) {
  switch (algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "UNKNOWN";
  }
}

}  // namespace mbv2::cudnn
