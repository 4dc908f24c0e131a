// Comparing two reports for CI: pairs their rows and decides each one. No I/O here;
// compare_markdown.h renders the result and report_main.cpp reads the files.
//
// The decision rule and the exit codes are documented in reports/README.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/report.h"

namespace mbv2 {

struct CompareOptions {
  double threshold = 0.05;    ///< a relative change up to this is "same"
  /// Per-layer rows only, when set: their own threshold (batch-1 layers of a few µs and
  /// cuDNN's re-searched engines move more between runs than end-to-end rows do).
  std::optional<double> layer_threshold;
  double noise_factor = 2.0;  ///< a change must exceed this times the larger CV to be clear
  int min_repetitions = 3;    ///< fewer samples than this give no spread to judge by
};

/// What happened to one row between the base and the new report.
enum class Verdict {
  kSame,          ///< within the threshold, or equally not run in both
  kFaster,        ///< clearly faster (improvement)
  kSlower,        ///< clearly slower (regression)
  kInconclusive,  ///< beyond the threshold but not beyond the noise, or not timed
  kBroken,        ///< correctness regression: incorrect, agreement past tolerance, no longer runs
  kFixed,         ///< correctness improvement: passes now, did not before
  kMissing,       ///< passed in the base report, absent from the new one (regression)
  kAdded,         ///< only in the new report
};
const char* to_string(Verdict verdict);
bool is_regression(Verdict verdict);
bool is_improvement(Verdict verdict);

/// What the decision needs from a LayerResult or an EndToEndResult.
struct Outcome {
  std::string backend;
  Disposition disposition = Disposition::kNotRun;
  std::string note;
  std::optional<Timing> timing;
  std::optional<AgreementReport> agreement;
  std::optional<bool> top5_match;  ///< end to end only
};
Outcome outcome_of(const LayerResult& result);
Outcome outcome_of(const EndToEndResult& result);

struct Decision {
  Verdict verdict = Verdict::kSame;
  double change = 0.0;  ///< new median / base median - 1; NaN when not timed in both
  std::string reason;   ///< one short phrase: why this verdict
};

/// Timing rule alone (both results passed): threshold, repetitions, CV band, range overlap.
Decision decide_timing(const Timing& base, const Timing& head, const CompareOptions& options);
/// True when an agreement record says the output is outside its tolerance.
bool agreement_fails(const AgreementReport& agreement);
/// Full rule for a result present in both reports: correctness first, then timing.
Decision decide(const Outcome& base, const Outcome& head, const CompareOptions& options);

struct RowComparison {
  bool end_to_end = false;
  int layer_index = -1;  ///< layers only
  std::string layer_name;
  int batch = 1;
  std::string regime;  ///< layers: "warm" / "cold"; end to end: the mode
  std::string backend;
  std::optional<Outcome> base;  ///< absent when the base report has no such result
  std::optional<Outcome> head;  ///< absent when the new report has no such result
  Decision decision;
};

struct VerdictCounts {
  int same = 0, faster = 0, slower = 0, inconclusive = 0;
  int broken = 0, fixed = 0, missing = 0, added = 0;
  int regressions() const { return slower + broken + missing; }
  int improvements() const { return faster + fixed; }
};

struct Comparison {
  /// Why the two reports cannot be compared (GPU, precision, model, batches, ...); when
  /// non-empty the rows are not judged.
  std::vector<std::string> incomparable;
  /// Differences worth knowing that do not change the verdict (throttling, versions).
  std::vector<std::string> warnings;
  std::vector<RowComparison> rows;  ///< layers in base order, then end to end
  VerdictCounts counts;
  CompareOptions options;
};

/// Pairs layer rows by (index, name, batch, regime, backend) and end-to-end rows by
/// (batch, mode, backend), then decides each pair.
Comparison compare_reports(const Report& base, const Report& head, const CompareOptions& options);

/// 0 pass, 1 regression, 2 inconclusive or incomparable. A regression outranks inconclusive.
int compare_exit_code(const Comparison& comparison);
/// "PASS", "REGRESSION", "INCONCLUSIVE" or "INCOMPARABLE".
const char* overall_verdict(const Comparison& comparison);

}  // namespace mbv2
