// cuDNN graph-API operation graphs for one convolution layer: convolution forward plus
// whichever epilogue operations (bias, ReLU6, residual add) the recipe keeps inside the
// graph. Depthwise and grouped convolutions need nothing special: the graph API infers
// groups from the filter dims [K, C/groups, R, S]. Tensors are described by strides.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/model.h"
#include "common/tensor.h"
#include "cudnn_ref/cudnn_raii.h"

namespace mbv2::cudnn {

/// One convolution at one batch size and layout, in cuDNN's terms.
struct ConvProblem {
  int64_t n = 0, c = 0, h = 0, w = 0;  ///< input
  int64_t k = 0, p = 0, q = 0;         ///< output channels and spatial size
  int64_t r = 0, s = 0;                ///< filter size
  int64_t stride = 1, pad = 0, groups = 1;
  Layout layout = Layout::kNHWC;

  static ConvProblem from(const Layer& layer, int batch, Layout layout);
  int64_t input_numel() const { return n * c * h * w; }
  int64_t output_numel() const { return n * k * p * q; }
};

/// Strides of an [n, c, h, w] activation stored in `layout`, in NCHW dimension order.
std::vector<int64_t> activation_strides(Layout layout, int64_t n, int64_t c, int64_t h, int64_t w);
/// Strides of a [k, c_per_group, r, s] filter: KCRS for NCHW, KRSC for NHWC.
std::vector<int64_t> filter_strides(Layout layout, int64_t k, int64_t c, int64_t r, int64_t s);

/// Which epilogue operations the operation graph holds (the rest run as separate ops).
struct GraphRecipe {
  bool bias = true;
  bool relu6 = false;
  bool residual = false;
  /// conv -> +residual -> +bias: the order of cuDNN's ConvBiasAct pattern (only without ReLU6).
  bool residual_first = false;

  /// "conv+bias+relu6", "conv+res+bias", "conv", ...
  std::string name() const;
};

/// Unique ids of the graph's real (non-virtual) tensors.
enum : int64_t { kUidX = 1, kUidW = 2, kUidB = 3, kUidZ = 4, kUidY = 5 };

/// A finalized operation graph and every descriptor it references (kept alive with it).
struct ConvGraph {
  GraphRecipe recipe;
  std::vector<BackendDesc> parts;
  BackendDesc graph;
  std::vector<int64_t> uids;  ///< real tensors in the graph, variant-pack order

  /// Device pointers in `uids` order.
  std::vector<void*> pointers(const float* x, const float* w, const float* b, const float* z,
                              float* y) const;
};

/// Builds and finalizes the graph; throws CudnnFailure when cuDNN rejects any part.
std::shared_ptr<ConvGraph> build_conv_graph(cudnnHandle_t handle, const ConvProblem& problem,
                                            const GraphRecipe& recipe);

}  // namespace mbv2::cudnn
