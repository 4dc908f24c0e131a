// The classifier (linear with bias) through cuBLASLt: logits = x W^T + b as one matmul with
// CUBLASLT_EPILOGUE_BIAS, compute type CUBLAS_COMPUTE_32F for strict FP32 (…_FAST_TF32
// only for tf32). Every algorithm the heuristic returns is timed like the convolutions.
#pragma once

#include <cublasLt.h>

#include <string>

#include "common/backend.h"
#include "common/device_memory.h"
#include "common/model.h"
#include "common/weights.h"
#include "cudnn_ref/cudnn_raii.h"
#include "cudnn_ref/search_context.h"

namespace mbv2::cudnn {

class ClassifierLayer {
 public:
  ClassifierLayer(const Layer& layer, int batch, Precision precision);

  void upload(const LayerWeights& weights);
  /// Times the heuristic's algorithms on (x, y); false with the reason when none runs.
  bool search(SearchContext& ctx, cublasLtHandle_t lt, const float* x, float* y,
              std::string* why);
  /// Enqueues on `stream` (cuBLASLt takes the stream per call).
  void run(cublasLtHandle_t lt, const float* x, float* y, cudaStream_t stream) const;
  LayerDescription describe() const;

  /// Workspace offered to cuBLASLt (its recommendation for Hopper).
  static constexpr size_t kWorkspaceBytes = size_t(32) << 20;

 private:
  cublasStatus_t matmul(cublasLtHandle_t lt, const cublasLtMatmulAlgo_t& algo, const float* x,
                        float* y, cudaStream_t stream) const;

  Layer layer_;
  int batch_;
  Precision precision_;
  DeviceBuffer<float> weight_, bias_;
  DeviceBuffer<unsigned char> workspace_;
  LtMatmulDesc desc_;
  LtLayout a_layout_, b_layout_, d_layout_;
  cublasLtMatmulAlgo_t algo_{};
  bool chosen_ = false;
  std::string kernel_, details_;
};

}  // namespace mbv2::cudnn
