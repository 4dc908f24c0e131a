// The cuDNN backends ("cudnn-nhwc", "cudnn-nchw"): the layer interface over the per-layer
// searches. prepare() creates every handle, descriptor, plan, variant pack and buffer;
// run_layer() and forward() only enqueue work (see variant_pack_cache.h for the one
// exception: a pointer set run_layer() has never seen gets its host-side pack once).
#include "cudnn_ref/cudnn_backend.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>

#include "common/cuda_check.h"
#include "common/device_memory.h"
#include "common/util.h"
#include "cudnn_ref/activation_arena.h"
#include "cudnn_ref/candidate_timer.h"
#include "cudnn_ref/classifier_layer.h"
#include "cudnn_ref/conv_layer.h"
#include "cudnn_ref/cudnn_raii.h"
#include "cudnn_ref/device_fill.h"
#include "cudnn_ref/layer_checks.h"
#include "cudnn_ref/pool_layer.h"
#include "cudnn_ref/search_context.h"

namespace mbv2 {
namespace {

using cudnn::ClassifierLayer;
using cudnn::ConvLayer;
using cudnn::PoolLayer;

constexpr uint64_t kSearchDataSeed = 0x6d627632636e6e;  // "mbv2cnn"

class CudnnBackend final : public Backend {
 public:
  CudnnBackend(std::string name, Layout layout) : name_(std::move(name)), layout_(layout) {}

  std::string name() const override { return name_; }
  Layout layout() const override { return layout_; }

  Support supports(const Layer& layer, const RunConfig& config) const override {
    return cudnn::check_layer(layer, config);
  }

  void prepare(const ModelSpec& spec, const ModelWeights& weights,
               const RunConfig& config) override;
  void run_layer(int i, const float* input, const float* residual, float* output,
                 cudaStream_t stream) override;
  void forward(const float* input, float* logits, cudaStream_t stream) override;
  LayerDescription describe(int i) const override;
  std::string describe_forward() const override { return forward_text_; }

 private:
  struct LayerState {
    Support support;
    std::unique_ptr<ConvLayer> conv;
    std::unique_ptr<PoolLayer> pool;
    std::unique_ptr<ClassifierLayer> classifier;
  };

  void reset();
  void search_layers(const ModelWeights& weights, cudnn::SearchContext& ctx, float* search_input,
                     float* search_output);
  void finish(double prepare_ms);
  float* slot(int layer) const;
  const Layer& checked_layer(int i, const char* what) const;
  void run_one(int i, const float* x, const float* z, float* y, cudaStream_t stream);

  std::string name_;
  Layout layout_;
  ModelSpec spec_;
  RunConfig config_;
  bool prepared_ = false;
  int searched_ = 0, reused_ = 0;
  double compile_left_ms_ = 0.0;
  std::string first_unsupported_;
  std::string forward_text_ = "not prepared";

  // Declaration order is destruction order reversed: layers (plans, descriptors) go before
  // the handles they were made with.
  std::unique_ptr<CudaStream> search_stream_;
  cudnn::CudnnHandle handle_;
  cudnn::CublasLtHandle lt_;
  DeviceBuffer<unsigned char> workspace_;
  std::vector<DeviceBuffer<float>> slots_;
  cudnn::ArenaPlan arena_;
  std::vector<LayerState> layers_;
};

void CudnnBackend::reset() {
  layers_.clear();
  slots_.clear();
  workspace_.reset();
  arena_ = {};
  prepared_ = false;
  searched_ = reused_ = 0;
  compile_left_ms_ = 0.0;
  first_unsupported_.clear();
  forward_text_ = "not prepared";
}

float* CudnnBackend::slot(int layer) const {
  const int s = arena_.slot_of_layer[size_t(layer)];
  return s < 0 ? nullptr : slots_[size_t(s)].get();
}

void CudnnBackend::prepare(const ModelSpec& spec, const ModelWeights& weights,
                           const RunConfig& config) {
  const auto start = std::chrono::steady_clock::now();
  reset();
  cudnn::check_prepare_inputs(spec, weights, config);
  spec_ = spec;
  config_ = config;
  layers_.resize(spec.layers.size());
  bool any = false;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    layers_[i].support = supports(spec.layers[i], config);
    any = any || layers_[i].support.supported;
  }
  if (any) {
    if (!handle_) handle_ = cudnn::make_cudnn_handle();
    if (!lt_) lt_ = cudnn::make_cublaslt_handle();
    if (!search_stream_) search_stream_ = std::make_unique<CudaStream>();
    const cudaStream_t s = search_stream_->get();

    // Forward's activation slots, plus search-only stand-ins for the caller's input and
    // logits; all filled with random values (never zeros) before any engine is timed.
    arena_ = cudnn::plan_arena(spec, config.batch);
    for (int64_t floats : arena_.slot_floats) slots_.emplace_back(size_t(floats));
    int64_t input_floats = 0;
    for (const Layer& l : spec.layers)
      if (l.input_from < 0) input_floats = std::max(input_floats, l.input_shape(config.batch).numel());
    DeviceBuffer<float> search_input(static_cast<size_t>(input_floats));
    DeviceBuffer<float> search_output(
        static_cast<size_t>(spec.layers.back().output_shape(config.batch).numel()));
    uint64_t seed = kSearchDataSeed;
    for (DeviceBuffer<float>& b : slots_) cudnn::fill_uniform(b.get(), b.size(), seed++, s);
    cudnn::fill_uniform(search_input.get(), search_input.size(), seed++, s);
    cudnn::fill_uniform(search_output.get(), search_output.size(), seed++, s);

    cudnn::SearchContext ctx(handle_.get(), s, config.precision);
    search_layers(weights, ctx, search_input.get(), search_output.get());
    CUDA_CHECK(cudaStreamSynchronize(s));
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!layers_[i].support.supported && first_unsupported_.empty())
      first_unsupported_ = "layer " + std::to_string(i) + " (" + spec.layers[i].name + ", " +
                           spec.layers[i].describe() + "): " + layers_[i].support.reason;
  }
  prepared_ = true;
  finish(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count());
}

void CudnnBackend::search_layers(const ModelWeights& weights, cudnn::SearchContext& ctx,
                                 float* search_input, float* search_output) {
  const int count = int(spec_.layers.size());
  const int batch = config_.batch;
  std::map<std::string, int> first_of_shape;
  int searched = 0, reused = 0;
  for (int i = 0; i < count; ++i) {
    LayerState& st = layers_[size_t(i)];
    if (!st.support.supported) continue;
    const Layer& l = spec_.layers[size_t(i)];
    const float* x = l.input_from < 0 ? search_input : slot(l.input_from);
    const float* z = l.has_residual() ? slot(l.residual_from) : nullptr;
    float* y = i == count - 1 ? search_output : slot(i);
    std::string why;
    bool ok = false;
    try {
      switch (l.kind) {
        case LayerKind::kConv: {
          st.conv = std::make_unique<ConvLayer>(l, batch, layout_, config_.precision);
          st.conv->upload(weights.layers[size_t(i)]);
          auto twin = first_of_shape.find(st.conv->shape_key());
          if (twin != first_of_shape.end()) {
            st.conv->adopt(layers_[size_t(twin->second)].conv->choice(), twin->second);
            ok = true;
            ++reused;
          } else {
            ok = st.conv->search(ctx, x, z, y, &why);
            ++searched;
            if (ok) first_of_shape.emplace(st.conv->shape_key(), i);
          }
          break;
        }
        case LayerKind::kGlobalAvgPool:
          st.pool = std::make_unique<PoolLayer>(l, batch, layout_);
          ok = st.pool->search(ctx, x, y, &why);
          break;
        case LayerKind::kLinear:
          st.classifier = std::make_unique<ClassifierLayer>(l, batch, config_.precision);
          st.classifier->upload(weights.layers[size_t(i)]);
          ok = st.classifier->search(ctx, lt_.get(), x, y, &why);
          break;
      }
    } catch (const CudaError&) {
      throw;  // the device itself failed: nothing later could be trusted
    } catch (const std::exception& e) {
      cudnn::recover_after_failure(ctx.stream());
      why = e.what();
      ok = false;
    }
    if (!ok) st.support = Support::no(why.empty() ? "cuDNN could not run this layer" : why);
  }

  // One workspace for every layer (they run one after another on one stream).
  int64_t ws = 0;
  for (const LayerState& st : layers_) {
    if (!st.support.supported) continue;
    if (st.conv) ws = std::max(ws, st.conv->workspace_bytes());
    if (st.pool) ws = std::max(ws, st.pool->workspace_bytes());
  }
  workspace_.allocate(size_t(ws));
  for (int i = 0; i < count; ++i) {
    LayerState& st = layers_[size_t(i)];
    if (!st.support.supported) continue;
    if (st.conv) {
      st.conv->set_workspace(workspace_.get(), workspace_.size());
      const Layer& l = spec_.layers[size_t(i)];
      // forward()'s packs for internal buffers now; the caller's input gets one on first use.
      if (l.input_from >= 0 && i != count - 1)
        st.conv->bind(slot(l.input_from), l.has_residual() ? slot(l.residual_from) : nullptr,
                      slot(i));
    }
    if (st.pool) st.pool->set_workspace(workspace_.get(), workspace_.size());
  }
  searched_ = searched;
  reused_ = reused;
  compile_left_ms_ = ctx.runtime_compile_ms_left;
}

void CudnnBackend::finish(double prepare_ms) {
  int graph_fused = 0, graph_partial = 0, legacy_fused = 0, legacy_separate = 0, unsupported = 0;
  std::string pool = "none", classifier = "none";
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerState& st = layers_[i];
    if (!st.support.supported) {
      ++unsupported;
      continue;
    }
    if (st.conv && st.conv->choice()) {
      switch (st.conv->choice()->path) {
        case cudnn::ConvPath::kGraphFused: ++graph_fused; break;
        case cudnn::ConvPath::kGraphPartial: ++graph_partial; break;
        case cudnn::ConvPath::kLegacyFused: ++legacy_fused; break;
        case cudnn::ConvPath::kLegacySeparate: ++legacy_separate; break;
      }
    }
    if (st.pool) pool = st.pool->describe().kernel;
    if (st.classifier) classifier = st.classifier->describe().kernel;
  }
  int64_t arena_floats = 0;
  for (int64_t f : arena_.slot_floats) arena_floats += f;
  std::ostringstream s;
  s << "layer by layer on the caller's stream, one cuDNN handle; convolutions: " << graph_fused
    << " fused operation graphs, " << graph_partial << " graphs + legacy epilogue ops, "
    << legacy_fused << " cudnnConvolutionBiasActivationForward, " << legacy_separate
    << " cudnnConvolutionForward + legacy epilogue ops; pool: " << pool
    << "; classifier: " << classifier << "; " << unsupported << " layers not supported; "
    << searched_ << " engine searches, " << reused_ << " layers reused a same-shape search; "
    << "workspace " << workspace_.size() << " B; activation arena "
    << arena_floats * int64_t(sizeof(float)) << " B in " << arena_.slot_floats.size()
    << " slots; runtime-compilation budget left " << compile_left_ms_ << " ms; prepare "
    << prepare_ms << " ms";
  forward_text_ = s.str();
}

const Layer& CudnnBackend::checked_layer(int i, const char* what) const {
  if (!prepared_)
    throw InputError(name_ + ": " + what + " called before prepare()");
  if (i < 0 || i >= int(spec_.layers.size()))
    throw InputError(name_ + ": " + what + ": layer index " + std::to_string(i) +
                     " is out of range [0, " + std::to_string(spec_.layers.size()) + ")");
  return spec_.layers[size_t(i)];
}

void CudnnBackend::run_one(int i, const float* x, const float* z, float* y,
                           cudaStream_t stream) {
  LayerState& st = layers_[size_t(i)];
  if (st.conv) {
    st.conv->run(handle_.get(), x, z, y);
  } else if (st.pool) {
    st.pool->run(handle_.get(), x, y);
  } else {
    st.classifier->run(lt_.get(), x, y, stream);
  }
}

void CudnnBackend::run_layer(int i, const float* input, const float* residual, float* output,
                             cudaStream_t stream) {
  const Layer& l = checked_layer(i, "run_layer");
  const LayerState& st = layers_[size_t(i)];
  if (!st.support.supported)
    throw NotSupportedError(name_ + ": layer " + std::to_string(i) + " (" + l.name +
                            ") is not supported: " + st.support.reason);
  const std::string where = "layer " + std::to_string(i) + " (" + l.name + ")";
  cudnn::check_buffer(input, "input", where);
  cudnn::check_buffer(output, "output", where);
  if (l.has_residual()) cudnn::check_buffer(residual, "residual", where);
  CUDNN_CHECK(cudnnSetStream(handle_.get(), stream));
  run_one(i, input, l.has_residual() ? residual : nullptr, output, stream);
}

void CudnnBackend::forward(const float* input, float* logits, cudaStream_t stream) {
  if (!prepared_) throw InputError(name_ + ": forward called before prepare()");
  if (!first_unsupported_.empty())
    throw NotSupportedError(name_ + ": forward needs every layer, but " + first_unsupported_);
  cudnn::check_buffer(input, "input", "forward");
  cudnn::check_buffer(logits, "logits", "forward");
  CUDNN_CHECK(cudnnSetStream(handle_.get(), stream));
  const int count = int(spec_.layers.size());
  for (int i = 0; i < count; ++i) {
    const Layer& l = spec_.layers[size_t(i)];
    const float* x = l.input_from < 0 ? input : slot(l.input_from);
    const float* z = l.has_residual() ? slot(l.residual_from) : nullptr;
    float* y = i == count - 1 ? logits : slot(i);
    run_one(i, x, z, y, stream);
  }
}

LayerDescription CudnnBackend::describe(int i) const {
  if (!prepared_) {
    LayerDescription d;
    d.support = Support::no("not prepared");
    return d;
  }
  checked_layer(i, "describe");
  const LayerState& st = layers_[size_t(i)];
  LayerDescription d;
  if (st.support.supported) {
    if (st.conv) d = st.conv->describe();
    if (st.pool) d = st.pool->describe();
    if (st.classifier) d = st.classifier->describe();
  }
  d.support = st.support;
  return d;
}

}  // namespace

void register_cudnn_backends(BackendRegistry& registry) {
  registry.add({"cudnn-nhwc",
                "cuDNN 9 graph API (fused conv+bias+ReLU6+residual where an engine exists), "
                "per-layer engine search, NHWC activations",
                "cudnn", [] { return std::make_unique<CudnnBackend>("cudnn-nhwc", Layout::kNHWC); }});
  registry.add({"cudnn-nchw",
                "cuDNN 9 graph API (fused conv+bias+ReLU6+residual where an engine exists), "
                "per-layer engine search, NCHW activations",
                "cudnn", [] { return std::make_unique<CudnnBackend>("cudnn-nchw", Layout::kNCHW); }});
}

}  // namespace mbv2
