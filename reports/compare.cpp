#include "reports/compare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "reports/markdown.h"
#include "reports/report_query.h"

namespace mbv2 {

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kSame: return "same";
    case Verdict::kFaster: return "faster";
    case Verdict::kSlower: return "slower";
    case Verdict::kInconclusive: return "inconclusive";
    case Verdict::kBroken: return "broken";
    case Verdict::kFixed: return "fixed";
    case Verdict::kMissing: return "missing";
    case Verdict::kAdded: return "added";
  }
  return "?";
}

bool is_regression(Verdict v) {
  return v == Verdict::kSlower || v == Verdict::kBroken || v == Verdict::kMissing;
}
bool is_improvement(Verdict v) { return v == Verdict::kFaster || v == Verdict::kFixed; }

Outcome outcome_of(const LayerResult& r) {
  return Outcome{r.backend, r.disposition, r.note, r.timing, r.agreement, std::nullopt};
}
Outcome outcome_of(const EndToEndResult& r) {
  return Outcome{r.backend, r.disposition, r.note, r.timing, r.agreement, r.top5_match};
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string pct(double fraction) { return markdown::format_percent(fraction * 100.0); }

Decision make(Verdict v, double change, std::string reason) {
  return Decision{v, change, std::move(reason)};
}

std::string with_note(const std::string& reason, const std::string& note) {
  return note.empty() ? reason : reason + ": " + note;
}

std::string agreement_problem(const AgreementReport& a) {
  if (a.nan_count > 0) return std::to_string(a.nan_count) + " NaN in the output";
  if (a.inf_count > 0) return std::to_string(a.inf_count) + " Inf in the output";
  if (a.tolerance_rel_l2 > 0.0 && !(a.rel_l2 <= a.tolerance_rel_l2))
    return "rel-L2 " + markdown::format_sci(a.rel_l2) + " > tolerance " +
           markdown::format_sci(a.tolerance_rel_l2);
  return "agreement check failed (rel-L2 " + markdown::format_sci(a.rel_l2) + ")";
}

}  // namespace

Decision decide_timing(const Timing& base, const Timing& head, const CompareOptions& opt) {
  const bool valid = std::isfinite(base.median_us) && base.median_us > 0.0 &&
                     std::isfinite(head.median_us) && head.median_us > 0.0;
  if (!valid) return make(Verdict::kInconclusive, kNaN, "no valid median to compare");
  const double change = head.median_us / base.median_us - 1.0;
  if (std::fabs(change) <= opt.threshold)
    return make(Verdict::kSame, change, "within ±" + pct(opt.threshold));

  const int reps = std::min(base.repetitions, head.repetitions);
  if (reps < opt.min_repetitions)
    return make(Verdict::kInconclusive, change,
                "only " + std::to_string(reps) + " repetition" + (reps == 1 ? "" : "s") +
                    ", no spread to judge by");

  // The noisier run sets the band: a change inside a few CVs is not evidence.
  const double cv = std::max(base.cv, head.cv);
  if (!std::isfinite(cv) || cv < 0.0)
    return make(Verdict::kInconclusive, change, "CV is not a number");
  const double noise = opt.noise_factor * cv;
  if (std::fabs(change) <= noise)
    return make(Verdict::kInconclusive, change,
                "within the noise (" + markdown::format_fixed(opt.noise_factor, 1) + " × CV " +
                    pct(cv) + ")");

  // Ranges must separate too: even the slower run's fastest sample must lose to the faster
  // run's median. min is robust on a GPU (outliers are slow ones), so max is not used.
  const bool slower = change > 0.0;
  const Timing& slow = slower ? head : base;
  const Timing& fast = slower ? base : head;
  const bool min_known = slow.min_us > 0.0 && slow.min_us <= slow.median_us;
  if (min_known && slow.min_us <= fast.median_us)
    return make(Verdict::kInconclusive, change,
                "ranges overlap (slower run's min " + markdown::format_us(slow.min_us) +
                    " µs ≤ faster run's median " + markdown::format_us(fast.median_us) + " µs)");
  return make(slower ? Verdict::kSlower : Verdict::kFaster, change,
              "beyond the " + pct(opt.threshold) + " threshold and the " + pct(noise) +
                  " noise; ranges separate");
}

bool agreement_fails(const AgreementReport& a) {
  return !a.pass || a.nan_count > 0 || a.inf_count > 0 || !std::isfinite(a.rel_l2) ||
         (a.tolerance_rel_l2 > 0.0 && a.rel_l2 > a.tolerance_rel_l2);
}

Decision decide(const Outcome& base, const Outcome& head, const CompareOptions& opt) {
  const Disposition b = base.disposition;
  const Disposition h = head.disposition;
  const std::string was = std::string("was ") + to_string(b);

  if (h == Disposition::kIncorrect) {
    if (b == Disposition::kIncorrect)
      return make(Verdict::kSame, kNaN, with_note("incorrect in both reports", head.note));
    return make(Verdict::kBroken, kNaN, with_note(was + ", now incorrect", head.note));
  }
  if (h != Disposition::kPassed) {
    if (b == Disposition::kPassed)
      return make(Verdict::kBroken, kNaN,
                  with_note(std::string("was passed, now ") + to_string(h), head.note));
    return make(Verdict::kSame, kNaN,
                std::string(to_string(b)) + " in base, " + to_string(h) + " now");
  }

  // The new result passed; its agreement record still has to hold up.
  const bool head_fails = head.agreement && agreement_fails(*head.agreement);
  const bool base_fails = base.agreement && agreement_fails(*base.agreement);
  if (b != Disposition::kPassed) {
    if (head_fails)
      return make(Verdict::kBroken, kNaN, "passed but " + agreement_problem(*head.agreement));
    return make(Verdict::kFixed, kNaN, was + ", passes now");
  }
  if (head_fails && !base_fails)
    return make(Verdict::kBroken, kNaN, agreement_problem(*head.agreement));
  if (base.top5_match.value_or(false) && head.top5_match.has_value() && !*head.top5_match)
    return make(Verdict::kBroken, kNaN, "top-5 classes no longer match the reference");

  if (base.timing && head.timing) return decide_timing(*base.timing, *head.timing, opt);
  if (!base.timing && !head.timing) return make(Verdict::kSame, kNaN, "not timed in either");
  return make(Verdict::kInconclusive, kNaN,
              std::string("timed in the ") + (base.timing ? "base" : "new") + " report only");
}

namespace {

std::string model_str(const RunConfigReport& c) {
  std::ostringstream s;
  s << c.model << " w" << c.width_mult << " r" << c.resolution << " c" << c.num_classes;
  return s.str();
}

std::string ints_str(const std::vector<int>& v) {
  std::vector<std::string> parts;
  for (int x : v) parts.push_back(std::to_string(x));
  return parts.empty() ? "none" : markdown::join(parts, ", ");
}

std::vector<int> sorted_unique(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

void check_comparable(const Report& base, const Report& head, Comparison& out) {
  auto differ = [&out](const std::string& what, const std::string& b, const std::string& h) {
    if (b != h)
      out.incomparable.push_back("different " + what + ": base '" + b + "', new '" + h + "'");
  };
  differ("schema", base.schema, head.schema);
  differ("GPU", base.device.name, head.device.name);
  differ("precision", base.config.precision, head.config.precision);
  differ("model", model_str(base.config), model_str(head.config));
  const std::vector<int> bb = sorted_unique(report_batches(base));
  const std::vector<int> hb = sorted_unique(report_batches(head));
  if (bb != hb) differ("batch sets", ints_str(bb), ints_str(hb));
  for (const std::string& regime : layer_regimes(base)) {
    const auto hr = layer_regimes(head);
    if (std::find(hr.begin(), hr.end(), regime) == hr.end())
      out.incomparable.push_back("new report has no per-layer '" + regime + "' regime");
  }
  for (const std::string& mode : e2e_modes(base)) {
    const auto hm = e2e_modes(head);
    if (std::find(hm.begin(), hm.end(), mode) == hm.end())
      out.incomparable.push_back("new report has no end-to-end '" + mode + "' mode");
  }
  if (!out.incomparable.empty()) return;
  // Whole rows the new run skipped (--layers, --quick) make it a different experiment, not a
  // regression; a backend missing from a row that is there is judged per result instead.
  std::set<std::tuple<int, std::string, int, std::string>> head_layers;
  for (const LayerRow& row : head.layers)
    head_layers.insert({row.index, row.name, row.batch, row.regime});
  std::vector<std::string> lacking;
  for (const LayerRow& row : base.layers)
    if (!head_layers.count({row.index, row.name, row.batch, row.regime}))
      lacking.push_back(std::to_string(row.index) + " (b" + std::to_string(row.batch) + " " +
                        row.regime + ")");
  std::set<std::pair<int, std::string>> head_e2e;
  for (const EndToEndRow& row : head.end_to_end) head_e2e.insert({row.batch, row.mode});
  for (const EndToEndRow& row : base.end_to_end)
    if (!head_e2e.count({row.batch, row.mode}))
      lacking.push_back("end to end (b" + std::to_string(row.batch) + " " + row.mode + ")");
  if (!lacking.empty()) {
    constexpr size_t kShown = 5;
    std::vector<std::string> first(lacking.begin(),
                                   lacking.begin() + std::min(lacking.size(), kShown));
    out.incomparable.push_back("new report lacks " + std::to_string(lacking.size()) +
                               " row(s) of the base: " + markdown::join(first, ", ") +
                               (lacking.size() > kShown ? ", ..." : "") +
                               " (a --layers or --quick run?)");
  }
}

void collect_warnings(const Report& base, const Report& head, Comparison& out) {
  for (const auto& [side, r] : {std::pair<const char*, const Report*>{"base", &base},
                                {"new", &head}}) {
    if (r->device.clocks.throttled)
      out.warnings.push_back(std::string(side) + " run was throttled" +
                             (r->device.clocks.throttle_note.empty()
                                  ? std::string()
                                  : " (" + r->device.clocks.throttle_note + ")") +
                             ": its times may be inflated");
    if (r->config.timing.quick)
      out.warnings.push_back(std::string(side) + " run used quick timing settings");
  }
  auto note = [&out](const std::string& what, const std::string& b, const std::string& h) {
    if (b != h) out.warnings.push_back(what + " differs: base '" + b + "', new '" + h + "'");
  };
  note("cuDNN version", base.device.cudnn, head.device.cudnn);
  note("driver", base.device.driver, head.device.driver);
  note("CUDA runtime", base.device.cuda_runtime, head.device.cuda_runtime);
  note("weights hash", base.config.weights.hash, head.config.weights.hash);
  note("input", base.config.input.kind + " " + base.config.input.path,
       head.config.input.kind + " " + head.config.input.path);
  note("repetitions", std::to_string(base.config.timing.repetitions),
       std::to_string(head.config.timing.repetitions));
}

using LayerKey = std::tuple<int, std::string, int, std::string, std::string>;
using E2eKey = std::tuple<int, std::string, std::string>;

/// The rule for a result present on one side only.
Decision decide_one_sided(const std::optional<Outcome>& base, const std::optional<Outcome>& head) {
  if (base) {
    if (base->disposition == Disposition::kPassed)
      return make(Verdict::kMissing, kNaN, "passed in base, absent from the new report");
    return make(Verdict::kSame, kNaN,
                std::string("absent from the new report (was ") + to_string(base->disposition) +
                    ")");
  }
  if (head->disposition == Disposition::kIncorrect)
    return make(Verdict::kBroken, kNaN, with_note("new result is incorrect", head->note));
  if (head->disposition == Disposition::kPassed && head->agreement &&
      agreement_fails(*head->agreement))
    return make(Verdict::kBroken, kNaN,
                "new result passed but " + agreement_problem(*head->agreement));
  return make(Verdict::kAdded, kNaN, std::string("only in the new report (") +
                                         to_string(head->disposition) + ")");
}

void count(VerdictCounts& c, Verdict v) {
  switch (v) {
    case Verdict::kSame: ++c.same; break;
    case Verdict::kFaster: ++c.faster; break;
    case Verdict::kSlower: ++c.slower; break;
    case Verdict::kInconclusive: ++c.inconclusive; break;
    case Verdict::kBroken: ++c.broken; break;
    case Verdict::kFixed: ++c.fixed; break;
    case Verdict::kMissing: ++c.missing; break;
    case Verdict::kAdded: ++c.added; break;
  }
}

/// Pairs rows of one kind; `key_of` names a (row, result) pair, `fill` sets the identity.
template <typename Row, typename Key, typename KeyOf, typename Fill>
void pair_rows(const std::vector<Row>& base_rows, const std::vector<Row>& head_rows,
               KeyOf key_of, Fill fill, const CompareOptions& opt, Comparison& out) {
  std::map<Key, std::pair<const Row*, size_t>> head_index;
  std::map<Key, bool> head_used;
  std::vector<Key> head_order;
  for (const Row& row : head_rows)
    for (size_t i = 0; i < row.results.size(); ++i) {
      const Key key = key_of(row, row.results[i]);
      if (head_index.count(key)) continue;  // duplicates: the first one counts
      head_index[key] = {&row, i};
      head_order.push_back(key);
    }
  std::map<Key, bool> base_seen;
  for (const Row& row : base_rows)
    for (const auto& result : row.results) {
      const Key key = key_of(row, result);
      if (base_seen[key]) continue;
      base_seen[key] = true;
      RowComparison rc;
      fill(rc, row, result);
      rc.base = outcome_of(result);
      auto it = head_index.find(key);
      if (it != head_index.end()) {
        head_used[key] = true;
        rc.head = outcome_of(it->second.first->results[it->second.second]);
        rc.decision = decide(*rc.base, *rc.head, opt);
      } else {
        rc.decision = decide_one_sided(rc.base, rc.head);
      }
      count(out.counts, rc.decision.verdict);
      out.rows.push_back(std::move(rc));
    }
  for (const Key& key : head_order) {
    if (head_used[key]) continue;
    const auto& [row, i] = head_index[key];
    RowComparison rc;
    fill(rc, *row, row->results[i]);
    rc.head = outcome_of(row->results[i]);
    rc.decision = decide_one_sided(rc.base, rc.head);
    count(out.counts, rc.decision.verdict);
    out.rows.push_back(std::move(rc));
  }
}

}  // namespace

Comparison compare_reports(const Report& base, const Report& head, const CompareOptions& opt) {
  CompareOptions layer_opt = opt;
  if (opt.layer_threshold) layer_opt.threshold = *opt.layer_threshold;
  Comparison out;
  out.options = opt;
  check_comparable(base, head, out);
  if (!out.incomparable.empty()) return out;
  collect_warnings(base, head, out);

  pair_rows<LayerRow, LayerKey>(
      base.layers, head.layers,
      [](const LayerRow& row, const LayerResult& r) {
        return LayerKey{row.index, row.name, row.batch, row.regime, r.backend};
      },
      [](RowComparison& rc, const LayerRow& row, const LayerResult& r) {
        rc.end_to_end = false;
        rc.layer_index = row.index;
        rc.layer_name = row.name;
        rc.batch = row.batch;
        rc.regime = row.regime;
        rc.backend = r.backend;
      },
      layer_opt, out);
  pair_rows<EndToEndRow, E2eKey>(
      base.end_to_end, head.end_to_end,
      [](const EndToEndRow& row, const EndToEndResult& r) {
        return E2eKey{row.batch, row.mode, r.backend};
      },
      [](RowComparison& rc, const EndToEndRow& row, const EndToEndResult& r) {
        rc.end_to_end = true;
        rc.batch = row.batch;
        rc.regime = row.mode;
        rc.backend = r.backend;
      },
      opt, out);
  return out;
}

int compare_exit_code(const Comparison& c) {
  if (!c.incomparable.empty()) return 2;
  if (c.counts.regressions() > 0) return 1;
  if (c.counts.inconclusive > 0) return 2;
  return 0;
}

const char* overall_verdict(const Comparison& c) {
  if (!c.incomparable.empty()) return "INCOMPARABLE";
  if (c.counts.regressions() > 0) return "REGRESSION";
  if (c.counts.inconclusive > 0) return "INCONCLUSIVE";
  return "PASS";
}

}  // namespace mbv2
