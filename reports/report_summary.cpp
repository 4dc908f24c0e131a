#include "reports/report_summary.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <tuple>

#include "reports/markdown.h"
#include "reports/report_query.h"

namespace mbv2 {

namespace {

namespace md = markdown;
using md::Align;

std::string ints(const std::vector<int>& v) {
  std::vector<std::string> parts;
  for (int x : v) parts.push_back(std::to_string(x));
  return parts.empty() ? "none" : md::join(parts, ", ");
}

/// 1 → "1.0", 0.75 → "0.75": the way ModelSpec::str() writes a width multiplier.
std::string width_text(double w) {
  std::ostringstream s;
  s << w;
  const std::string t = s.str();
  return t.find_first_of(".e") == std::string::npos ? t + ".0" : t;
}

std::string or_unknown(const std::string& s) { return s.empty() ? "unknown" : s; }

std::string disposition_text(Disposition d) {
  switch (d) {
    case Disposition::kPassed: return "passed";
    case Disposition::kIncorrect: return "**incorrect** ✗";
    case Disposition::kNotSupported: return "not supported";
    case Disposition::kNotRun: return "not run";
  }
  return "?";
}

/// Speedup of ours over a baseline time, marked as a win or a loss.
std::string speedup_cell(double baseline_us, double ours_us) {
  const double s = baseline_us / ours_us;
  return md::format_ratio(s) + (s > 1.0 ? " ✓" : " ✗");
}

std::string agreement_cell(const LayerResult* r) {
  if (!r || !r->agreement) return md::dash();
  const AgreementReport& a = *r->agreement;
  const bool bad = r->disposition == Disposition::kIncorrect || !a.pass;
  std::string cell = md::format_sci(a.rel_l2);
  if (!bad) return cell + " ✓";
  cell = "**" + cell + " ✗**";
  if (a.tolerance_rel_l2 > 0.0) cell += " (tol " + md::format_sci(a.tolerance_rel_l2) + ")";
  if (a.nan_count > 0) cell += " " + std::to_string(a.nan_count) + " NaN";
  if (a.inf_count > 0) cell += " " + std::to_string(a.inf_count) + " Inf";
  return cell;
}

std::string header(const Report& r) {
  const DeviceReport& d = r.device;
  const RunConfigReport& c = r.config;
  std::ostringstream s;
  s << "# mbv2-bench report: " << or_unknown(d.name) << " · " << or_unknown(c.precision) << "\n\n";
  s << "- **Device**: " << or_unknown(d.name) << " — sm " << or_unknown(d.compute_capability)
    << ", " << d.sm_count << " SMs, " << md::format_fixed(d.l2_bytes / 1048576.0, 1) << " MiB L2, "
    << md::format_fixed(d.memory_bytes / 1073741824.0, 1) << " GiB; driver " << or_unknown(d.driver)
    << ", CUDA " << or_unknown(d.cuda_runtime) << ", cuDNN "
    << (d.cudnn.empty() ? "not built" : d.cudnn) << "\n";
  const Clocks& k = d.clocks;
  s << "- **Clocks**: SM " << k.sm_mhz_before << " → " << k.sm_mhz_after << " MHz (max "
    << k.sm_mhz_max << "), memory " << k.mem_mhz << " MHz — "
    << (k.throttled
            ? "**THROTTLED**" + (k.throttle_note.empty() ? "" : " (" + k.throttle_note + ")") +
                  ": times may be inflated"
            : std::string("not throttled"))
    << "\n";
  s << "- **Measured ceilings**: " << md::format_fixed(d.ceilings.bandwidth_gbps, 0)
    << " GB/s copy bandwidth · " << md::format_fixed(d.ceilings.fp32_gflops, 0)
    << " GFLOP/s FP32\n";
  s << "- **Run**: " << c.model << " w" << width_text(c.width_mult) << " r" << c.resolution << " c"
    << c.num_classes << " · " << or_unknown(c.precision) << " · batches " << ints(c.batches)
    << " · backends " << (c.backends.empty() ? "none" : md::join(c.backends, ", ")) << "\n";
  s << "- **Weights**: " << or_unknown(c.weights.kind);
  if (!c.weights.path.empty()) s << " `" << c.weights.path << "`";
  if (!c.weights.hash.empty()) s << " (hash " << c.weights.hash << ")";
  if (c.weights.kind == "synthetic") s << " (seed " << c.weights.seed << ")";
  s << (c.weights.bn_folded_at_load ? ", BatchNorm folded at load" : "") << " · **Input**: "
    << or_unknown(c.input.kind);
  if (!c.input.path.empty()) s << " `" << c.input.path << "`";
  if (c.input.kind == "random") s << " (seed " << c.input.seed << ")";
  s << "\n";
  const TimingConfig& t = c.timing;
  s << "- **Timing**: median of " << t.repetitions << " repetitions, warm-up " << t.warmup
    << ", " << t.launches_per_sample << " launches per warm sample"
    << (t.min_time_s > 0.0 ? ", min time " + md::format_fixed(t.min_time_s, 2) + " s" : "")
    << "; regimes " << (t.regimes.empty() ? "none" : md::join(t.regimes, ", ")) << "; modes "
    << (t.modes.empty() ? "none" : md::join(t.modes, ", ")) << (t.quick ? " · **quick**" : "")
    << "\n";
  s << "- **Git**: " << or_unknown(r.git.sha) << (r.git.dirty ? " (dirty)" : "") << " · created "
    << or_unknown(r.created) << "\n";
  s << "- **Correctness**: "
    << (r.summary.all_correct && r.summary.incorrect_count == 0
            ? std::string("every result that ran passed ✓")
            : "**" + std::to_string(r.summary.incorrect_count) + " incorrect** ✗ (listed below)")
    << "\n";
  return s.str();
}

std::string layer_table(const std::vector<const LayerRow*>& rows) {
  md::Table table({{"#", Align::kRight},
                   {"layer", Align::kLeft},
                   {"op", Align::kLeft},
                   {"shape", Align::kLeft},
                   {"custom µs", Align::kRight},
                   {"best cuDNN µs", Align::kRight},
                   {"speedup", Align::kRight},
                   {"% of ceiling", Align::kRight},
                   {"agreement (rel-L2)", Align::kLeft}});
  int wins = 0, compared = 0;
  for (const LayerRow* row : rows) {
    const LayerResult* ours = find_result(*row, kCustomBackend);
    const LayerResult* best = best_cudnn(*row);
    const bool ours_timed = ours && counts_as_timed(ours->disposition, ours->timing);
    std::string ours_cell = !ours ? "absent"
                            : ours_timed ? md::format_us(ours->timing->median_us)
                                         : disposition_text(ours->disposition);
    std::string best_cell = best ? md::format_us(best->timing->median_us) + " (" +
                                       cudnn_variant(best->backend) + ")"
                                 : md::dash();
    std::string speedup = md::dash();
    if (ours_timed && best) {
      ++compared;
      if (ours->timing->median_us < best->timing->median_us) ++wins;
      speedup = speedup_cell(best->timing->median_us, ours->timing->median_us);
    }
    table.add_row({std::to_string(row->index), row->name, row->role.empty() ? row->kind : row->role,
                   shape_hwc(row->input_shape) + "→" + shape_hwc(row->output_shape), ours_cell,
                   best_cell, speedup,
                   ours_timed ? md::format_percent(ours->pct_of_ceiling) : md::dash(),
                   agreement_cell(ours)});
  }
  std::string out = table.str();
  out += "\nCustom faster than the best cuDNN variant on **" + std::to_string(wins) + " of " +
         std::to_string(compared) + "** layers compared";
  const int skipped = static_cast<int>(rows.size()) - compared;
  if (skipped > 0)
    out += " (" + std::to_string(skipped) +
           " not compared: custom or every cuDNN variant did not pass)";
  return out + ".\n";
}

std::string e2e_table(const Report& r) {
  md::Table table({{"batch", Align::kRight},
                   {"mode", Align::kLeft},
                   {"backend", Align::kLeft},
                   {"µs", Align::kRight},
                   {"CV", Align::kRight},
                   {"host µs", Align::kRight},
                   {"images/s", Align::kRight},
                   {"vs best cuDNN", Align::kRight},
                   {"top-5", Align::kLeft},
                   {"logits rel-L2", Align::kLeft}});
  for (int batch : report_batches(r))
    for (const std::string& mode : e2e_modes(r))
      for (const EndToEndRow& row : r.end_to_end) {
        if (row.batch != batch || row.mode != mode) continue;
        const EndToEndResult* best = best_cudnn(row);
        for (const EndToEndResult& res : row.results) {
          const bool timed = counts_as_timed(res.disposition, res.timing);
          std::string vs = md::dash();
          if (timed && best) {
            if (&res == best) vs = "best";
            else if (res.backend == kCustomBackend)
              vs = speedup_cell(best->timing->median_us, res.timing->median_us);
            else vs = md::format_ratio(best->timing->median_us / res.timing->median_us);
          }
          std::string top5 = md::dash();
          if (res.disposition == Disposition::kPassed || res.disposition == Disposition::kIncorrect)
            top5 = res.top5_match ? "match ✓" : "**differs** ✗";
          std::string agree = md::dash();
          if (res.agreement)
            agree = md::format_sci(res.agreement->rel_l2) + (res.agreement->pass ? " ✓" : " ✗");
          // The host's enqueue time per forward: above the GPU time, an eager caller waits on it.
          const std::string host = timed && res.host_timing
                                       ? md::format_us(res.host_timing->median_us)
                                       : std::string(md::dash());
          table.add_row({std::to_string(batch), mode, res.backend,
                         timed ? md::format_us(res.timing->median_us)
                               : disposition_text(res.disposition),
                         timed ? md::format_percent(res.timing->cv * 100.0) : md::dash(), host,
                         timed ? md::format_fixed(res.images_per_s, 0) : md::dash(), vs, top5,
                         agree});
        }
      }
  return table.empty() ? "No end-to-end results.\n" : table.str();
}

std::string wins_table(const Report& r) {
  md::Table table({{"batch", Align::kRight},
                   {"regime", Align::kLeft},
                   {"layers custom faster", Align::kRight},
                   {"best cuDNN (e2e)", Align::kLeft},
                   {"e2e speedup stream", Align::kRight},
                   {"e2e speedup graph", Align::kRight}});
  auto e2e_cell = [](double s) {
    return s > 0.0 ? md::format_ratio(s) + (s > 1.0 ? " ✓" : " ✗") : std::string(md::dash());
  };
  for (const BatchSummary& b : r.summary.batches)
    table.add_row({std::to_string(b.batch), b.regime,
                   std::to_string(b.layers_custom_faster) + " / " + std::to_string(b.layers_total),
                   b.best_cudnn.empty() ? md::dash() : b.best_cudnn,
                   e2e_cell(b.e2e_speedup_stream), e2e_cell(b.e2e_speedup_graph)});
  return table.empty() ? "No summary in this report.\n" : table.str();
}

std::string reconciliation_table(const Report& r) {
  md::Table table({{"batch", Align::kRight},
                   {"backend", Align::kLeft},
                   {"sum of layers µs", Align::kRight},
                   {"e2e stream µs", Align::kRight},
                   {"stream ÷ sum", Align::kRight},
                   {"e2e graph µs", Align::kRight},
                   {"graph ÷ sum", Align::kRight}});
  auto get = [](const std::map<std::string, double>& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? std::nan("") : it->second;
  };
  auto ratio = [](double num, double den) {
    return num > 0.0 && den > 0.0 ? md::format_fixed(num / den, 2) : std::string(md::dash());
  };
  for (const BatchSummary& b : r.summary.batches) {
    std::vector<std::string> backends = r.config.backends;
    for (const auto* m : {&b.sum_of_layers_us, &b.e2e_stream_us, &b.e2e_graph_us})
      for (const auto& [name, value] : *m)
        if (std::find(backends.begin(), backends.end(), name) == backends.end())
          backends.push_back(name);
    for (const std::string& be : backends) {
      const double sum = get(b.sum_of_layers_us, be);
      const double stream = get(b.e2e_stream_us, be);
      const double graph = get(b.e2e_graph_us, be);
      if (std::isnan(sum) && std::isnan(stream) && std::isnan(graph)) continue;
      table.add_row({std::to_string(b.batch), be, md::format_us(sum), md::format_us(stream),
                     ratio(stream, sum), md::format_us(graph), ratio(graph, sum)});
    }
  }
  return table.empty() ? "No reconciliation in this report.\n" : table.str();
}

/// Results that did not pass, grouped by (backend, disposition, note) so a variant that
/// supports nothing takes one line, not hundreds. Incorrect ones come first.
std::string problems(const Report& r) {
  using Key = std::tuple<int, std::string, std::string, std::string>;
  std::map<Key, std::vector<std::string>> groups;
  auto add = [&groups](Disposition d, const std::string& backend, const std::string& note,
                       std::string where) {
    if (d == Disposition::kPassed) return;
    const int rank = d == Disposition::kIncorrect ? 0 : 1;
    groups[Key{rank, backend, to_string(d), note}].push_back(std::move(where));
  };
  for (const LayerRow& row : r.layers)
    for (const LayerResult& res : row.results)
      add(res.disposition, res.backend, res.note,
          "layer " + std::to_string(row.index) + " b" + std::to_string(row.batch) + " " +
              row.regime);
  for (const EndToEndRow& row : r.end_to_end)
    for (const EndToEndResult& res : row.results)
      add(res.disposition, res.backend, res.note,
          "end to end b" + std::to_string(row.batch) + " " + row.mode);
  if (groups.empty()) return "";
  std::string out = "\n## Results that did not pass\n\n";
  for (const auto& [key, where] : groups) {
    const auto& [rank, backend, disposition, note] = key;
    constexpr size_t kShown = 6;
    std::vector<std::string> first(where.begin(), where.begin() + std::min(where.size(), kShown));
    out += "- " + backend + " " + (rank == 0 ? "**" + disposition + "** ✗" : disposition) + " on " +
           std::to_string(where.size()) + " result" + (where.size() == 1 ? "" : "s") + " (" +
           md::join(first, ", ") + (where.size() > kShown ? ", …" : "") + ")" +
           (note.empty() ? "" : ": " + md::escape_cell(note)) + "\n";
  }
  return out;
}

}  // namespace

std::string render_summary_markdown(const Report& report) {
  std::string out = header(report);
  for (int batch : report_batches(report))
    for (const std::string& regime : layer_regimes(report)) {
      std::vector<const LayerRow*> rows;
      for (const LayerRow& row : report.layers)
        if (row.batch == batch && row.regime == regime) rows.push_back(&row);
      if (rows.empty()) continue;
      std::stable_sort(rows.begin(), rows.end(),
                       [](const LayerRow* a, const LayerRow* b) { return a->index < b->index; });
      out += "\n## Batch " + std::to_string(batch) + ", per layer (" + regime + ")\n\n";
      out += layer_table(rows);
    }
  out += "\n## End to end\n\n" + e2e_table(report);
  out += "\n## Custom vs best cuDNN\n\n" + wins_table(report);
  out += "\n## Reconciliation: sum of per-layer medians vs end to end\n\n" +
         reconciliation_table(report);
  out += problems(report);
  if (!report.summary.notes.empty()) {
    out += "\n## Notes\n\n";
    for (const std::string& n : report.summary.notes) out += "- " + n + "\n";
  }
  return out;
}

}  // namespace mbv2
