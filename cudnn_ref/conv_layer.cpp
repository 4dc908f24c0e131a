#include "cudnn_ref/conv_layer.h"

#include <sstream>

#include "common/cuda_check.h"

namespace mbv2::cudnn {

std::vector<float> filter_in_layout(const Layer& l, const std::vector<float>& oihw,
                                    Layout layout) {
  if (layout == Layout::kNCHW) return oihw;
  const size_t k = size_t(l.out_c), c = size_t(l.in_c / l.groups), r = size_t(l.kernel),
               s = size_t(l.kernel);
  std::vector<float> ohwi(oihw.size());
  for (size_t o = 0; o < k; ++o)
    for (size_t i = 0; i < c; ++i)
      for (size_t y = 0; y < r; ++y)
        for (size_t x = 0; x < s; ++x)
          ohwi[((o * r + y) * s + x) * c + i] = oihw[((o * c + i) * r + y) * s + x];
  return ohwi;
}

ConvLayer::ConvLayer(const Layer& layer, int batch, Layout layout, Precision precision)
    : layer_(layer), batch_(batch), layout_(layout), precision_(precision) {
  try {
    legacy_.init(layer_, batch_, layout_, precision_);
    legacy_ok_ = true;
  } catch (const CudnnFailure& e) {
    legacy_error_ = e.what();
  }
}

void ConvLayer::upload(const LayerWeights& weights) {
  const std::vector<float> w = filter_in_layout(layer_, weights.weight, layout_);
  weight_.allocate(w.size());
  weight_.upload(w);
  bias_.allocate(weights.bias.size());
  bias_.upload(weights.bias);
}

std::string ConvLayer::shape_key() const {
  std::ostringstream s;
  s << layer_.in_c << "x" << layer_.in_h << "x" << layer_.in_w << ">" << layer_.out_c << "x"
    << layer_.out_h << "x" << layer_.out_w << " k" << layer_.kernel << " s" << layer_.stride
    << " p" << layer_.pad << " g" << layer_.groups << " a" << int(layer_.act) << " r"
    << int(layer_.has_residual()) << " n" << batch_;
  return s.str();
}

bool ConvLayer::search(SearchContext& ctx, const float* x, const float* z, float* y,
                       std::string* why) {
  ConvSearchInput in;
  in.layer = &layer_;
  in.batch = batch_;
  in.layout = layout_;
  in.legacy = legacy_ok_ ? &legacy_ : nullptr;
  in.w = weight_.get();
  in.b = bias_.get();
  in.x = x;
  in.z = layer_.has_residual() ? z : nullptr;
  in.y = y;
  std::shared_ptr<ConvChoice> choice = search_conv(ctx, in, why);
  if (!choice) {
    if (why && !legacy_ok_) *why += "; legacy API: " + legacy_error_;
    return false;
  }
  choice_ = std::move(choice);
  twin_ = -1;
  init_epilogue();
  return true;
}

void ConvLayer::adopt(std::shared_ptr<const ConvChoice> choice, int twin_index) {
  choice_ = std::move(choice);
  twin_ = twin_index;
  init_epilogue();
}

void ConvLayer::init_epilogue() {
  epilogue_.init(layer_.output_shape(batch_), layout_, choice_->epi_bias, choice_->epi_relu6,
                 choice_->epi_residual);
  packs_.clear();
}

void ConvLayer::set_workspace(void* workspace, size_t bytes) {
  workspace_ = workspace;
  workspace_size_ = bytes;
  packs_.clear();
}

void ConvLayer::bind(const float* x, const float* z, float* y) {
  if (choice_->graph) packs_.get(*choice_->graph, x, weight_.get(), bias_.get(), z, y, workspace_);
}

void ConvLayer::run(cudnnHandle_t handle, const float* x, const float* z, float* y) {
  const ConvChoice& c = *choice_;
  switch (c.path) {
    case ConvPath::kGraphFused:
    case ConvPath::kGraphPartial: {
      cudnnBackendDescriptor_t pack =
          packs_.get(*c.graph, x, weight_.get(), bias_.get(), z, y, workspace_);
      CUDNN_CHECK(cudnnBackendExecute(handle, c.plan->plan.get(), pack));
      break;
    }
    case ConvPath::kLegacyFused: {
      const bool residual = layer_.has_residual();
      CUDNN_CHECK(legacy_.conv_bias_act(handle, c.algo, x, weight_.get(), residual ? z : y,
                                        residual ? 1.0f : 0.0f, bias_.get(),
                                        layer_.act == Activation::kRelu6, y, workspace_,
                                        workspace_size_));
      break;
    }
    case ConvPath::kLegacySeparate:
      CUDNN_CHECK(legacy_.conv(handle, c.algo, x, weight_.get(), y, workspace_, workspace_size_));
      break;
  }
  if (epilogue_.op_count() > 0) epilogue_.run(handle, bias_.get(), z, y);
}

LayerDescription ConvLayer::describe() const {
  LayerDescription d;
  if (!choice_) {
    d.support = Support::no("not prepared");
    return d;
  }
  d.kernel = choice_->kernel;
  d.details = choice_->details;
  if (twin_ >= 0)
    d.details = "same shape as layer " + std::to_string(twin_) + ", its search reused; " +
                d.details;
  d.fused_epilogue =
      choice_->path == ConvPath::kGraphFused || choice_->path == ConvPath::kLegacyFused;
  d.workspace_bytes = size_t(choice_->workspace_bytes);
  return d;
}

}  // namespace mbv2::cudnn
