#include "bench/suite.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <numeric>

#include "bench/gpu_errors.h"
#include "bench/progress.h"
#include "bench/statistics.h"
#include "common/util.h"

namespace mbv2 {

namespace {

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

double stat_min(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end());
}
double stat_max(const std::vector<double>& v) {
  return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
}

/// The same settings for a benchmark whether it will run or only be listed, so names
/// (which carry "/iterations:N/repeats:N/manual_time") agree.
void configure(benchmark::internal::Benchmark* b, bool is_layer, const TimingPlan& plan,
               const CliOptions& o) {
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
  // --benchmark_min_time, when given, lets Google Benchmark choose the iteration count.
  if (!o.benchmark_min_time_given) b->Iterations(is_layer ? plan.layer_iterations : plan.e2e_iterations);
  // --benchmark_repetitions, when given, applies as Google Benchmark's own flag.
  if (o.benchmark_repetitions == 0) b->Repetitions(is_layer ? plan.layer_repetitions : plan.e2e_repetitions);
  b->ComputeStatistics("min", &stat_min)->ComputeStatistics("max", &stat_max);
}

}  // namespace

std::string layer_benchmark_name(const Layer& layer, const std::string& backend, int batch,
                                 const std::string& regime) {
  char index[16];
  std::snprintf(index, sizeof(index), "%02d", layer.index);
  return "layer/" + std::string(index) + "_" + layer.name + "/" + backend + "/b" +
         std::to_string(batch) + "/" + regime;
}

std::string e2e_benchmark_name(const std::string& backend, int batch, const std::string& mode) {
  return "e2e/" + backend + "/b" + std::to_string(batch) + "/" + mode;
}

void initialize_google_benchmark(const std::string& argv0, const CliOptions& o) {
  // Google Benchmark keeps argv[0] (its report context names the executable): static.
  static std::vector<std::string> storage;
  static std::vector<char*> argv;
  storage.clear();
  storage.push_back(argv0);
  const bool aggregates_set =
      std::any_of(o.benchmark_args.begin(), o.benchmark_args.end(), [](const std::string& a) {
        return a.rfind("--benchmark_display_aggregates_only", 0) == 0 ||
               a.rfind("--benchmark_report_aggregates_only", 0) == 0;
      });
  // Hundreds of benchmarks x repetitions: show one line per statistic, not per repetition.
  if (!aggregates_set) storage.push_back("--benchmark_display_aggregates_only=true");
  for (const std::string& a : o.benchmark_args) storage.push_back(a);
  argv.clear();
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  int argc = int(storage.size());
  benchmark::Initialize(&argc, argv.data());
  if (argc > 1)
    throw InputError("Google Benchmark did not accept '" + std::string(argv[1]) + "'");
}

void list_benchmark_names(const CliOptions& o, const ModelSpec& spec) {
  const TimingPlan plan = timing_plan(o);
  auto nothing = [](benchmark::State& st) {
    for (auto _ : st) {
    }
  };
  for (int batch : o.batches) {
    for (int i : o.layer_indices)
      for (const std::string& backend : o.backends)
        for (const std::string& regime : o.regimes)
          configure(benchmark::RegisterBenchmark(
                        layer_benchmark_name(spec.layers[size_t(i)], backend, batch, regime).c_str(),
                        nothing),
                    true, plan, o);
    for (const std::string& backend : o.backends)
      for (const std::string& mode : o.modes)
        configure(benchmark::RegisterBenchmark(e2e_benchmark_name(backend, batch, mode).c_str(), nothing),
                  false, plan, o);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}

Suite::Suite(BenchContext& ctx, std::vector<std::unique_ptr<BatchRun>>& batches)
    : ctx_(ctx), batches_(batches) {}

void Suite::add(std::unique_ptr<TimedCase> tc) {
  TimedCase* p = tc.get();
  cases_.push_back(std::move(tc));
  configure(benchmark::RegisterBenchmark(p->name.c_str(),
                                         [this, p](benchmark::State& st) { run_case(*p, st); }),
            p->is_layer, ctx_.plan, ctx_.options);
}

void Suite::register_benchmarks() {
  const CliOptions& o = ctx_.options;
  const ModelSpec& spec = ctx_.setup.spec;
  for (auto& run : batches_) {
    for (int i : o.layer_indices)
      for (auto& br : run->backends) {
        const LayerCase& lc = br->layers[size_t(i)];
        if (!lc.selected || !lc.timeable()) continue;
        for (const std::string& regime : o.regimes) {
          auto tc = std::make_unique<TimedCase>();
          tc->name = layer_benchmark_name(spec.layers[size_t(i)], br->info->name, run->batch, regime);
          tc->is_layer = true;
          tc->batch = run.get();
          tc->backend = br.get();
          tc->layer = i;
          tc->cold = regime == "cold";
          tc->launches = tc->cold ? 1 : lc.launches;
          tc->repetitions = ctx_.plan.layer_repetitions;
          add(std::move(tc));
        }
      }
    for (auto& br : run->backends)
      for (const std::string& mode : o.modes) {
        const bool graph = mode == "graph";
        const E2eCase& c = graph ? br->graph : br->stream;
        if (!c.timeable() || (graph && !br->graph_exec.ready())) continue;
        auto tc = std::make_unique<TimedCase>();
        tc->name = e2e_benchmark_name(br->info->name, run->batch, mode);
        tc->is_layer = false;
        tc->batch = run.get();
        tc->backend = br.get();
        tc->graph = graph;
        tc->repetitions = ctx_.plan.e2e_repetitions;
        add(std::move(tc));
      }
  }
}

void Suite::run() {
  progress("timing " + std::to_string(cases_.size()) + " benchmarks (Google Benchmark output below)");
  // stdout is reserved for the markdown summary; Google Benchmark's table goes to stderr.
  std::streambuf* const stdout_buf = std::cout.rdbuf(std::cerr.rdbuf());
  try {
    benchmark::RunSpecifiedBenchmarks();
  } catch (...) {
    std::cout.rdbuf(stdout_buf);
    throw;
  }
  std::cout.flush();
  std::cout.rdbuf(stdout_buf);
  benchmark::Shutdown();
  if (!fatal_error_.empty()) throw FatalRunError(fatal_error_);
}

void Suite::run_case(TimedCase& tc, benchmark::State& st) {
  auto fail = [&](Disposition d, const std::string& note) {
    tc.failed = true;
    tc.failure = d;
    tc.failure_note = note;
    st.SkipWithError(note.c_str());
  };
  if (!fatal_error_.empty()) {
    fail(Disposition::kNotRun, "skipped: " + fatal_error_);
    return;
  }
  if (tc.failed) {
    st.SkipWithError(tc.failure_note.c_str());
    return;
  }

  Backend* backend = tc.backend->backend.get();
  SampleSetup setup;
  setup.stream = ctx_.stream.get();
  setup.launches = tc.launches;
  setup.blocker_timeout_s = ctx_.plan.blocker_timeout_s;
  // End to end too: unblocked, a host slower than the GPU (batch-1 cuDNN forward()) made
  // the events time the CPU. The host's share is kept apart, in host_calls.
  setup.blocker = &ctx_.blocker;
  std::function<void(cudaStream_t)> launch;
  if (tc.is_layer) {
    if (tc.cold) setup.flusher = &ctx_.flusher;
    const bool residual = ctx_.setup.spec.layers[size_t(tc.layer)].has_residual();
    const float* in = tc.batch->layer_in.get();
    const float* res = residual ? tc.batch->layer_res.get() : nullptr;
    float* out = tc.batch->layer_out.get();
    const int i = tc.layer;
    launch = [=](cudaStream_t s) { backend->run_layer(i, in, res, out, s); };
  } else if (tc.graph) {
    const CudaGraph* g = &tc.backend->graph_exec;
    launch = [g](cudaStream_t s) { g->launch(s); };
  } else {
    const float* in = tc.backend->input.get();
    float* logits = tc.backend->logits.get();
    launch = [=](cudaStream_t s) { backend->forward(in, logits, s); };
  }

  auto record_failure = [&](const std::exception& e, bool not_supported) {
    if (not_supported) {
      fail(Disposition::kNotSupported, one_line(e.what()));
      return;
    }
    ++ctx_.run_errors;
    fail(Disposition::kNotRun, "timing failed: " + one_line(e.what()));
    std::string why;
    if (cuda_context_broken(&why)) fatal_error_ = tc.name + " left the CUDA context unusable: " + why;
  };

  if (tc.unblocked) setup.blocker = nullptr;
  // One sample; a blocker timeout (lazy module loading, a launch that waits on the device)
  // switches this case to unblocked sampling for good and takes the sample again.
  auto sample = [&]() {
    try {
      return time_sample(setup, launch, start_, stop_);
    } catch (const BlockerTimeout&) {
      if (!setup.blocker) throw;
      setup.blocker = nullptr;
      tc.unblocked = true;
      return time_sample(setup, launch, start_, stop_);
    }
  };

  std::vector<double> samples, host_samples;
  samples.reserve(size_t(std::max<benchmark::IterationCount>(st.max_iterations, 1)));
  host_samples.reserve(samples.capacity());
  try {
    const int warmup = tc.calls.empty() ? ctx_.plan.warmup_samples : 1;
    for (int w = 0; w < warmup; ++w) sample();
  } catch (const NotSupportedError& e) {
    record_failure(e, true);
    return;
  } catch (const std::exception& e) {
    record_failure(e, false);
    return;
  }
  for (auto _ : st) {
    SampleTime t;
    try {
      t = sample();
    } catch (const NotSupportedError& e) {
      record_failure(e, true);
      break;
    } catch (const std::exception& e) {
      record_failure(e, false);
      break;
    }
    st.SetIterationTime(t.gpu_s);
    samples.push_back(t.gpu_s);
    host_samples.push_back(t.host_s);
  }
  if (tc.failed) return;
  tc.calls.push_back(samples);
  tc.host_calls.push_back(host_samples);

  const double mean = mean_of(samples);
  st.counters["K"] = benchmark::Counter(double(tc.launches));
  if (mean > 0.0) {
    if (tc.is_layer) {
      const Layer& l = ctx_.setup.spec.layers[size_t(tc.layer)];
      st.counters["GFLOP/s"] = benchmark::Counter(double(l.flops(tc.batch->batch)) / mean * 1e-9);
      st.counters["GB/s"] = benchmark::Counter(double(l.min_bytes(tc.batch->batch)) / mean * 1e-9);
    } else {
      st.counters["img/s"] = benchmark::Counter(double(tc.batch->batch) / mean);
      st.counters["host_us"] = benchmark::Counter(mean_of(host_samples) * 1e6);
    }
  }
}

const TimedCase* Suite::find_layer(const BatchRun* batch, const BackendRun* backend, int layer,
                                   bool cold) const {
  for (const auto& tc : cases_)
    if (tc->is_layer && tc->batch == batch && tc->backend == backend && tc->layer == layer &&
        tc->cold == cold)
      return tc.get();
  return nullptr;
}

const TimedCase* Suite::find_e2e(const BatchRun* batch, const BackendRun* backend, bool graph) const {
  for (const auto& tc : cases_)
    if (!tc->is_layer && tc->batch == batch && tc->backend == backend && tc->graph == graph)
      return tc.get();
  return nullptr;
}

namespace {
std::optional<Timing> repetition_timing(const TimedCase& tc,
                                        const std::vector<std::vector<double>>& calls) {
  if (tc.failed || calls.empty()) return std::nullopt;
  const size_t count = std::min(calls.size(), size_t(std::max(tc.repetitions, 1)));
  std::vector<double> means;
  for (size_t c = calls.size() - count; c < calls.size(); ++c)
    if (!calls[c].empty()) means.push_back(mean_of(calls[c]));
  if (means.empty()) return std::nullopt;
  return summarize_repetitions(means);
}
}  // namespace

std::optional<Timing> case_timing(const TimedCase& tc) { return repetition_timing(tc, tc.calls); }

std::optional<Timing> case_host_timing(const TimedCase& tc) {
  return repetition_timing(tc, tc.host_calls);
}

}  // namespace mbv2
