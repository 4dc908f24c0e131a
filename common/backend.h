// The layer interface both backends implement, and the registry that lists them.
//
// Phases, in order: supports() -> prepare() -> run_layer() / forward() -> describe().
// prepare() allocates everything; run_layer() and forward() allocate and create
// nothing, and forward() can be captured into a CUDA graph.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/model.h"
#include "common/tensor.h"
#include "common/weights.h"

namespace mbv2 {

struct RunConfig {
  int batch = 1;
  Precision precision = Precision::kFP32;
};

/// Supported, or not with a reason (never a crash).
struct Support {
  bool supported = true;
  std::string reason;
  static Support yes() { return {true, {}}; }
  static Support no(std::string why) { return {false, std::move(why)}; }
};

/// What actually ran for one layer, for reports.
struct LayerDescription {
  Support support;             ///< after prepare(): whether this layer can run
  std::string kernel;          ///< kernel name and tile, or "cudnn engine 12"
  std::string details;         ///< knobs, numerical notes, fallbacks taken
  bool fused_epilogue = true;  ///< bias/activation/residual fused into the main kernel
  size_t workspace_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  /// Activation layout of every buffer passed to run_layer() and forward()'s input.
  virtual Layout layout() const = 0;
  /// Whether this backend can run `layer` under `config`; callable before prepare().
  virtual Support supports(const Layer& layer, const RunConfig& config) const = 0;
  /// Uploads weights, chooses kernels or engines, allocates everything for config.batch.
  /// Layers that cannot run are marked in describe(i).support instead of throwing.
  virtual void prepare(const ModelSpec& spec, const ModelWeights& weights,
                       const RunConfig& config) = 0;
  /// Runs layer i alone on harness-owned device buffers of the prepared batch, in layout().
  /// `residual` is the output of spec.layers[i].residual_from, or null when there is none.
  virtual void run_layer(int i, const float* input, const float* residual, float* output,
                         cudaStream_t stream) = 0;
  /// The whole network: input [batch, 3, res, res] in layout(), logits [batch, classes].
  virtual void forward(const float* input, float* logits, cudaStream_t stream) = 0;
  virtual LayerDescription describe(int i) const = 0;
  /// One line on how forward() runs (fusions, persistent kernels), for reports.
  virtual std::string describe_forward() const { return "layer by layer"; }
};

struct BackendInfo {
  std::string name;
  std::string description;
  std::string family;  ///< "custom" or "cudnn": reports compare custom against the best cudnn
  std::function<std::unique_ptr<Backend>()> create;
};

class BackendRegistry {
 public:
  /// Adds a backend; a second one with the same name replaces nothing and throws.
  void add(BackendInfo info);
  const std::vector<BackendInfo>& all() const { return entries_; }
  /// The entry with this name, or null.
  const BackendInfo* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::vector<BackendInfo> entries_;
};

}  // namespace mbv2
