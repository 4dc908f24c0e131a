#include "bench/report_assembly.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <cstdlib>
#include <limits>
#include <set>

namespace mbv2 {

namespace {

std::vector<int> dims(const Shape4& s) { return {s.n, s.c, s.h, s.w}; }

const char* kNotTimed = "not timed: not selected by --benchmark_filter";

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string family_of(const std::map<std::string, std::string>& family, const std::string& backend) {
  const auto it = family.find(backend);
  return it == family.end() ? "" : it->second;
}

bool timed_and_passed(Disposition d, const std::optional<Timing>& t) {
  return d == Disposition::kPassed && t && std::isfinite(t->median_us) && t->median_us > 0.0;
}

/// Fastest passed result of a family on a row, or null.
template <typename Result>
const Result* fastest(const std::vector<Result>& results, const std::map<std::string, std::string>& family,
                      const std::string& wanted) {
  const Result* best = nullptr;
  for (const Result& r : results) {
    if (family_of(family, r.backend) != wanted || !timed_and_passed(r.disposition, r.timing)) continue;
    if (!best || r.timing->median_us < best->timing->median_us) best = &r;
  }
  return best;
}

/// Applies a benchmark's outcome to a result that verification already judged.
template <typename Result>
void apply_timing(Result& r, const TimedCase* tc) {
  if (!tc) return;
  if (tc->failed) {
    // An incorrect result stays incorrect: that is the more important fact.
    if (r.disposition == Disposition::kIncorrect) {
      r.note += (r.note.empty() ? "" : "; ") + tc->failure_note;
    } else {
      r.disposition = tc->failure;
      r.note = tc->failure_note;
    }
    return;
  }
  r.timing = case_timing(*tc);
  if (!r.timing) r.note += std::string(r.note.empty() ? "" : "; ") + kNotTimed;
  if (tc->unblocked)
    r.note += std::string(r.note.empty() ? "" : "; ") +
              "sampled without the stream-blocking kernel (it timed out): host launch cost may show";
}

}  // namespace

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void fill_rates(LayerResult& r, int64_t flops, int64_t bytes, const Ceilings& c) {
  if (!r.timing || !(r.timing->median_us > 0.0)) return;
  const double seconds = r.timing->median_us * 1e-6;
  r.gflops = double(flops) / seconds * 1e-9;
  r.gbps = double(bytes) / seconds * 1e-9;
  const double flop_share = c.fp32_gflops > 0.0 ? r.gflops / c.fp32_gflops : 0.0;
  const double byte_share = c.bandwidth_gbps > 0.0 ? r.gbps / c.bandwidth_gbps : 0.0;
  r.pct_of_ceiling = 100.0 * std::max(flop_share, byte_share);
}

Report assemble_report(const BenchContext& ctx, const std::vector<std::unique_ptr<BatchRun>>& batches,
                       const Suite& suite, const ReportContext& extra) {
  const CliOptions& o = ctx.options;
  const ModelSpec& spec = ctx.setup.spec;
  Report report;
  report.created = extra.created;
  report.git = extra.git;
  report.device = extra.device;

  RunConfigReport& c = report.config;
  c.model = spec.name;
  c.width_mult = spec.width_mult;
  c.resolution = spec.resolution;
  c.num_classes = spec.num_classes;
  c.precision = to_string(o.precision);
  c.batches = o.batches;
  c.backends = o.backends;
  c.weights = ctx.setup.weights_report;
  c.input = ctx.setup.input_report;
  TimingConfig& t = c.timing;
  t.repetitions = ctx.plan.layer_repetitions;
  t.min_time_s = o.benchmark_min_time_given ? std::strtod(o.benchmark_min_time.c_str(), nullptr) : 0.0;
  if (!o.benchmark_min_time.empty() && o.benchmark_min_time.back() == 'x') t.min_time_s = 0.0;
  t.warmup = ctx.plan.warmup_samples;
  t.launches_per_sample = 1;
  t.regimes = o.regimes;
  t.modes = o.modes;
  t.quick = o.quick;

  std::map<std::string, std::string> family;
  for (const BackendInfo& info : ctx.registry.all()) family[info.name] = info.family;

  for (const auto& run : batches) {
    for (int i : o.layer_indices) {
      const Layer& l = spec.layers[size_t(i)];
      for (const std::string& regime : o.regimes) {
        LayerRow row;
        row.index = l.index;
        row.name = l.name;
        row.kind = to_string(l.kind);
        row.role = to_string(l.role);
        row.description = l.describe();
        row.batch = run->batch;
        row.regime = regime;
        row.input_shape = dims(l.input_shape(run->batch));
        row.output_shape = dims(l.output_shape(run->batch));
        row.flops = l.flops(run->batch);
        row.bytes = l.min_bytes(run->batch);
        for (const auto& br : run->backends) {
          const LayerCase& lc = br->layers[size_t(i)];
          LayerResult r;
          r.backend = br->info->name;
          r.disposition = lc.verdict.disposition;
          r.note = lc.verdict.note;
          r.agreement = lc.verdict.agreement;
          r.what_ran = lc.what_ran;
          const TimedCase* tc = suite.find_layer(run.get(), br.get(), i, regime == "cold");
          apply_timing(r, tc);
          if (tc && r.timing && regime == "warm")
            t.launches_per_sample = std::max(t.launches_per_sample, tc->launches);
          fill_rates(r, row.flops, row.bytes, report.device.ceilings);
          row.results.push_back(std::move(r));
        }
        report.layers.push_back(std::move(row));
      }
    }
    for (const std::string& mode : o.modes) {
      const bool graph = mode == "graph";
      EndToEndRow row;
      row.batch = run->batch;
      row.mode = mode;
      for (const auto& br : run->backends) {
        const E2eCase& e = graph ? br->graph : br->stream;
        EndToEndResult r;
        r.backend = br->info->name;
        r.disposition = e.verdict.disposition;
        r.note = e.verdict.note;
        r.agreement = e.verdict.agreement;
        r.top5 = e.top5;
        r.top5_match = e.top5_match;
        r.what_ran = br->forward_description;
        if (graph && !r.what_ran.empty()) r.what_ran += " (CUDA graph replay)";
        const TimedCase* tc = suite.find_e2e(run.get(), br.get(), graph);
        apply_timing(r, tc);
        if (tc && r.timing) r.host_timing = case_host_timing(*tc);
        if (r.timing && r.timing->median_us > 0.0)
          r.images_per_s = double(run->batch) / (r.timing->median_us * 1e-6);
        row.results.push_back(std::move(r));
      }
      report.end_to_end.push_back(std::move(row));
    }
  }

  report.summary = summarize_report(report, family, int(spec.layers.size()));
  for (const std::string& n : extra.notes) report.summary.notes.push_back(n);
  return report;
}

Summary summarize_report(const Report& report, const std::map<std::string, std::string>& family,
                         int model_layers) {
  Summary s;
  // Each verification counts once: per-layer results repeat in every regime.
  const std::string first_regime =
      report.layers.empty() ? "" : report.layers.front().regime;
  for (const LayerRow& row : report.layers) {
    if (row.regime != first_regime) continue;
    for (const LayerResult& r : row.results)
      if (r.disposition == Disposition::kIncorrect) ++s.incorrect_count;
  }
  for (const EndToEndRow& row : report.end_to_end)
    for (const EndToEndResult& r : row.results)
      if (r.disposition == Disposition::kIncorrect) ++s.incorrect_count;
  s.all_correct = s.incorrect_count == 0;

  std::vector<int> batches = report.config.batches;
  auto add_batch = [&batches](int b) {
    if (std::find(batches.begin(), batches.end(), b) == batches.end()) batches.push_back(b);
  };
  for (const LayerRow& row : report.layers) add_batch(row.batch);
  for (const EndToEndRow& row : report.end_to_end) add_batch(row.batch);

  for (int batch : batches) {
    BatchSummary b;
    b.batch = batch;
    std::vector<std::string> regimes;
    for (const LayerRow& row : report.layers)
      if (row.batch == batch && !has(regimes, row.regime)) regimes.push_back(row.regime);
    b.regime = has(regimes, "warm") ? "warm" : regimes.empty() ? "" : regimes.front();

    std::vector<const LayerRow*> rows;
    for (const LayerRow& row : report.layers)
      if (row.batch == batch && row.regime == b.regime) rows.push_back(&row);
    b.layers_total = int(rows.size());
    for (const LayerRow* row : rows) {
      const LayerResult* ours = fastest(row->results, family, "custom");
      const LayerResult* theirs = fastest(row->results, family, "cudnn");
      if (ours && theirs && ours->timing->median_us < theirs->timing->median_us) ++b.layers_custom_faster;
    }

    const EndToEndRow* stream_row = nullptr;
    const EndToEndRow* graph_row = nullptr;
    for (const EndToEndRow& row : report.end_to_end) {
      if (row.batch != batch) continue;
      if (row.mode == "stream") stream_row = &row;
      if (row.mode == "graph") graph_row = &row;
    }
    auto speedup = [&](const EndToEndRow* row) {
      if (!row) return 0.0;
      const EndToEndResult* ours = fastest(row->results, family, "custom");
      const EndToEndResult* theirs = fastest(row->results, family, "cudnn");
      return ours && theirs ? theirs->timing->median_us / ours->timing->median_us : 0.0;
    };
    b.e2e_speedup_stream = speedup(stream_row);
    b.e2e_speedup_graph = speedup(graph_row);
    for (const EndToEndRow* row : {graph_row, stream_row}) {
      if (!row || !b.best_cudnn.empty()) continue;
      if (const EndToEndResult* best = fastest(row->results, family, "cudnn")) b.best_cudnn = best->backend;
    }

    // Reconciliation: only meaningful over the whole network.
    std::map<std::string, int> timed_layers;
    std::map<std::string, double> sums;
    std::set<int> indices;
    for (const LayerRow* row : rows) {
      indices.insert(row->index);
      for (const LayerResult& r : row->results)
        if (r.timing && r.timing->median_us > 0.0) {
          ++timed_layers[r.backend];
          sums[r.backend] += r.timing->median_us;
        }
    }
    if (int(indices.size()) == model_layers && model_layers > 0)
      for (const auto& [backend, count] : timed_layers)
        if (count == model_layers) b.sum_of_layers_us[backend] = sums[backend];
    for (const EndToEndRow* row : {stream_row, graph_row}) {
      if (!row) continue;
      for (const EndToEndResult& r : row->results)
        if (r.timing && r.timing->median_us > 0.0)
          (row == stream_row ? b.e2e_stream_us : b.e2e_graph_us)[r.backend] = r.timing->median_us;
    }
    s.batches.push_back(std::move(b));
  }
  return s;
}

}  // namespace mbv2
