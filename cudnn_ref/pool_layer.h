// Global average pool through cuDNN: cudnnPoolingForward (AVERAGE, window = H x W) or
// cudnnReduceTensor (AVG over H and W), whichever is faster on the real shape.
// Output [N, C, 1, 1] is the same bytes in NCHW and NHWC.
#pragma once

#include <cudnn.h>

#include <string>

#include "common/backend.h"
#include "common/model.h"
#include "cudnn_ref/cudnn_raii.h"
#include "cudnn_ref/search_context.h"

namespace mbv2::cudnn {

class PoolLayer {
 public:
  PoolLayer(const Layer& layer, int batch, Layout layout);

  /// Times both methods on (x, y), checks the reduction against pooling; false with the
  /// reason when neither runs.
  bool search(SearchContext& ctx, const float* x, float* y, std::string* why);
  int64_t workspace_bytes() const { return method_ == Method::kReduce ? int64_t(reduce_ws_) : 0; }
  void set_workspace(void* workspace, size_t bytes);
  /// Enqueues on the handle's current stream.
  void run(cudnnHandle_t handle, const float* x, float* y) const;
  LayerDescription describe() const;

 private:
  enum class Method { kNone, kPooling, kReduce };
  void run_method(Method m, cudnnHandle_t handle, const float* x, float* y, void* workspace,
                  size_t workspace_bytes) const;

  Layer layer_;
  int batch_;
  Layout layout_;
  TensorDesc x_desc_, y_desc_;
  PoolingDesc pool_;
  ReduceDesc reduce_;
  size_t reduce_ws_ = 0;
  bool pooling_ok_ = false, reduce_ok_ = false;
  Method method_ = Method::kNone;
  void* workspace_ = nullptr;
  size_t workspace_size_ = 0;
  std::string details_;
};

}  // namespace mbv2::cudnn
