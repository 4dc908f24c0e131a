// One convolution layer of the cuDNN backend: its weights in the backend's layout, its
// legacy descriptors, the search's choice, and the per-pointer variant-pack cache that
// lets run_layer() and forward() execute without creating anything.
#pragma once

#include <cudnn.h>

#include <memory>
#include <string>

#include "common/backend.h"
#include "common/device_memory.h"
#include "common/model.h"
#include "common/weights.h"
#include "cudnn_ref/conv_search.h"
#include "cudnn_ref/legacy_ops.h"
#include "cudnn_ref/search_context.h"
#include "cudnn_ref/variant_pack_cache.h"

namespace mbv2::cudnn {

/// OIHW weights reordered for `layout`: unchanged for NCHW (KCRS), OHWI (KRSC) for NHWC.
std::vector<float> filter_in_layout(const Layer& layer, const std::vector<float>& oihw,
                                    Layout layout);

class ConvLayer {
 public:
  ConvLayer(const Layer& layer, int batch, Layout layout, Precision precision);

  /// Uploads weight and bias (sizes were checked by the backend).
  void upload(const LayerWeights& weights);
  /// Equal for layers whose search results are interchangeable (shape, epilogue, batch).
  std::string shape_key() const;

  /// Engine search on (x, residual z, y); false with the reason when nothing can run.
  bool search(SearchContext& ctx, const float* x, const float* z, float* y, std::string* why);
  /// Takes the choice of an earlier layer with the same shape_key().
  void adopt(std::shared_ptr<const ConvChoice> choice, int twin_index);
  const std::shared_ptr<const ConvChoice>& choice() const { return choice_; }

  int64_t workspace_bytes() const { return choice_ ? choice_->workspace_bytes : 0; }
  /// The workspace every later run uses (after prepare's search, which used its own).
  void set_workspace(void* workspace, size_t bytes);
  /// Creates the variant pack for (x, z, y) ahead of time, so a later run() on exactly these
  /// pointers creates nothing (forward()'s internal buffers).
  void bind(const float* x, const float* z, float* y);
  /// Enqueues the layer on the handle's current stream. Creates a variant pack only for a
  /// pointer set it has not seen (see variant_pack_cache.h).
  void run(cudnnHandle_t handle, const float* x, const float* z, float* y);

  LayerDescription describe() const;

 private:
  void init_epilogue();

  Layer layer_;
  int batch_;
  Layout layout_;
  Precision precision_;
  DeviceBuffer<float> weight_, bias_;
  LegacyConv legacy_;
  bool legacy_ok_ = false;
  std::string legacy_error_;
  LegacyEpilogue epilogue_;
  std::shared_ptr<const ConvChoice> choice_;
  int twin_ = -1;
  void* workspace_ = nullptr;
  size_t workspace_size_ = 0;
  VariantPackCache packs_;
};

}  // namespace mbv2::cudnn
