#include "bench/bench_app.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "bench/builtin_backends.h"
#include "bench/calibration.h"
#include "bench/cpu_affinity.h"
#include "bench/cli_options.h"
#include "bench/git_info.h"
#include "bench/gpu_errors.h"
#include "bench/inference.h"
#include "bench/layer_list.h"
#include "bench/model_setup.h"
#include "bench/prepare.h"
#include "bench/progress.h"
#include "bench/report_assembly.h"
#include "bench/run_state.h"
#include "bench/suite.h"
#include "bench/verification.h"
#include "common/device_info.h"
#include "common/device_memory.h"
#include "common/report.h"
#include "common/util.h"
#include "reports/report_summary.h"
#if defined(MBV2_WITH_CUDNN)
#include "cudnn_ref/cudnn_backend.h"
#endif

#if !defined(MBV2_SOURCE_DIR)
#define MBV2_SOURCE_DIR ""
#endif

namespace mbv2 {

namespace {

constexpr const char* kProgram = "mbv2_bench";

void error_line(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kProgram, one_line(message).c_str());
  std::fflush(stderr);
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

std::vector<std::string> run_notes(const BenchContext& ctx, const DeviceReport& device, int timed_cases,
                                   int untimed_cases, const std::string& fatal, int pinned_cpu) {
  const CliOptions& o = ctx.options;
  const TimingPlan& p = ctx.plan;
  std::vector<std::string> notes;
  if (!fatal.empty()) notes.push_back("RUN STOPPED: " + fatal);
  notes.push_back(pinned_cpu >= 0 ? "timing thread pinned to CPU " + std::to_string(pinned_cpu) +
                                        " (verification before it ran on every core)"
                                  : "timing thread not pinned to a CPU");
  notes.push_back("warm = K back-to-back launches between two CUDA events, divided by K (K per layer "
                  "from a calibration launch so a sample lasts >= " + fixed(p.warm_window_us, 0) +
                  " µs, at most " + std::to_string(p.max_launches) + "); L2 stays hot");
  notes.push_back("cold = L2 flushed before every single-launch sample (cudaMemsetAsync of " +
                  fixed(double(ctx.flusher.buffer_bytes()) / 1048576.0, 0) + " MiB = 2x L2)");
  notes.push_back("every sample (per layer and end to end) holds the stream with a blocking kernel "
                  "while launches are enqueued, so it measures GPU time, not host launch cost");
  notes.push_back("end to end: stream = one forward() per sample, launch by launch; graph = replay "
                  "of a CUDA graph captured from forward(); host_timing = host time to enqueue one "
                  "forward() or graph launch (an eager caller is bound by the larger of the two)");
  notes.push_back("statistics: a repetition is the mean of " +
                  (o.benchmark_min_time_given ? std::string("Google Benchmark's iteration count of") : std::to_string(p.layer_iterations) + " (layers) / " + std::to_string(p.e2e_iterations) + " (end to end)") +
                  " samples; median, min, max and CV over " + std::to_string(p.layer_repetitions) +
                  " (layers) / " + std::to_string(p.e2e_repetitions) + " (end to end) repetitions");
  notes.push_back("reference: FP64-accumulating CPU reference per layer, fed float activations; the "
                  "network check compares with the logits at the end of that chain");
  if (std::any_of(o.batches.begin(), o.batches.end(), [](int b) { return b > 1; }))
    notes.push_back("batches > 1: image 0 is the chosen input, then the other sample photo, then "
                    "seeded random images");
  if (o.precision != Precision::kFP32)
    notes.push_back("% of ceiling uses the FP32 FMA ceiling, not the roof of " +
                    std::string(to_string(o.precision)) + " math");
  if (device.clocks.throttled) notes.push_back("GPU THROTTLED during the run: " + device.clocks.throttle_note);
  if (int(o.layer_indices.size()) != int(ctx.setup.spec.layers.size()))
    notes.push_back("reconciliation needs every layer: " + std::to_string(o.layer_indices.size()) +
                    " of " + std::to_string(ctx.setup.spec.layers.size()) + " selected");
  if (untimed_cases > 0)
    notes.push_back(std::to_string(untimed_cases) + " of " + std::to_string(timed_cases + untimed_cases) +
                    " benchmarks were not selected by --benchmark_filter");
  return notes;
}

int run_benchmarks(const std::string& argv0, const CliOptions& o, const ModelSetup& setup,
                   const BackendRegistry& registry) {
  const GitInfo git = read_git_info(MBV2_SOURCE_DIR);  // before CUDA: popen forks
  initialize_google_benchmark(argv0, o);

  int device = 0;
  MBV2_CUDA_CHECK(cudaSetDevice(device));
  ReportContext extra;
  extra.git = git;
  extra.device = query_device_facts(device);
#if defined(MBV2_WITH_CUDNN)
  extra.device.cudnn = cudnn_version_string();
#endif
  const std::string report_path =
      o.report_path.empty() ? default_report_path(gpu_slug(extra.device.name), o.precision, o.quick)
                            : o.report_path;
  progress(extra.device.name + " (sm " + extra.device.compute_capability + ", " +
           std::to_string(extra.device.sm_count) + " SMs), CUDA " + extra.device.cuda_runtime +
           ", driver " + extra.device.driver + (extra.device.cudnn.empty() ? "" : ", cuDNN " + extra.device.cudnn));

  BenchContext ctx(o, setup, registry);
  // Load the flush and blocking kernels now: loading a module lazily while the blocking
  // kernel spins would have to wait for it.
  ctx.flusher.flush(ctx.stream.get());
  ctx.blocker.block(ctx.stream.get(), ctx.plan.blocker_timeout_s);
  ctx.blocker.release();
  ctx.stream.synchronize();
  extra.device.ceilings = measure_ceilings(ctx.stream.get());
  const ClockReading before = read_clocks_under_load(device, ctx.stream.get());
  progress("ceilings: " + fixed(extra.device.ceilings.bandwidth_gbps, 0) + " GB/s copy, " +
           fixed(extra.device.ceilings.fp32_gflops, 0) + " GFLOP/s FP32; SM clock " +
           std::to_string(before.sm_mhz) + " MHz");

  std::vector<std::unique_ptr<BatchRun>> batches;
  Suite suite(ctx, batches);
  std::string fatal;
  int pinned_cpu = -1;
  try {
    for (int batch : o.batches) {
      std::unique_ptr<BatchRun> run = prepare_batch(ctx, batch);
      BatchRun& ref = *run;
      batches.push_back(std::move(run));
      verify_batch(ctx, ref);
      calibrate_batch(ctx, ref);
    }
    suite.register_benchmarks();
    pinned_cpu = pin_thread_near_gpu(pci_bus_id(device));  // after the multi-threaded verification
    suite.run();
  } catch (const FatalRunError& e) {
    fatal = one_line(e.what());
    error_line(fatal);
  }

  ClockReading after = before;
  if (fatal.empty()) after = read_clocks_under_load(device, ctx.stream.get());
  extra.device.clocks = summarize_clocks(before, after);
  extra.created = utc_now_iso8601();

  int timed = 0, untimed = 0;
  Report report = assemble_report(ctx, batches, suite, extra);
  for (const LayerRow& row : report.layers)
    for (const LayerResult& r : row.results)
      if (r.timing) ++timed;
      else if (r.note.find("--benchmark_filter") != std::string::npos) ++untimed;
  for (const EndToEndRow& row : report.end_to_end)
    for (const EndToEndResult& r : row.results)
      if (r.timing) ++timed;
      else if (r.note.find("--benchmark_filter") != std::string::npos) ++untimed;
  std::vector<std::string> notes = run_notes(ctx, extra.device, timed, untimed, fatal, pinned_cpu);
  report.summary.notes.insert(report.summary.notes.begin(), notes.begin(), notes.end());

  write_report(report, report_path);
  progress("report written to " + report_path);
  const std::string summary = render_summary_markdown(report);
  std::fwrite(summary.data(), 1, summary.size(), stdout);
  std::fflush(stdout);

  if (report.summary.incorrect_count > 0)
    error_line(std::to_string(report.summary.incorrect_count) + " result(s) incorrect (see the summary)");
  if (ctx.run_errors > 0) error_line(std::to_string(ctx.run_errors) + " result(s) failed to run (see the report notes)");
  return (report.summary.incorrect_count > 0 || ctx.run_errors > 0 || !fatal.empty()) ? 1 : 0;
}

}  // namespace

int run_bench_app(int argc, char** argv) {
  const std::string argv0 = argc > 0 && argv[0] ? argv[0] : kProgram;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  try {
    const BackendRegistry registry = builtin_backends();
    const CliOptions o = parse_cli(args, registry.names());
    if (o.help) {
      const std::string text = usage_text(registry.names());
      std::fwrite(text.data(), 1, text.size(), stdout);
      return 0;
    }
    const ModelSpec spec = spec_from_options(o);
    if (o.list) {
      print_layer_list(std::cout, spec, registry, o.batches.front());
      std::cout.flush();
      return 0;
    }
    if (o.benchmark_list_tests) {
      initialize_google_benchmark(argv0, o);
      list_benchmark_names(o, spec);
      return 0;
    }
    const ModelSetup setup = load_model_setup(o);
    std::string why;
    if (!cuda_device_available(&why)) {
      error_line("no CUDA device: " + why);
      return 2;
    }
    if (o.infer) return run_inference(o, setup, registry);
    return run_benchmarks(argv0, o, setup, registry);
  } catch (const InputError& e) {
    error_line(e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    error_line("out of host memory");
    return 2;
  } catch (const FatalRunError& e) {
    error_line(e.what());
    return 1;
  } catch (const std::exception& e) {
    error_line(std::string("error: ") + e.what());
    return 1;
  }
}

}  // namespace mbv2
