#include "cudnn_ref/pool_layer.h"

#include <cstdio>

#include "common/cuda_check.h"
#include "common/device_memory.h"
#include "cudnn_ref/candidate_timer.h"
#include "cudnn_ref/legacy_ops.h"

namespace mbv2::cudnn {

namespace {
const float kOne = 1.0f;
const float kZero = 0.0f;
}  // namespace

PoolLayer::PoolLayer(const Layer& layer, int batch, Layout layout)
    : layer_(layer), batch_(batch), layout_(layout) {
  try {
    x_desc_ = legacy_tensor_desc(layer_.input_shape(batch_), layout_);
    y_desc_ = legacy_tensor_desc(layer_.output_shape(batch_), layout_);
  } catch (const CudnnFailure& e) {
    details_ = e.what();
    return;
  }
  pool_ = make_pooling_desc();
  // The window covers the whole map, so "including padding" pads nothing: a plain mean.
  pooling_ok_ = cudnnSetPooling2dDescriptor(pool_.get(), CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
                                            CUDNN_PROPAGATE_NAN, layer_.in_h, layer_.in_w, 0, 0,
                                            layer_.in_h, layer_.in_w) == CUDNN_STATUS_SUCCESS;
  reduce_ = make_reduce_desc();
  reduce_ok_ = cudnnSetReduceTensorDescriptor(reduce_.get(), CUDNN_REDUCE_TENSOR_AVG,
                                              CUDNN_DATA_FLOAT, CUDNN_PROPAGATE_NAN,
                                              CUDNN_REDUCE_TENSOR_NO_INDICES,
                                              CUDNN_32BIT_INDICES) == CUDNN_STATUS_SUCCESS;
}

void PoolLayer::run_method(Method m, cudnnHandle_t handle, const float* x, float* y,
                           void* workspace, size_t workspace_bytes) const {
  if (m == Method::kPooling) {
    CUDNN_CHECK(cudnnPoolingForward(handle, pool_.get(), &kOne, x_desc_.get(), x, &kZero,
                                    y_desc_.get(), y));
  } else {
    CUDNN_CHECK(cudnnReduceTensor(handle, reduce_.get(), nullptr, 0, workspace, workspace_bytes,
                                  &kOne, x_desc_.get(), x, &kZero, y_desc_.get(), y));
  }
}

bool PoolLayer::search(SearchContext& ctx, const float* x, float* y, std::string* why) {
  const cudnnHandle_t h = ctx.handle();
  const cudaStream_t s = ctx.stream();
  const size_t n = size_t(layer_.output_shape(batch_).numel());
  if (reduce_ok_ && cudnnGetReductionWorkspaceSize(h, reduce_.get(), x_desc_.get(), y_desc_.get(),
                                                   &reduce_ws_) != CUDNN_STATUS_SUCCESS)
    reduce_ok_ = false;
  float* ref = ctx.reference(n);
  bool have_ref = false;
  double best_us = 0.0;
  std::string notes;

  for (Method m : {Method::kPooling, Method::kReduce}) {
    if (m == Method::kPooling ? !pooling_ok_ : !reduce_ok_) continue;
    const char* name = m == Method::kPooling ? "cudnnPoolingForward" : "cudnnReduceTensor";
    void* ws = m == Method::kReduce ? ctx.workspace(reduce_ws_) : nullptr;
    const size_t ws_bytes = m == Method::kReduce ? reduce_ws_ : 0;
    auto run = [=](cudaStream_t stream) {
      CUDNN_CHECK(cudnnSetStream(h, stream));
      run_method(m, h, x, y, ws, ws_bytes);
    };
    const TimingResult t = time_candidate(run, s, 0.0, ctx.timing);
    if (!t.ok) {
      notes += std::string(notes.empty() ? "" : "; ") + name + " failed: " + t.error;
      continue;
    }
    // Verify on a NaN-poisoned output; the first method that runs is the reference.
    fill_nan(y, n, s);
    run(s);
    if (!have_ref)
      CUDA_CHECK(cudaMemcpyAsync(ref, y, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
    const DeviceAgreement a =
        ctx.checker().compare_and_clobber(y, ref, int64_t(n), ctx.check_tolerance(), s);
    char line[160];
    std::snprintf(line, sizeof(line), "%s median %.2f us (%s)", name, t.median_us,
                  a.pass ? "agrees" : a.text().c_str());
    notes += std::string(notes.empty() ? "" : "; ") + line;
    if (!a.pass) continue;
    have_ref = true;
    if (method_ == Method::kNone || t.median_us < best_us) {
      method_ = m;
      best_us = t.median_us;
    }
  }
  details_ = notes;
  if (method_ == Method::kNone) {
    if (why) *why = "no cuDNN pooling or reduction could run " + layer_.describe() + ": " + notes;
    return false;
  }
  return true;
}

void PoolLayer::set_workspace(void* workspace, size_t bytes) {
  workspace_ = workspace;
  workspace_size_ = bytes;
}

void PoolLayer::run(cudnnHandle_t handle, const float* x, float* y) const {
  run_method(method_, handle, x, y, workspace_, workspace_size_);
}

LayerDescription PoolLayer::describe() const {
  LayerDescription d;
  if (method_ == Method::kNone) {
    d.support = Support::no(details_.empty() ? "not prepared" : details_);
    return d;
  }
  d.kernel = method_ == Method::kPooling
                 ? "cudnnPoolingForward AVERAGE_COUNT_INCLUDE_PADDING " +
                       std::to_string(layer_.in_h) + "x" + std::to_string(layer_.in_w)
                 : std::string("cudnnReduceTensor AVG over HxW");
  d.details = "candidates: " + details_;
  d.fused_epilogue = true;  // nothing to fuse
  d.workspace_bytes = size_t(workspace_bytes());
  return d;
}

}  // namespace mbv2::cudnn
