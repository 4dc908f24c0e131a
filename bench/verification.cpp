#include "bench/verification.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <optional>
#include <set>

#include "bench/gpu_errors.h"
#include "bench/phase_shared.h"
#include "bench/progress.h"
#include "common/metrics.h"
#include "common/parallel.h"
#include "common/reference.h"
#include "common/util.h"

namespace mbv2 {

namespace {

constexpr uint32_t kNanBits = 0x7fc00000u;  // what fill_nan writes
constexpr int kTop5Images = 4;              // images whose top-5 the report lists

// ---------------------------------------------------------------------------------------
// Host helpers.

/// to_layout, parallel over rows: batch-256 activations reach 300 M floats.
HostTensor convert_layout(const HostTensor& t, Layout layout) {
  HostTensor out(t.shape, layout);
  const Shape4 s = t.shape;
  parallel_for(int64_t(s.n) * s.h, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int n = int(r / s.h), h = int(r % s.h);
      for (int c = 0; c < s.c; ++c)
        for (int w = 0; w < s.w; ++w) out.at(n, c, h, w) = t.at(n, c, h, w);
    }
  });
  return out;
}

/// One activation in whichever layouts the backends asked for.
class LayoutCache {
 public:
  void put(HostTensor t) { slot(t.layout) = std::move(t); }
  bool empty() const { return !nchw_ && !nhwc_; }
  const HostTensor& any() const {
    if (nhwc_) return *nhwc_;
    if (nchw_) return *nchw_;
    throw std::logic_error("LayoutCache: activation already released");
  }
  const HostTensor& get(Layout layout) {
    std::optional<HostTensor>& s = slot(layout);
    if (!s) s = convert_layout(any(), layout);
    return *s;
  }
  void clear() {
    nchw_.reset();
    nhwc_.reset();
  }

 private:
  std::optional<HostTensor>& slot(Layout l) { return l == Layout::kNCHW ? nchw_ : nhwc_; }
  std::optional<HostTensor> nchw_, nhwc_;
};

AgreementReport to_report(const Agreement& a) {
  AgreementReport r;
  r.max_abs = a.max_abs;
  r.max_rel = a.max_rel;
  r.rel_l2 = a.rel_l2;
  r.nan_count = a.nan_count;
  r.inf_count = a.inf_count;
  r.tolerance_rel_l2 = a.tolerance.rel_l2;
  r.tolerance_max_abs_frac = a.tolerance.max_abs_frac;
  r.pass = a.pass;
  return r;
}

// ---------------------------------------------------------------------------------------
// Stream-ordered copies: the harness stream does not synchronise with the legacy default
// stream, so plain cudaMemcpy from pageable memory could still be in flight when a kernel
// on our stream reads the buffer.

void upload(float* dst, const HostTensor& t, cudaStream_t stream) {
  MBV2_CUDA_CHECK(cudaMemcpyAsync(dst, t.data.data(), t.data.size() * sizeof(float),
                                  cudaMemcpyHostToDevice, stream));
}

void download(float* dst, const float* src, size_t count, cudaStream_t stream) {
  MBV2_CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDeviceToHost, stream));
  MBV2_CUDA_CHECK(cudaStreamSynchronize(stream));
}

size_t guard_floats(const BatchRun& run, size_t out_count) {
  return std::min(kGuardFloats, run.layer_out.size() - out_count);
}

// ---------------------------------------------------------------------------------------
// Per layer.

/// What one backend produced for one layer.
struct LayerOutput {
  BackendRun* br = nullptr;
  HostTensor out;
  size_t guard_changed = 0;
  bool ran = false;
};

void check_layer(BenchContext& ctx, BatchRun& run, int i, const std::vector<BackendRun*>& backends,
                 LayoutCache& input, LayoutCache* residual, LayoutCache& reference) {
  const Layer& layer = ctx.setup.spec.layers[size_t(i)];
  const Shape4 os = layer.output_shape(run.batch);
  const size_t out_count = size_t(os.numel());
  cudaStream_t stream = ctx.stream.get();

  std::vector<LayerOutput> outputs;
  for (BackendRun* br : backends) {
    LayerCase& lc = br->layers[size_t(i)];
    const Layout layout = br->backend->layout();
    LayerOutput o;
    o.br = br;
    try {
      upload(run.layer_in.get(), input.get(layout), stream);
      if (residual) upload(run.layer_res.get(), residual->get(layout), stream);
      // Poison the whole buffer: unwritten outputs and writes past the end both show.
      fill_nan(run.layer_out.get(), run.layer_out.size(), stream);
      br->backend->run_layer(i, run.layer_in.get(), residual ? run.layer_res.get() : nullptr,
                             run.layer_out.get(), stream);
      o.out = HostTensor(os, layout);
      download(o.out.data.data(), run.layer_out.get(), out_count, stream);
      const size_t guard = guard_floats(run, out_count);
      std::vector<uint32_t> tail(guard);
      download(reinterpret_cast<float*>(tail.data()), run.layer_out.get() + out_count, guard, stream);
      o.guard_changed = size_t(std::count_if(tail.begin(), tail.end(),
                                             [](uint32_t b) { return b != kNanBits; }));
      o.ran = true;
    } catch (const NotSupportedError& e) {
      lc.verdict = {Disposition::kNotSupported, one_line(e.what()), std::nullopt};
    } catch (const std::exception& e) {
      lc.verdict = failure_verdict(ctx, br->info->name + " run_layer(" + std::to_string(i) + ")", e);
    }
    if (o.ran) outputs.push_back(std::move(o));
  }
  if (outputs.empty()) return;

  // Reference in every layout needed (converted here, single-threaded cache access), then
  // the comparisons in parallel: each is a pass over up to 300 M floats.
  std::vector<const HostTensor*> refs;
  for (const LayerOutput& o : outputs) refs.push_back(&reference.get(o.out.layout));
  const Tolerance tol = layer_tolerance(ctx.options.precision);
  std::vector<std::future<Agreement>> agreements;
  for (size_t k = 0; k < outputs.size(); ++k) {
    const HostTensor* out = &outputs[k].out;
    const HostTensor* ref = refs[k];
    agreements.push_back(std::async(std::launch::async, [out, ref, tol] {
      return compare(out->data.data(), ref->data.data(), out->data.size(), tol);
    }));
  }
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Agreement a = agreements[k].get();
    LayerCase& lc = outputs[k].br->layers[size_t(i)];
    lc.verdict.agreement = to_report(a);
    if (outputs[k].guard_changed > 0) {
      lc.verdict.disposition = Disposition::kIncorrect;
      lc.verdict.note = "wrote past the end of its output (" +
                        std::to_string(outputs[k].guard_changed) + " of the next " +
                        std::to_string(guard_floats(run, out_count)) + " floats changed)";
    } else if (!a.pass) {
      lc.verdict.disposition = Disposition::kIncorrect;
      lc.verdict.note = a.reason;
    } else {
      lc.verdict.disposition = Disposition::kPassed;
      lc.verdict.note.clear();
    }
    if (lc.verdict.disposition == Disposition::kIncorrect)
      progress("b" + std::to_string(run.batch) + " " + outputs[k].br->info->name + " layer " +
               std::to_string(i) + " (" + layer.name + ") INCORRECT: " + lc.verdict.note);
  }
}

// ---------------------------------------------------------------------------------------
// End to end.

/// Compares logits with the reference; fills agreement, top-5 and the disposition.
void judge_logits(E2eCase& c, const std::vector<float>& out, const HostTensor& ref, int batch,
                  int classes, Precision precision) {
  const Agreement a = compare(out.data(), ref.data.data(), out.size(), network_tolerance(precision));
  c.verdict.agreement = to_report(a);
  const int k = std::min(5, classes);
  c.top5.clear();
  c.top5_match = true;
  for (int n = 0; n < batch; ++n) {
    const std::vector<int> got = top_k(out.data() + size_t(n) * classes, classes, k);
    const std::vector<int> want = top_k(ref.data.data() + size_t(n) * classes, classes, k);
    // The same classes; their order may differ where two logits nearly tie.
    if (std::set<int>(got.begin(), got.end()) != std::set<int>(want.begin(), want.end()))
      c.top5_match = false;
    if (n < kTop5Images) c.top5.push_back(got);
  }
  c.verdict.disposition = a.pass ? Disposition::kPassed : Disposition::kIncorrect;
  c.verdict.note = a.pass ? "" : a.reason;
}

void check_end_to_end(BenchContext& ctx, BatchRun& run, BackendRun& br, LayoutCache& input,
                      const HostTensor& ref_logits) {
  const ModelSpec& spec = ctx.setup.spec;
  const int classes = spec.num_classes;
  const size_t logit_count = size_t(run.batch) * size_t(classes);
  cudaStream_t stream = ctx.stream.get();
  const bool want_graph =
      std::find(ctx.options.modes.begin(), ctx.options.modes.end(), "graph") != ctx.options.modes.end();
  std::vector<float> out(logit_count);

  try {
    upload(br.input.get(), input.get(br.backend->layout()), stream);
    fill_nan(br.logits.get(), br.logits.size(), stream);
    br.backend->forward(br.input.get(), br.logits.get(), stream);
    download(out.data(), br.logits.get(), logit_count, stream);
    judge_logits(br.stream, out, ref_logits, run.batch, classes, ctx.options.precision);
  } catch (const NotSupportedError& e) {
    br.stream.verdict = {Disposition::kNotSupported, one_line(e.what()), std::nullopt};
    br.graph.verdict = br.stream.verdict;
    return;
  } catch (const std::exception& e) {
    br.stream.verdict = failure_verdict(ctx, br.info->name + " forward()", e);
    br.graph.verdict = {Disposition::kNotRun, "forward() failed", std::nullopt};
    return;
  }
  if (br.stream.verdict.disposition == Disposition::kIncorrect)
    progress("b" + std::to_string(run.batch) + " " + br.info->name +
             " end to end INCORRECT: " + br.stream.verdict.note);
  if (!want_graph) return;

  try {
    br.graph_exec.capture(stream, [&](cudaStream_t s) {
      br.backend->forward(br.input.get(), br.logits.get(), s);
    });
  } catch (const NotSupportedError& e) {
    br.graph.verdict = {Disposition::kNotSupported, one_line(e.what()), std::nullopt};
    return;
  } catch (const std::exception& e) {
    cudaGetLastError();
    br.graph.verdict = failure_verdict(ctx, br.info->name + " CUDA graph capture of forward()", e);
    return;
  }
  try {
    fill_nan(br.logits.get(), br.logits.size(), stream);
    br.graph_exec.launch(stream);
    std::fill(out.begin(), out.end(), 0.0f);
    download(out.data(), br.logits.get(), logit_count, stream);
    judge_logits(br.graph, out, ref_logits, run.batch, classes, ctx.options.precision);
  } catch (const std::exception& e) {
    br.graph.verdict = failure_verdict(ctx, br.info->name + " CUDA graph replay", e);
    return;
  }
  if (br.graph.verdict.disposition == Disposition::kIncorrect)
    progress("b" + std::to_string(run.batch) + " " + br.info->name +
             " graph replay INCORRECT: " + br.graph.verdict.note);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Verify.

void verify_batch(BenchContext& ctx, BatchRun& run) {
  const ModelSpec& spec = ctx.setup.spec;
  const CliOptions& o = ctx.options;
  const int n_layers = int(spec.layers.size());
  const int batch = run.batch;

  std::vector<BackendRun*> ready;
  for (auto& br : run.backends)
    if (br->prepared.disposition == Disposition::kPassed) ready.push_back(br.get());

  std::vector<std::vector<BackendRun*>> to_check(static_cast<size_t>(n_layers));
  int last_needed = -1;
  for (BackendRun* br : ready)
    for (int i = 0; i < n_layers; ++i) {
      const LayerCase& lc = br->layers[size_t(i)];
      if (lc.selected && lc.verdict.disposition == Disposition::kNotRun && lc.verdict.note == kPendingNote) {
        to_check[size_t(i)].push_back(br);
        last_needed = std::max(last_needed, i);
      }
    }
  const bool e2e = !o.modes.empty() && !ready.empty();
  if (e2e) last_needed = n_layers - 1;

  if (last_needed >= 0) {
    progress("b" + std::to_string(batch) + ": verifying against the FP64 CPU reference (" +
             std::to_string(last_needed + 1) + " layers, " + std::to_string(ready.size()) +
             " backends)");
    LayoutCache net_input;
    net_input.put(build_batch_input(ctx.setup, batch));

    // Last layer that reads each activation (as input or residual).
    std::vector<int> last_use(static_cast<size_t>(n_layers), -1);
    for (int i = 0; i <= last_needed; ++i) {
      const Layer& l = spec.layers[size_t(i)];
      if (l.input_from >= 0) last_use[size_t(l.input_from)] = std::max(last_use[size_t(l.input_from)], i);
      if (l.residual_from >= 0)
        last_use[size_t(l.residual_from)] = std::max(last_use[size_t(l.residual_from)], i);
    }
    if (e2e) last_use[size_t(n_layers - 1)] = n_layers;  // the logits stay for the e2e check

    std::vector<LayoutCache> acts(static_cast<size_t>(n_layers));
    for (int i = 0; i <= last_needed; ++i) {
      const Layer& l = spec.layers[size_t(i)];
      LayoutCache& in = l.input_from < 0 ? net_input : acts[size_t(l.input_from)];
      LayoutCache* res = l.has_residual() ? &acts[size_t(l.residual_from)] : nullptr;
      acts[size_t(i)].put(reference_layer(l, ctx.setup.weights.layers[size_t(i)], in.any(),
                                          res ? &res->any() : nullptr, Layout::kNHWC));
      if (!to_check[size_t(i)].empty()) check_layer(ctx, run, i, to_check[size_t(i)], in, res, acts[size_t(i)]);
      if (batch >= 32 && (i + 1) % 10 == 0 && i < last_needed)
        progress("b" + std::to_string(batch) + ": " + std::to_string(i + 1) + " of " +
                 std::to_string(last_needed + 1) + " layers verified");
      for (int j = 0; j < i; ++j)
        if (last_use[size_t(j)] == i) acts[size_t(j)].clear();
      if (last_use[size_t(i)] <= i && i != last_needed) acts[size_t(i)].clear();
    }
    if (e2e) {
      const HostTensor& logits = acts[size_t(n_layers - 1)].any();
      for (BackendRun* br : ready) check_end_to_end(ctx, run, *br, net_input, logits);
    }
  }

  // Anything still pending was not asked for (not selected, or its mode is off).
  int passed = 0, incorrect = 0, other = 0;
  for (auto& br : run.backends) {
    for (LayerCase& lc : br->layers) {
      if (lc.verdict.disposition == Disposition::kNotRun && lc.verdict.note == kPendingNote)
        lc.verdict.note = "not selected";
      if (!lc.selected) continue;
      if (lc.verdict.disposition == Disposition::kPassed) ++passed;
      else if (lc.verdict.disposition == Disposition::kIncorrect) ++incorrect;
      else ++other;
    }
    for (E2eCase* c : {&br->stream, &br->graph})
      if (c->verdict.disposition == Disposition::kNotRun && c->verdict.note == kPendingNote)
        c->verdict.note = "not selected";
  }
  progress("b" + std::to_string(batch) + ": per-layer checks: " + std::to_string(passed) +
           " passed, " + std::to_string(incorrect) + " incorrect, " + std::to_string(other) +
           " not run or not supported");
}

}  // namespace mbv2
