#include "cudnn_ref/conv_search.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include "common/cuda_check.h"
#include "common/device_memory.h"
#include "cudnn_ref/candidate_timer.h"
#include "cudnn_ref/variant_pack_cache.h"

namespace mbv2::cudnn {

const char* to_string(ConvPath path) {
  switch (path) {
    case ConvPath::kGraphFused: return "graph-fused";
    case ConvPath::kGraphPartial: return "graph+legacy-epilogue";
    case ConvPath::kLegacyFused: return "legacy-fused";
    case ConvPath::kLegacySeparate: return "legacy-separate";
  }
  return "?";
}

namespace {

struct EpilogueFlags {
  bool bias = false, relu6 = false, residual = false;
  bool any() const { return bias || relu6 || residual; }
  int code() const { return int(bias) | int(relu6) << 1 | int(residual) << 2; }
};

// One runnable candidate: how to enqueue it, and what to record if it wins.
struct Trial {
  ConvPath path = ConvPath::kGraphFused;
  std::string label;
  std::shared_ptr<ConvGraph> graph;
  std::shared_ptr<ExecutionPlan> plan;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  int64_t workspace_bytes = 0;
  EpilogueFlags epi;
  std::function<void(cudaStream_t)> run;
};

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

class ConvSearch {
 public:
  ConvSearch(SearchContext& ctx, const ConvSearchInput& in)
      : ctx_(ctx), in_(in), layer_(*in.layer),
        relu6_(layer_.act == Activation::kRelu6), residual_(layer_.has_residual()),
        problem_(ConvProblem::from(layer_, in.batch, in.layout)),
        out_numel_(problem_.output_numel()) {}

  std::shared_ptr<ConvChoice> run(std::string* why) {
    const auto start = std::chrono::steady_clock::now();
    compute_reference();
    // Most fused first: it is usually fastest, and the budget favours early candidates.
    const SearchLimits& lim = ctx_.limits;
    try_graph_recipe({true, relu6_, residual_, false}, lim.fused_graph_plans);
    if (residual_ && !relu6_) try_graph_recipe({true, false, true, true}, lim.fused_graph_plans / 2);
    if (relu6_ || residual_) try_graph_recipe({true, false, false, false}, lim.partial_graph_plans);
    try_graph_recipe({false, false, false, false}, lim.partial_graph_plans);
    try_legacy();
    try_knob_variants();
    stats_.search_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count();
    if (!best_) {
      std::string reasons;
      for (const std::string& p : stats_.problems) reasons += (reasons.empty() ? "" : "; ") + p;
      if (why)
        *why = "no cuDNN engine could run " + layer_.describe() +
               (reasons.empty() ? std::string() : ": " + reasons);
      return nullptr;
    }
    return make_choice();
  }

 private:
  // The layer computed by the legacy API with every epilogue op separate: the truth each
  // candidate is checked against.
  void compute_reference() {
    ref_ = ctx_.reference(size_t(out_numel_));
    if (!in_.legacy) return;
    const LegacyEpilogue* epi = epilogue({true, relu6_, residual_});
    if (!epi) return;
    const cudnnHandle_t h = ctx_.handle();
    const cudaStream_t s = ctx_.stream();
    for (cudnnConvolutionFwdAlgo_t algo : in_.legacy->algorithms(h, ctx_.limits.legacy_algos)) {
      const int64_t ws = in_.legacy->workspace_bytes(h, algo);
      if (ws < 0 || ws > ctx_.limits.max_workspace_bytes) continue;
      void* wsp = ctx_.workspace(size_t(ws));
      try {
        CUDNN_CHECK(cudnnSetStream(h, s));
        fill_nan(ref_, size_t(out_numel_), s);
        if (in_.legacy->conv(h, algo, in_.x, in_.w, ref_, wsp, size_t(ws)) !=
            CUDNN_STATUS_SUCCESS)
          continue;
        epi->run(h, in_.b, in_.z, ref_);
        CUDA_CHECK(cudaStreamSynchronize(s));
      } catch (const std::exception& e) {
        recover_after_failure(s);
        stats_.note(std::string("reference ") + algo_name(algo) + ": " + e.what());
        continue;
      }
      have_ref_ = true;
      ref_source_ = std::string("legacy cudnnConvolutionForward ") + algo_name(algo) +
                    " + separate epilogue";
      return;
    }
  }

  // Legacy epilogue objects live as long as the search (trials point at them).
  const LegacyEpilogue* epilogue(EpilogueFlags f) {
    auto it = epilogues_.find(f.code());
    if (it != epilogues_.end()) return it->second.get();
    std::unique_ptr<LegacyEpilogue> e;
    try {
      e = std::make_unique<LegacyEpilogue>();
      e->init(layer_.output_shape(in_.batch), in_.layout, f.bias, f.relu6, f.residual);
    } catch (const CudnnFailure& ex) {
      stats_.note(std::string("legacy epilogue: ") + ex.what());
      e.reset();
    }
    return (epilogues_[f.code()] = std::move(e)).get();
  }

  // Up to `max_plans` timed candidates of one graph recipe.
  void try_graph_recipe(const GraphRecipe& recipe, int max_plans) {
    std::shared_ptr<ConvGraph> g;
    try {
      g = build_conv_graph(ctx_.handle(), problem_, recipe);
    } catch (const CudnnFailure& e) {
      stats_.note("graph " + recipe.name() + ": " + e.what());
      return;
    }
    graphs_.push_back(g);  // alive as long as seen_keys_ names it by address
    GatherLimits limits;
    limits.max_configs = max_plans * ctx_.limits.configs_per_plan;
    limits.precision = ctx_.precision();
    GatherStats gs;
    std::vector<EngineConfig> configs = gather_engine_configs(g->graph.get(), limits, &gs);
    stats_.heuristic_results += gs.heuristic_results;
    stats_.duplicates += gs.duplicates;
    stats_.filtered_by_notes += gs.filtered_by_notes;
    for (const std::string& e : gs.errors) stats_.note("graph " + recipe.name() + " " + e);
    if (configs.empty())
      stats_.note("graph " + recipe.name() + ": no engine configuration passed the filters");
    std::vector<std::string>& seen = seen_keys_[g.get()];
    for (const EngineConfig& c : configs) seen.push_back(c.info.key());
    int timed = 0;
    for (const EngineConfig& c : configs) {
      if (timed >= max_plans) break;
      if (try_graph_config(g, c)) ++timed;
    }
  }

  // Builds the plan for `config` and considers it; false when it never reached the timer.
  bool try_graph_config(const std::shared_ptr<ConvGraph>& g, const EngineConfig& config) {
    const bool rtc = config.info.has_behavior_note(CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION);
    if (rtc && (runtime_compiled_ >= ctx_.limits.runtime_compiled_per_layer ||
                ctx_.runtime_compile_ms_left <= 0.0)) {
      ++stats_.runtime_compile_skipped;
      return false;
    }
    auto plan = std::make_shared<ExecutionPlan>();
    const cudnnStatus_t st = build_plan(ctx_.handle(), config, plan.get());
    if (rtc) {
      ++runtime_compiled_;
      ctx_.runtime_compile_ms_left -= plan->finalize_ms;
      stats_.runtime_compile_ms += plan->finalize_ms;
    }
    if (st != CUDNN_STATUS_SUCCESS) {
      ++stats_.plans_failed;
      return false;
    }
    ++stats_.plans_built;
    if (plan->workspace_bytes > ctx_.limits.max_workspace_bytes) {
      ++stats_.workspace_too_large;
      return false;
    }
    const GraphRecipe& r = g->recipe;
    const EpilogueFlags epi{!r.bias, relu6_ && !r.relu6, residual_ && !r.residual};
    const LegacyEpilogue* e = epi.any() ? epilogue(epi) : nullptr;
    if (epi.any() && !e) return false;

    void* ws = ctx_.workspace(size_t(plan->workspace_bytes));
    std::shared_ptr<BackendDesc> pack;
    try {
      pack = std::make_shared<BackendDesc>(
          make_variant_pack(*g, in_.x, in_.w, in_.b, in_.z, in_.y, ws));
    } catch (const CudnnFailure& ex) {
      stats_.note(std::string("variant pack: ") + ex.what());
      return false;
    }
    Trial t;
    t.path = epi.any() ? ConvPath::kGraphPartial : ConvPath::kGraphFused;
    t.label = "cudnn " + plan->info.label() + " [" + r.name() + "]";
    t.graph = g;
    t.plan = plan;
    t.workspace_bytes = plan->workspace_bytes;
    t.epi = epi;
    const cudnnHandle_t h = ctx_.handle();
    const float* b = in_.b;
    const float* z = in_.z;
    float* y = in_.y;
    t.run = [h, plan, pack, e, b, z, y](cudaStream_t s) {
      CUDNN_CHECK(cudnnSetStream(h, s));
      CUDNN_CHECK(cudnnBackendExecute(h, plan->plan.get(), pack->get()));
      if (e) e->run(h, b, z, y);
    };
    return consider(std::move(t), &plan->info);
  }

  void try_legacy() {
    if (!in_.legacy) return;
    const cudnnHandle_t h = ctx_.handle();
    const LegacyConv* legacy = in_.legacy;
    const std::vector<cudnnConvolutionFwdAlgo_t> algos =
        legacy->algorithms(h, ctx_.limits.legacy_algos);
    const float* x = in_.x;
    const float* w = in_.w;
    const float* b = in_.b;
    float* y = in_.y;
    // act(conv + alpha2 * z + bias) is the layer unless it has both ReLU6 and a residual
    // (the residual comes after ReLU6). Without a residual, z aliases y with alpha2 = 0.
    if (!(relu6_ && residual_)) {
      for (cudnnConvolutionFwdAlgo_t algo : algos) {
        // cuDNN documents CUDNN_ACTIVATION_IDENTITY in this call for IMPLICIT_PRECOMP_GEMM
        // only; other algorithms are outside the API's contract even where they run.
        if (!relu6_ && algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) continue;
        const int64_t ws = legacy->workspace_bytes(h, algo);
        if (ws < 0 || ws > ctx_.limits.max_workspace_bytes) continue;
        void* wsp = ctx_.workspace(size_t(ws));
        const float* z = residual_ ? in_.z : y;
        const float alpha2 = residual_ ? 1.0f : 0.0f;
        const bool act = relu6_;
        Trial t;
        t.path = ConvPath::kLegacyFused;
        t.label = std::string("cudnnConvolutionBiasActivationForward ") + algo_name(algo);
        t.algo = algo;
        t.workspace_bytes = ws;
        t.run = [=](cudaStream_t s) {
          CUDNN_CHECK(cudnnSetStream(h, s));
          CUDNN_CHECK(legacy->conv_bias_act(h, algo, x, w, z, alpha2, b, act, y, wsp, size_t(ws)));
        };
        consider(std::move(t), nullptr);
      }
    }
    const EpilogueFlags all{true, relu6_, residual_};
    const LegacyEpilogue* e = epilogue(all);
    if (!e) return;
    const float* z = in_.z;
    for (cudnnConvolutionFwdAlgo_t algo : algos) {
      const int64_t ws = legacy->workspace_bytes(h, algo);
      if (ws < 0 || ws > ctx_.limits.max_workspace_bytes) continue;
      void* wsp = ctx_.workspace(size_t(ws));
      Trial t;
      t.path = ConvPath::kLegacySeparate;
      t.label = std::string("cudnnConvolutionForward ") + algo_name(algo);
      t.algo = algo;
      t.workspace_bytes = ws;
      t.epi = all;
      t.run = [=](cudaStream_t s) {
        CUDNN_CHECK(cudnnSetStream(h, s));
        CUDNN_CHECK(legacy->conv(h, algo, x, w, y, wsp, size_t(ws)));
        e->run(h, b, z, y);
      };
      consider(std::move(t), nullptr);
    }
  }

  // Knob variants of the fastest graph candidates: heuristics pick good knobs, not always
  // the best ones for this exact shape.
  void try_knob_variants() {
    std::stable_sort(graph_results_.begin(), graph_results_.end(),
                     [](const GraphResult& a, const GraphResult& b) { return a.us < b.us; });
    std::vector<std::pair<const ConvGraph*, int64_t>> bases;
    std::vector<GraphResult> chosen;
    for (const GraphResult& r : graph_results_) {
      if (int(chosen.size()) >= ctx_.limits.knob_bases) break;
      const std::pair<const ConvGraph*, int64_t> key{r.graph.get(), r.info.engine_id};
      if (std::find(bases.begin(), bases.end(), key) != bases.end()) continue;
      bases.push_back(key);
      chosen.push_back(r);
    }
    for (const GraphResult& base : chosen) {
      std::vector<std::string>& seen = seen_keys_[base.graph.get()];
      std::vector<EngineConfig> variants = knob_variants(
          base.graph->graph.get(), base.info, ctx_.limits.knob_variants_per_base, seen);
      stats_.knob_variants += int(variants.size());
      for (const EngineConfig& v : variants) seen.push_back(v.info.key());
      for (const EngineConfig& v : variants) try_graph_config(base.graph, v);
    }
  }

  // Times `t`; if it is the fastest so far, verifies it on a NaN-poisoned output.
  // False when the per-layer cap stopped it before timing.
  bool consider(Trial&& t, const EngineInfo* info) {
    if (stats_.timed >= ctx_.limits.max_timed_per_layer) {
      if (!cap_noted_) stats_.note("candidate cap reached");
      cap_noted_ = true;
      return false;
    }
    const double best_us = best_ ? best_timing_.median_us : 0.0;
    const TimingResult r = time_candidate(t.run, ctx_.stream(), best_us, ctx_.timing);
    ++stats_.timed;
    if (!r.ok) {
      ++stats_.run_failed;
      stats_.note(t.label + ": " + r.error);
      return true;
    }
    if (r.pruned) {
      ++stats_.pruned;
      return true;
    }
    const bool recorded = t.graph && info;
    if (recorded) graph_results_.push_back({r.median_us, t.graph, *info});
    if (best_ && r.median_us >= best_timing_.median_us) return true;
    if (!verify(t)) {
      if (recorded) graph_results_.pop_back();  // no knob variants of a wrong engine
      return true;
    }
    best_ = std::move(t);
    best_timing_ = r;
    return true;
  }

  bool verify(const Trial& t) {
    const cudaStream_t s = ctx_.stream();
    const size_t n = size_t(out_numel_);
    try {
      fill_nan(in_.y, n, s);
      t.run(s);
      CUDA_CHECK(cudaStreamSynchronize(s));
      if (!have_ref_) {
        // No legacy reference: the first candidate that writes every element finitely
        // becomes the reference (comparing it with its own copy catches NaN and Inf).
        CUDA_CHECK(cudaMemcpyAsync(ref_, in_.y, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
      }
      const DeviceAgreement a =
          ctx_.checker().compare_and_clobber(in_.y, ref_, int64_t(n), ctx_.check_tolerance(), s);
      if (!a.pass) {
        ++stats_.rejected_by_check;
        stats_.note(t.label + " disagrees with the reference: " + a.text());
        return false;
      }
    } catch (const std::exception& e) {
      recover_after_failure(s);
      ++stats_.run_failed;
      stats_.note(t.label + ": " + e.what());
      return false;
    }
    if (!have_ref_) {
      have_ref_ = true;
      ref_source_ = "none available; checked for NaN/Inf only (" + t.label + ")";
    }
    return true;
  }

  std::shared_ptr<ConvChoice> make_choice() const {
    auto c = std::make_shared<ConvChoice>();
    const Trial& t = *best_;
    c->path = t.path;
    c->graph = t.graph;
    c->plan = t.plan;
    c->algo = t.algo;
    c->workspace_bytes = t.workspace_bytes;
    c->epi_bias = t.epi.bias, c->epi_relu6 = t.epi.relu6, c->epi_residual = t.epi.residual;
    c->median_us = best_timing_.median_us;
    const int separate = int(t.epi.bias) + int(t.epi.relu6) + int(t.epi.residual);
    const std::string extra =
        separate ? " + " + std::to_string(separate) + " legacy epilogue op" + (separate > 1 ? "s" : "")
                 : std::string();
    std::string details = std::string("path ") + to_string(t.path);
    switch (t.path) {
      case ConvPath::kGraphFused:
      case ConvPath::kGraphPartial:
        c->kernel = "cudnn " + t.plan->info.label() + extra;
        details += "; graph " + t.graph->recipe.name() + "; knobs " + t.plan->info.knobs_text() +
                   "; " + t.plan->info.notes_text() + "; plan finalize " +
                   format("%.1f", t.plan->finalize_ms) + " ms";
        break;
      case ConvPath::kLegacyFused:
        c->kernel = t.label;
        break;
      case ConvPath::kLegacySeparate:
        c->kernel = t.label + extra;
        break;
    }
    if (separate)
      details += "; separate epilogue " + epilogue_text(t.epi.bias, t.epi.relu6, t.epi.residual);
    details += "; workspace " + std::to_string(t.workspace_bytes) + " B";
    details += "; fastest median " + format("%.2f", best_timing_.median_us) + " us (min " +
               format("%.2f", best_timing_.min_us) + ", " +
               std::to_string(best_timing_.calls_per_graph) + " calls per graph replay)";
    details += "; reference " + (ref_source_.empty() ? std::string("none") : ref_source_);
    details += "; " + stats_.text();
    c->details = std::move(details);
    return c;
  }

  struct GraphResult {
    double us;
    std::shared_ptr<ConvGraph> graph;
    EngineInfo info;
  };

  SearchContext& ctx_;
  ConvSearchInput in_;
  const Layer& layer_;
  const bool relu6_, residual_;
  const ConvProblem problem_;
  const int64_t out_numel_;

  float* ref_ = nullptr;
  bool have_ref_ = false;
  std::string ref_source_;
  SearchStats stats_;
  int runtime_compiled_ = 0;
  bool cap_noted_ = false;

  std::optional<Trial> best_;
  TimingResult best_timing_;
  std::vector<GraphResult> graph_results_;
  std::vector<std::shared_ptr<ConvGraph>> graphs_;
  std::map<const ConvGraph*, std::vector<std::string>> seen_keys_;
  std::map<int, std::unique_ptr<LegacyEpilogue>> epilogues_;
};

}  // namespace

std::shared_ptr<ConvChoice> search_conv(SearchContext& ctx, const ConvSearchInput& in,
                                        std::string* why) {
  ConvSearch search(ctx, in);
  return search.run(why);
}

}  // namespace mbv2::cudnn
