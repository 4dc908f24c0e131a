#include "cudnn_ref/engine_config.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "cudnn_ref/backend_attr.h"

namespace mbv2::cudnn {

// ---------------------------------------------------------------------------------------
// Reading engine configurations.

namespace {

void read_notes(cudnnBackendDescriptor_t engine, EngineInfo* info) {
  cudnnBackendNumericalNote_t numerical[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t count = 0;
  if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count,
                               numerical) == CUDNN_STATUS_SUCCESS) {
    for (int64_t i = 0; i < count && i < CUDNN_NUMERICAL_NOTE_TYPE_COUNT; ++i)
      info->numerical_notes.push_back(int(numerical[i]));
  }
  cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  count = 0;
  if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                               CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &count,
                               behavior) == CUDNN_STATUS_SUCCESS) {
    for (int64_t i = 0; i < count && i < CUDNN_BEHAVIOR_NOTE_TYPE_COUNT; ++i)
      info->behavior_notes.push_back(int(behavior[i]));
  }
}

std::vector<KnobChoice> read_knob_choices(cudnnBackendDescriptor_t config) {
  std::vector<BackendDesc> owners;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int i = 0; i < CUDNN_KNOB_TYPE_COUNTS; ++i) {
    owners.push_back(make_backend_desc(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR));
    raw.push_back(owners.back().get());
  }
  std::vector<KnobChoice> knobs;
  int64_t count = 0;
  if (cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                               CUDNN_TYPE_BACKEND_DESCRIPTOR, int64_t(raw.size()), &count,
                               raw.data()) != CUDNN_STATUS_SUCCESS)
    return knobs;
  for (int64_t i = 0; i < count && i < int64_t(raw.size()); ++i) {
    cudnnBackendKnobType_t type{};
    int64_t value = 0, n = 0;
    if (cudnnBackendGetAttribute(raw[size_t(i)], CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE,
                                 CUDNN_TYPE_KNOB_TYPE, 1, &n, &type) != CUDNN_STATUS_SUCCESS ||
        cudnnBackendGetAttribute(raw[size_t(i)], CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE,
                                 CUDNN_TYPE_INT64, 1, &n, &value) != CUDNN_STATUS_SUCCESS)
      continue;
    knobs.push_back({int64_t(type), value});
  }
  std::sort(knobs.begin(), knobs.end(),
            [](const KnobChoice& a, const KnobChoice& b) { return a.type < b.type; });
  return knobs;
}

// Engine id, notes and knobs of a configuration the heuristics returned; false if unreadable.
bool read_config_info(cudnnBackendDescriptor_t config, EngineInfo* info) {
  BackendDesc engine = make_backend_desc(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  cudnnBackendDescriptor_t raw = engine.get();
  int64_t n = 0;
  if (cudnnBackendGetAttribute(config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                               1, &n, &raw) != CUDNN_STATUS_SUCCESS)
    return false;
  int64_t id = -1;
  if (cudnnBackendGetAttribute(raw, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                               &id) != CUDNN_STATUS_SUCCESS)
    return false;
  info->engine_id = id;
  read_notes(raw, info);
  info->knobs = read_knob_choices(config);
  return true;
}

// An engine of `graph` by global index; null when cuDNN says it cannot run the graph.
std::shared_ptr<BackendDesc> make_engine(cudnnBackendDescriptor_t graph, int64_t id) {
  auto engine = std::make_shared<BackendDesc>(make_backend_desc(CUDNN_BACKEND_ENGINE_DESCRIPTOR));
  try {
    set_desc(engine->get(), CUDNN_ATTR_ENGINE_OPERATION_GRAPH, graph);
    set_int64(engine->get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, id);
  } catch (const CudnnFailure&) {
    return nullptr;
  }
  if (try_finalize(engine->get()) != CUDNN_STATUS_SUCCESS) return nullptr;
  return engine;
}

// A configuration of `engine` with explicit knob choices (empty: the engine's defaults).
bool make_config(const std::shared_ptr<BackendDesc>& engine, const std::vector<KnobChoice>& knobs,
                 EngineConfig* out) {
  try {
    BackendDesc config = make_backend_desc(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    set_desc(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, engine->get());
    std::vector<BackendDesc> choices;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (const KnobChoice& k : knobs) {
      BackendDesc c = make_backend_desc(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR);
      const auto type = cudnnBackendKnobType_t(k.type);
      set_attr(c.get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &type);
      set_int64(c.get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, k.value);
      finalize(c.get(), "knob choice");
      raw.push_back(c.get());
      choices.push_back(std::move(c));
    }
    if (!raw.empty()) set_descs(config.get(), CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, raw);
    if (try_finalize(config.get()) != CUDNN_STATUS_SUCCESS) return false;
    out->config = std::move(config);
    out->engine = engine;
    return true;
  } catch (const CudnnFailure&) {
    return false;
  }
}

// Appends the configurations one heuristics mode returns.
void query_heuristics(cudnnBackendDescriptor_t graph, cudnnBackendHeurMode_t mode,
                      ConfigSource source, std::vector<EngineConfig>* out, GatherStats* stats) {
  try {
    BackendDesc heur = make_backend_desc(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    set_desc(heur.get(), CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
    set_attr(heur.get(), CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    finalize(heur.get(), "engine heuristics");
    int64_t count = 0;
    expect_success(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count, nullptr),
                   "heuristics result count");
    if (count <= 0) return;
    std::vector<BackendDesc> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < count; ++i) {
      configs.push_back(make_backend_desc(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
      raw.push_back(configs.back().get());
    }
    int64_t returned = 0;
    expect_success(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                            CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &returned,
                                            raw.data()),
                   "heuristics results");
    for (int64_t i = 0; i < returned && i < count; ++i) {
      EngineConfig c;
      c.info.source = source;
      c.info.rank = int(i);
      if (!read_config_info(raw[size_t(i)], &c.info)) continue;
      c.config = std::move(configs[size_t(i)]);
      out->push_back(std::move(c));
      ++stats->heuristic_results;
    }
  } catch (const CudnnFailure& e) {
    stats->errors.push_back(std::string(to_string(source)) + ": " + e.what());
  }
}

}  // namespace

std::vector<EngineConfig> gather_engine_configs(cudnnBackendDescriptor_t graph,
                                                const GatherLimits& limits, GatherStats* stats) {
  std::vector<EngineConfig> all;
  query_heuristics(graph, CUDNN_HEUR_MODE_A, ConfigSource::kModeA, &all, stats);
  query_heuristics(graph, CUDNN_HEUR_MODE_B, ConfigSource::kModeB, &all, stats);
  query_heuristics(graph, CUDNN_HEUR_MODE_FALLBACK, ConfigSource::kFallback, &all, stats);

  std::vector<EngineConfig> kept;
  std::set<std::string> keys;
  std::set<int64_t> engines_named;
  // Every result is classified (duplicate, filtered, kept) so the counts in reports are
  // complete; only the kept list is capped.
  auto keep = [&](EngineConfig&& c) {
    if (!keys.insert(c.info.key()).second) {
      ++stats->duplicates;
      return;
    }
    if (!engine_allowed(c.info, limits.precision, nullptr)) {
      ++stats->filtered_by_notes;
      return;
    }
    if (int(kept.size()) < limits.max_configs) kept.push_back(std::move(c));
  };
  for (EngineConfig& c : all) engines_named.insert(c.info.engine_id);
  for (EngineConfig& c : all) keep(std::move(c));

  if (limits.sweep && int(kept.size()) < limits.max_configs) {
    int64_t engine_count = 0;
    try {
      engine_count = get_int64(graph, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT);
    } catch (const CudnnFailure& e) {
      stats->errors.push_back(std::string("sweep: ") + e.what());
    }
    int rank = 0;
    for (int64_t id = 0; id < engine_count && int(kept.size()) < limits.max_configs; ++id) {
      if (engines_named.count(id)) continue;
      std::shared_ptr<BackendDesc> engine = make_engine(graph, id);
      if (!engine) continue;
      EngineConfig c;
      c.info.engine_id = id;
      c.info.source = ConfigSource::kSweep;
      c.info.rank = rank++;
      read_notes(engine->get(), &c.info);
      if (!make_config(engine, {}, &c)) continue;
      keep(std::move(c));
    }
  }
  return kept;
}

std::vector<EngineConfig> knob_variants(cudnnBackendDescriptor_t graph, const EngineInfo& base,
                                        int max_variants, const std::vector<std::string>& seen) {
  std::vector<EngineConfig> out;
  if (max_variants <= 0) return out;
  std::shared_ptr<BackendDesc> engine = make_engine(graph, base.engine_id);
  if (!engine) return out;

  struct Range { int64_t type, lo, hi, stride; };
  std::vector<Range> ranges;
  {
    std::vector<BackendDesc> owners;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int i = 0; i < CUDNN_KNOB_TYPE_COUNTS; ++i) {
      owners.push_back(make_backend_desc(CUDNN_BACKEND_KNOB_INFO_DESCRIPTOR));
      raw.push_back(owners.back().get());
    }
    int64_t count = 0;
    if (cudnnBackendGetAttribute(engine->get(), CUDNN_ATTR_ENGINE_KNOB_INFO,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, int64_t(raw.size()), &count,
                                 raw.data()) != CUDNN_STATUS_SUCCESS)
      return out;
    for (int64_t i = 0; i < count && i < int64_t(raw.size()); ++i) {
      cudnnBackendKnobType_t type{};
      Range r{};
      int64_t n = 0;
      const cudnnBackendDescriptor_t k = raw[size_t(i)];
      if (cudnnBackendGetAttribute(k, CUDNN_ATTR_KNOB_INFO_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &n,
                                   &type) != CUDNN_STATUS_SUCCESS ||
          cudnnBackendGetAttribute(k, CUDNN_ATTR_KNOB_INFO_MINIMUM_VALUE, CUDNN_TYPE_INT64, 1, &n,
                                   &r.lo) != CUDNN_STATUS_SUCCESS ||
          cudnnBackendGetAttribute(k, CUDNN_ATTR_KNOB_INFO_MAXIMUM_VALUE, CUDNN_TYPE_INT64, 1, &n,
                                   &r.hi) != CUDNN_STATUS_SUCCESS ||
          cudnnBackendGetAttribute(k, CUDNN_ATTR_KNOB_INFO_STRIDE, CUDNN_TYPE_INT64, 1, &n,
                                   &r.stride) != CUDNN_STATUS_SUCCESS)
        continue;
      r.type = int64_t(type);
      if (r.stride > 0 && r.hi > r.lo) ranges.push_back(r);
    }
  }

  // Per knob, up to 6 values spread over its range; then interleave the knobs so a small
  // budget still varies each of them.
  constexpr int64_t kValuesPerKnob = 6;
  std::vector<std::vector<std::vector<KnobChoice>>> per_knob;
  for (const Range& r : ranges) {
    const int64_t steps = (r.hi - r.lo) / r.stride + 1;
    std::vector<int64_t> values;
    for (int64_t i = 0; i < std::min(steps, kValuesPerKnob); ++i) {
      const int64_t step = steps <= kValuesPerKnob ? i : i * (steps - 1) / (kValuesPerKnob - 1);
      values.push_back(r.lo + step * r.stride);
    }
    std::vector<std::vector<KnobChoice>> choices_for_knob;
    for (int64_t v : values) {
      std::vector<KnobChoice> knobs = base.knobs;
      auto it = std::find_if(knobs.begin(), knobs.end(),
                             [&](const KnobChoice& k) { return k.type == r.type; });
      if (it != knobs.end()) {
        if (it->value == v) continue;
        it->value = v;
      } else {
        knobs.push_back({r.type, v});
      }
      std::sort(knobs.begin(), knobs.end(),
                [](const KnobChoice& a, const KnobChoice& b) { return a.type < b.type; });
      choices_for_knob.push_back(std::move(knobs));
    }
    per_knob.push_back(std::move(choices_for_knob));
  }

  std::set<std::string> keys(seen.begin(), seen.end());
  keys.insert(base.key());
  int rank = 0;
  for (size_t round = 0; int(out.size()) < max_variants; ++round) {
    bool any = false;
    for (const auto& list : per_knob) {
      if (round >= list.size() || int(out.size()) >= max_variants) continue;
      any = true;
      EngineConfig c;
      c.info = base;
      c.info.source = ConfigSource::kKnobVariant;
      c.info.rank = rank;
      c.info.knobs = list[round];
      if (!keys.insert(c.info.key()).second) continue;
      if (!make_config(engine, c.info.knobs, &c)) continue;
      ++rank;
      out.push_back(std::move(c));
    }
    if (!any) break;
  }
  return out;
}

cudnnStatus_t build_plan(cudnnHandle_t handle, const EngineConfig& config, ExecutionPlan* out) {
  try {
    BackendDesc plan = make_backend_desc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    set_handle(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_HANDLE, handle);
    set_desc(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, config.config.get());
    const auto start = std::chrono::steady_clock::now();
    const cudnnStatus_t st = try_finalize(plan.get());
    const auto stop = std::chrono::steady_clock::now();
    out->finalize_ms = std::chrono::duration<double, std::milli>(stop - start).count();
    if (st != CUDNN_STATUS_SUCCESS) return st;
    out->workspace_bytes = get_int64(plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE);
    out->info = config.info;
    out->plan = std::move(plan);
    return CUDNN_STATUS_SUCCESS;
  } catch (const CudnnFailure& e) {
    return e.status();
  }
}

}  // namespace mbv2::cudnn
