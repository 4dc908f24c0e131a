#include "bench/prepare.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "bench/gpu_errors.h"
#include "bench/phase_shared.h"
#include "bench/progress.h"
#include "common/util.h"

namespace mbv2 {

namespace {

std::string batch_does_not_fit(int batch, const std::string& what, const std::exception& e) {
  return "batch " + std::to_string(batch) + " does not fit in GPU memory: " + what + ": " +
         one_line(e.what());
}

}  // namespace

bool harness_runs(Precision p) { return p == Precision::kFP32 || p == Precision::kTF32; }

std::string describe_text(const LayerDescription& d) {
  std::ostringstream s;
  s << (d.kernel.empty() ? "?" : d.kernel);
  if (!d.details.empty()) s << " [" << d.details << "]";
  if (!d.fused_epilogue) s << " (epilogue not fused)";
  if (d.workspace_bytes > 0) {
    if (d.workspace_bytes >= (size_t(1) << 20))
      s << " ws=" << (d.workspace_bytes >> 20) << " MiB";
    else
      s << " ws=" << d.workspace_bytes << " B";
  }
  return one_line(s.str());
}

std::unique_ptr<BatchRun> prepare_batch(BenchContext& ctx, int batch) {
  const ModelSpec& spec = ctx.setup.spec;
  const CliOptions& o = ctx.options;
  auto run = std::make_unique<BatchRun>();
  run->batch = batch;
  const RunConfig config{batch, o.precision};
  const bool per_layer = !o.regimes.empty();
  const bool e2e = !o.modes.empty();

  size_t max_in = 0, max_out = 0, max_res = 0;
  if (per_layer)
    for (int i : o.layer_indices) {
      const Layer& l = spec.layers[size_t(i)];
      max_in = std::max(max_in, size_t(l.input_shape(batch).numel()));
      max_out = std::max(max_out, size_t(l.output_shape(batch).numel()));
      if (l.has_residual()) max_res = std::max(max_res, size_t(l.output_shape(batch).numel()));
    }
  try {
    run->layer_in.allocate(max_in);
    run->layer_res.allocate(max_res);
    if (max_out > 0) run->layer_out.allocate(max_out + kGuardFloats);
  } catch (const std::exception& e) {
    if (is_out_of_memory(e)) throw InputError(batch_does_not_fit(batch, "harness buffers", e));
    throw;
  }

  for (const std::string& name : o.backends) {
    auto br = std::make_unique<BackendRun>();
    br->info = ctx.registry.find(name);
    if (!br->info) throw InputError("unknown backend '" + name + "'");
    br->layers.resize(spec.layers.size());
    for (int i : o.layer_indices) br->layers[size_t(i)].selected = per_layer;

    const auto t0 = std::chrono::steady_clock::now();
    try {
      if (!harness_runs(o.precision))
        throw NotSupportedError(std::string("precision ") + to_string(o.precision) +
                                " is not implemented (the harness runs fp32 and tf32)");
      br->backend = br->info->create();
      br->backend->prepare(spec, ctx.setup.weights, config);
      br->prepared = {Disposition::kPassed, "", std::nullopt};
    } catch (const NotSupportedError& e) {
      br->prepared = {Disposition::kNotSupported, one_line(e.what()), std::nullopt};
    } catch (const std::exception& e) {
      if (is_out_of_memory(e)) throw InputError(batch_does_not_fit(batch, name + " prepare()", e));
      br->prepared = failure_verdict(ctx, name + " prepare()", e);
    }
    br->prepare_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool ok = br->prepared.disposition == Disposition::kPassed;
    progress("b" + std::to_string(batch) + " " + name + ": prepare() " +
             (ok ? "done" : std::string(to_string(br->prepared.disposition)) + ": " + br->prepared.note) +
             " in " + std::to_string(int(br->prepare_s * 1000)) + " ms");

    if (ok && e2e) {
      try {
        br->input.allocate(size_t(spec.input_shape(batch).numel()));
        br->logits.allocate(size_t(batch) * size_t(spec.num_classes));
      } catch (const std::exception& e) {
        if (is_out_of_memory(e)) throw InputError(batch_does_not_fit(batch, name + " input/logits", e));
        throw;
      }
      try {
        br->forward_description = one_line(br->backend->describe_forward());
      } catch (const std::exception& e) {
        br->forward_description = "describe_forward() failed: " + one_line(e.what());
      }
    }
    for (const Layer& l : spec.layers) {
      LayerCase& lc = br->layers[size_t(l.index)];
      if (!ok) {
        lc.verdict = {br->prepared.disposition, br->prepared.note, std::nullopt};
        continue;
      }
      lc.verdict = {Disposition::kNotRun, kPendingNote, std::nullopt};
      try {
        const Support s = br->backend->supports(l, config);
        const LayerDescription d = br->backend->describe(l.index);
        lc.what_ran = describe_text(d);
        if (!s.supported) lc.verdict = {Disposition::kNotSupported, one_line(s.reason), std::nullopt};
        else if (!d.support.supported)
          lc.verdict = {Disposition::kNotSupported, one_line(d.support.reason), std::nullopt};
      } catch (const NotSupportedError& e) {
        lc.verdict = {Disposition::kNotSupported, one_line(e.what()), std::nullopt};
      } catch (const std::exception& e) {
        lc.verdict = failure_verdict(ctx, name + " describe(" + std::to_string(l.index) + ")", e);
      }
    }
    const Verdict e2e_initial =
        ok ? Verdict{Disposition::kNotRun, kPendingNote, std::nullopt}
           : Verdict{br->prepared.disposition, br->prepared.note, std::nullopt};
    br->stream.verdict = e2e_initial;
    br->graph.verdict = e2e_initial;
    run->backends.push_back(std::move(br));
  }
  return run;
}

}  // namespace mbv2
