#include "reports/compare_markdown.h"

#include <algorithm>
#include <cmath>

#include "reports/markdown.h"

namespace mbv2 {

namespace {

namespace md = markdown;

/// Regressions first, then what needs a look, then good news, then the rest.
int severity(Verdict v) {
  if (is_regression(v)) return 0;
  if (v == Verdict::kInconclusive) return 1;
  if (is_improvement(v)) return 2;
  if (v == Verdict::kAdded) return 3;
  return 4;
}

std::string verdict_cell(Verdict v) {
  const std::string name = to_string(v);
  if (is_regression(v)) return "**" + name + "** ✗";
  if (is_improvement(v)) return name + " ✓";
  if (v == Verdict::kInconclusive) return name + " ?";
  return name;
}

std::string outcome_cell(const std::optional<Outcome>& o) {
  if (!o) return "absent";
  if (o->disposition != Disposition::kPassed) return to_string(o->disposition);
  if (!o->timing) return "not timed";
  std::string cell = md::format_us(o->timing->median_us);
  if (std::isfinite(o->timing->cv) && o->timing->repetitions > 1)
    cell += " ±" + md::format_percent(o->timing->cv * 100.0);
  return cell;
}

bool shown(const RowComparison& row, bool all) {
  if (all) return true;
  // Incorrect results and rows present on one side only are always worth a look.
  const bool incorrect_now = row.head && row.head->disposition == Disposition::kIncorrect;
  const bool one_sided = !row.base || !row.head;
  return row.decision.verdict != Verdict::kSame || incorrect_now || one_sided;
}

std::string table_for(std::vector<const RowComparison*> rows, bool end_to_end) {
  std::stable_sort(rows.begin(), rows.end(), [](const RowComparison* a, const RowComparison* b) {
    return severity(a->decision.verdict) < severity(b->decision.verdict);
  });
  using md::Align;
  std::vector<md::Column> cols{{"verdict", Align::kLeft}};
  if (!end_to_end) {
    cols.push_back({"#", Align::kRight});
    cols.push_back({"layer", Align::kLeft});
  }
  cols.insert(cols.end(), {{"batch", Align::kRight},
                           {end_to_end ? "mode" : "regime", Align::kLeft},
                           {"backend", Align::kLeft},
                           {"base µs", Align::kRight},
                           {"new µs", Align::kRight},
                           {"change", Align::kRight},
                           {"why", Align::kLeft}});
  md::Table table(cols);
  for (const RowComparison* r : rows) {
    std::vector<std::string> cells{verdict_cell(r->decision.verdict)};
    if (!end_to_end) {
      cells.push_back(std::to_string(r->layer_index));
      cells.push_back(r->layer_name);
    }
    cells.push_back(std::to_string(r->batch));
    cells.push_back(r->regime);
    cells.push_back(r->backend);
    cells.push_back(outcome_cell(r->base));
    cells.push_back(outcome_cell(r->head));
    cells.push_back(md::format_change(r->decision.change));
    cells.push_back(r->decision.reason);
    table.add_row(std::move(cells));
  }
  return table.str();
}

std::string git_label(const Report& r) {
  std::string sha = r.git.sha.substr(0, std::min<size_t>(r.git.sha.size(), 12));
  if (sha.empty()) sha = "unknown";
  return "git " + sha + (r.git.dirty ? " (dirty)" : "");
}

}  // namespace

std::string render_compare_markdown(const Comparison& c, const Report& base, const Report& head,
                                    const CompareRenderOptions& opt) {
  const std::string verdict = overall_verdict(c);
  if (!c.incomparable.empty())
    return "**" + verdict + "**: " + md::join(c.incomparable, "; ") + "\n";

  const char* mark = verdict == "PASS" ? "✓" : verdict == "REGRESSION" ? "✗" : "?";
  const VerdictCounts& n = c.counts;
  std::string out = "## " + std::string(mark) + " " + verdict + " — mbv2-bench compare\n\n";
  out += "**" + std::to_string(n.regressions()) + " regression" +
         (n.regressions() == 1 ? "" : "s") + "** (" + std::to_string(n.slower) + " slower, " +
         std::to_string(n.broken) + " broken, " + std::to_string(n.missing) + " missing) · " +
         std::to_string(n.improvements()) + " improvement" + (n.improvements() == 1 ? "" : "s") +
         " (" + std::to_string(n.faster) + " faster, " + std::to_string(n.fixed) + " fixed) · " +
         std::to_string(n.inconclusive) + " inconclusive · " + std::to_string(n.same) +
         " same · " + std::to_string(n.added) + " added\n\n";
  out += "base `" + opt.base_label + "` (" + git_label(base) + ") → new `" + opt.head_label +
         "` (" + git_label(head) + ") · " + head.device.name + " · " + head.config.precision +
         " · threshold " + md::format_percent(c.options.threshold * 100.0) +
         (c.options.layer_threshold
              ? " (per layer " + md::format_percent(*c.options.layer_threshold * 100.0) + ")"
              : std::string()) +
         " · noise " +
         md::format_fixed(c.options.noise_factor, 1) + " × CV\n";
  for (const std::string& w : c.warnings) out += "\n- warning: " + w;
  if (!c.warnings.empty()) out += "\n";

  for (bool e2e : {false, true}) {
    std::vector<const RowComparison*> rows;
    size_t total = 0;
    for (const RowComparison& r : c.rows) {
      if (r.end_to_end != e2e) continue;
      ++total;
      if (shown(r, opt.all_rows)) rows.push_back(&r);
    }
    out += std::string("\n### ") + (e2e ? "End to end" : "Per layer") +
           (opt.all_rows ? "" : " (changed rows)") + "\n\n";
    if (rows.empty())
      out += "No " + std::string(total == 0 ? "rows" : "changes") + " (" + std::to_string(total) +
             " compared" + (total && !opt.all_rows ? "; --all lists them" : "") + ").\n";
    else
      out += table_for(rows, e2e);
  }
  return out;
}

}  // namespace mbv2
