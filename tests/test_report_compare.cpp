// The compare rule: timing decisions, correctness regressions, pairing and exit codes,
// on synthetic reports (no GPU, no files).
#include <cmath>

#include "reports/compare.h"
#include "reports/compare_markdown.h"
#include "test_report_fixtures.h"

namespace mbv2 {
namespace {

using test::make_timing;

const CompareOptions kDefaults{};

test::SyntheticOptions options(std::vector<int> batches, std::vector<std::string> regimes) {
  test::SyntheticOptions o;
  o.batches = std::move(batches);
  o.regimes = std::move(regimes);
  return o;
}

test::SyntheticOptions noisy_options(double cv) {
  test::SyntheticOptions o;
  o.cv = cv;
  return o;
}

test::SyntheticOptions backend_options(std::vector<std::string> backends) {
  test::SyntheticOptions o;
  o.backends = std::move(backends);
  return o;
}

// --- decide_timing ---------------------------------------------------------------------

TEST(ReportCompareTiming, WithinThresholdIsSame) {
  const Decision d = decide_timing(make_timing(100.0), make_timing(103.0), kDefaults);
  EXPECT_EQ(d.verdict, Verdict::kSame);
  EXPECT_NEAR(d.change, 0.03, 1e-12);
}

TEST(ReportCompareTiming, ClearSlowdownAndSpeedup) {
  const Decision slower = decide_timing(make_timing(100.0), make_timing(112.0), kDefaults);
  EXPECT_EQ(slower.verdict, Verdict::kSlower) << slower.reason;
  EXPECT_NEAR(slower.change, 0.12, 1e-12);
  const Decision faster = decide_timing(make_timing(100.0), make_timing(80.0), kDefaults);
  EXPECT_EQ(faster.verdict, Verdict::kFaster) << faster.reason;
  EXPECT_NEAR(faster.change, -0.20, 1e-12);
}

TEST(ReportCompareTiming, OneRepetitionIsInconclusive) {
  const Decision d =
      decide_timing(make_timing(100.0, 0.0, 1), make_timing(150.0, 0.0, 1), kDefaults);
  EXPECT_EQ(d.verdict, Verdict::kInconclusive);
  EXPECT_NE(d.reason.find("repetition"), std::string::npos) << d.reason;
}

TEST(ReportCompareTiming, ChangeInsideTheCvBandIsInconclusive) {
  // 10% slower, but CV 8% in the new run: 2 x 8% = 16% of noise.
  const Decision d = decide_timing(make_timing(100.0, 0.01), make_timing(110.0, 0.08), kDefaults);
  EXPECT_EQ(d.verdict, Verdict::kInconclusive);
  EXPECT_NE(d.reason.find("noise"), std::string::npos) << d.reason;
}

TEST(ReportCompareTiming, OverlappingRangesAreInconclusive) {
  Timing base = make_timing(100.0, 0.01);
  Timing head = make_timing(110.0, 0.01);
  head.min_us = 95.0;  // one new sample beat the base median
  const Decision d = decide_timing(base, head, kDefaults);
  EXPECT_EQ(d.verdict, Verdict::kInconclusive);
  EXPECT_NE(d.reason.find("overlap"), std::string::npos) << d.reason;
  // The same holds for a speedup: the slower run is then the base.
  Timing fast = make_timing(90.0, 0.01);
  Timing slow_base = make_timing(100.0, 0.01);
  slow_base.min_us = 89.0;
  EXPECT_EQ(decide_timing(slow_base, fast, kDefaults).verdict, Verdict::kInconclusive);
}

TEST(ReportCompareTiming, ThresholdAndNoiseFactorAreConfigurable) {
  CompareOptions loose;
  loose.threshold = 0.15;
  EXPECT_EQ(decide_timing(make_timing(100.0), make_timing(112.0), loose).verdict, Verdict::kSame);
  CompareOptions strict;
  strict.threshold = 0.01;
  EXPECT_EQ(decide_timing(make_timing(100.0, 0.002), make_timing(103.0, 0.002), strict).verdict,
            Verdict::kSlower);
  CompareOptions paranoid;
  paranoid.noise_factor = 20.0;  // 20 x 1% CV swallows a 12% change
  EXPECT_EQ(decide_timing(make_timing(100.0), make_timing(112.0), paranoid).verdict,
            Verdict::kInconclusive);
}

TEST(ReportCompareTiming, InvalidMedianIsInconclusive) {
  EXPECT_EQ(decide_timing(make_timing(0.0), make_timing(10.0), kDefaults).verdict,
            Verdict::kInconclusive);
  EXPECT_EQ(decide_timing(make_timing(10.0), make_timing(std::nan("")), kDefaults).verdict,
            Verdict::kInconclusive);
}

// --- decide: correctness before timing -------------------------------------------------

Outcome passed(double median_us) {
  Outcome o;
  o.backend = "custom";
  o.disposition = Disposition::kPassed;
  o.timing = make_timing(median_us);
  o.agreement = test::good_agreement();
  return o;
}

TEST(ReportCompareDecide, IncorrectButFasterIsARegression) {
  Outcome head = passed(50.0);
  head.disposition = Disposition::kIncorrect;
  head.note = "rel-L2 3e-2";
  const Decision d = decide(passed(100.0), head, kDefaults);
  EXPECT_EQ(d.verdict, Verdict::kBroken);
  EXPECT_TRUE(is_regression(d.verdict));
  EXPECT_NE(d.reason.find("incorrect"), std::string::npos) << d.reason;
}

TEST(ReportCompareDecide, AgreementPastToleranceIsARegressionEvenIfPassed) {
  Outcome head = passed(50.0);
  head.agreement->rel_l2 = 5e-4;  // tolerance 1e-4, yet the record says pass
  Decision d = decide(passed(100.0), head, kDefaults);
  EXPECT_EQ(d.verdict, Verdict::kBroken) << d.reason;
  EXPECT_NE(d.reason.find("tolerance"), std::string::npos) << d.reason;

  Outcome failed = passed(50.0);
  failed.agreement->pass = false;
  EXPECT_EQ(decide(passed(100.0), failed, kDefaults).verdict, Verdict::kBroken);

  Outcome nan = passed(50.0);
  nan.agreement->nan_count = 3;
  EXPECT_EQ(decide(passed(100.0), nan, kDefaults).verdict, Verdict::kBroken);
}

TEST(ReportCompareDecide, NoLongerRunningIsARegression) {
  for (Disposition h : {Disposition::kNotRun, Disposition::kNotSupported}) {
    Outcome head = passed(100.0);
    head.disposition = h;
    head.timing.reset();
    EXPECT_EQ(decide(passed(100.0), head, kDefaults).verdict, Verdict::kBroken) << to_string(h);
  }
}

TEST(ReportCompareDecide, DispositionTransitionsThatAreNotRegressions) {
  Outcome unsupported = passed(100.0);
  unsupported.disposition = Disposition::kNotSupported;
  unsupported.timing.reset();
  unsupported.agreement.reset();
  EXPECT_EQ(decide(unsupported, passed(100.0), kDefaults).verdict, Verdict::kFixed);
  EXPECT_EQ(decide(unsupported, unsupported, kDefaults).verdict, Verdict::kSame);
  Outcome incorrect = passed(100.0);
  incorrect.disposition = Disposition::kIncorrect;
  EXPECT_EQ(decide(incorrect, incorrect, kDefaults).verdict, Verdict::kSame);
  EXPECT_EQ(decide(unsupported, incorrect, kDefaults).verdict, Verdict::kBroken);
}

TEST(ReportCompareDecide, LostTop5IsARegression) {
  Outcome base = passed(1000.0);
  base.top5_match = true;
  Outcome head = passed(900.0);
  head.top5_match = false;
  EXPECT_EQ(decide(base, head, kDefaults).verdict, Verdict::kBroken);
}

TEST(ReportCompareDecide, TimedInOneReportOnlyIsInconclusive) {
  Outcome head = passed(100.0);
  head.timing.reset();
  EXPECT_EQ(decide(passed(100.0), head, kDefaults).verdict, Verdict::kInconclusive);
}

// --- compare_reports: whole reports --------------------------------------------------------

TEST(ReportCompareReports, SelfComparisonPasses) {
  const Report r = test::synthetic_report(options({1, 8}, {"warm", "cold"}));
  const Comparison c = compare_reports(r, r, kDefaults);
  EXPECT_TRUE(c.incomparable.empty());
  EXPECT_EQ(c.counts.same, int(c.rows.size()));
  EXPECT_EQ(int(c.rows.size()), 2 * 2 * 54 * 3 + 2 * 2 * 3);  // layers + end to end
  EXPECT_EQ(compare_exit_code(c), 0);
  EXPECT_STREQ(overall_verdict(c), "PASS");
}

// host_timing is information, not a gate: a base without it (an older report) and a new
// report whose host enqueue got far slower still pass.
TEST(ReportCompareReports, HostTimingIsNotCompared) {
  const Report base = test::synthetic_report();
  Report head = base;
  for (EndToEndRow& row : head.end_to_end)
    for (EndToEndResult& r : row.results) r.host_timing = make_timing(r.timing->median_us * 3.0);
  const Comparison c = compare_reports(base, head, kDefaults);
  EXPECT_EQ(c.counts.same, int(c.rows.size()));
  EXPECT_EQ(compare_exit_code(c), 0);
  const Comparison back = compare_reports(head, base, kDefaults);
  EXPECT_EQ(back.counts.same, int(back.rows.size()));
  EXPECT_EQ(compare_exit_code(back), 0);
}

TEST(ReportCompareReports, ClearLayerRegressionExitsOne) {
  const Report base = test::synthetic_report();
  Report head = base;
  test::scale_timing(test::layer_result(head, 7, 1, "warm", "custom").timing, 1.25);
  const Comparison c = compare_reports(base, head, kDefaults);
  EXPECT_EQ(c.counts.slower, 1);
  EXPECT_EQ(c.counts.regressions(), 1);
  EXPECT_EQ(compare_exit_code(c), 1);
  for (const RowComparison& row : c.rows)
    if (row.decision.verdict == Verdict::kSlower) {
      EXPECT_EQ(row.layer_index, 7);
      EXPECT_EQ(row.backend, "custom");
      EXPECT_NEAR(row.decision.change, 0.25, 1e-9);
    }
}

TEST(ReportCompareReports, ImprovementExitsZero) {
  const Report base = test::synthetic_report();
  Report head = base;
  for (LayerRow& row : head.layers) test::scale_timing(row.results[0].timing, 0.8);
  test::scale_timing(test::e2e_result(head, 1, "graph", "custom").timing, 0.8);
  const Comparison c = compare_reports(base, head, kDefaults);
  EXPECT_EQ(c.counts.faster, 54 + 1);
  EXPECT_EQ(c.counts.regressions(), 0);
  EXPECT_EQ(compare_exit_code(c), 0);
}

TEST(ReportCompareReports, NoiseWithinSpreadIsSameOrInconclusive) {
  const Report base = test::synthetic_report(noisy_options(0.08));
  Report within = base, beyond_threshold = base;
  for (LayerRow& row : within.layers) test::scale_timing(row.results[0].timing, 1.03);
  const Comparison same = compare_reports(base, within, kDefaults);
  EXPECT_EQ(same.counts.same, int(same.rows.size()));
  EXPECT_EQ(compare_exit_code(same), 0);

  for (LayerRow& row : beyond_threshold.layers) test::scale_timing(row.results[0].timing, 1.09);
  const Comparison noisy = compare_reports(base, beyond_threshold, kDefaults);
  EXPECT_EQ(noisy.counts.inconclusive, 54);
  EXPECT_EQ(noisy.counts.regressions(), 0);
  EXPECT_EQ(compare_exit_code(noisy), 2);
}

// --layer-threshold: per-layer rows get their own threshold, end-to-end rows keep --threshold.
TEST(ReportCompareReports, LayerThresholdAppliesToLayerRowsOnly) {
  const Report base = test::synthetic_report();
  Report layers_slower = base;
  test::scale_timing(test::layer_result(layers_slower, 3, 1, "warm", "custom").timing, 1.09);
  CompareOptions loose = kDefaults;
  loose.layer_threshold = 0.15;
  EXPECT_EQ(compare_exit_code(compare_reports(base, layers_slower, kDefaults)), 1);
  EXPECT_EQ(compare_exit_code(compare_reports(base, layers_slower, loose)), 0);
  Report e2e_slower = base;
  for (EndToEndRow& row : e2e_slower.end_to_end) test::scale_timing(row.results[0].timing, 1.09);
  const Comparison e2e = compare_reports(base, e2e_slower, loose);
  EXPECT_EQ(compare_exit_code(e2e), 1);
  EXPECT_EQ(e2e.counts.slower, int(e2e_slower.end_to_end.size()));
}

TEST(ReportCompareReports, RegressionOutranksInconclusive) {
  const Report base = test::synthetic_report();
  Report head = base;
  test::scale_timing(test::layer_result(head, 3, 1, "warm", "custom").timing, 1.5);
  test::layer_result(head, 4, 1, "warm", "custom").timing->repetitions = 1;
  test::scale_timing(test::layer_result(head, 4, 1, "warm", "custom").timing, 1.5);
  const Comparison c = compare_reports(base, head, kDefaults);
  EXPECT_EQ(c.counts.slower, 1);
  EXPECT_EQ(c.counts.inconclusive, 1);
  EXPECT_EQ(compare_exit_code(c), 1);
}

TEST(ReportCompareReports, AccuracyRegressionWithFasterTiming) {
  const Report base = test::synthetic_report();
  Report head = base;
  LayerResult& r = test::layer_result(head, 10, 1, "warm", "custom");
  test::scale_timing(r.timing, 0.5);
  r.agreement->rel_l2 = 2e-3;
  r.agreement->pass = false;
  r.disposition = Disposition::kIncorrect;
  const Comparison c = compare_reports(base, head, kDefaults);
  EXPECT_EQ(c.counts.broken, 1);
  EXPECT_EQ(compare_exit_code(c), 1);
}

TEST(ReportCompareReports, IncomparableReportsSaySoPlainly) {
  const Report base = test::synthetic_report();
  Report gpu = base;
  gpu.device.name = "NVIDIA A100-SXM4-80GB";
  Comparison c = compare_reports(base, gpu, kDefaults);
  ASSERT_EQ(c.incomparable.size(), 1u);
  EXPECT_NE(c.incomparable[0].find("different GPU"), std::string::npos);
  EXPECT_NE(c.incomparable[0].find("A100"), std::string::npos);
  EXPECT_TRUE(c.rows.empty());
  EXPECT_EQ(compare_exit_code(c), 2);
  EXPECT_STREQ(overall_verdict(c), "INCOMPARABLE");
  const std::string md = render_compare_markdown(c, base, gpu, {});
  EXPECT_EQ(test::count_lines(md), 1) << md;

  Report precision = base;
  precision.config.precision = "tf32";
  EXPECT_EQ(compare_exit_code(compare_reports(base, precision, kDefaults)), 2);
  Report schema = base;
  schema.schema = "mbv2-bench-report/2";
  EXPECT_EQ(compare_exit_code(compare_reports(base, schema, kDefaults)), 2);
  Report model = base;
  model.config.resolution = 160;
  EXPECT_EQ(compare_exit_code(compare_reports(base, model, kDefaults)), 2);
  const Report batches = test::synthetic_report(options({1, 8}, {"warm"}));
  c = compare_reports(base, batches, kDefaults);
  ASSERT_EQ(c.incomparable.size(), 1u);
  EXPECT_NE(c.incomparable[0].find("batch"), std::string::npos);
  const Report cold = test::synthetic_report(options({1}, {"warm", "cold"}));
  EXPECT_EQ(compare_exit_code(compare_reports(cold, base, kDefaults)), 2);
}

TEST(ReportCompareReports, SkippedLayerRowsAreIncomparable) {
  const Report base = test::synthetic_report();
  test::SyntheticOptions fewer;
  fewer.layers = 10;  // like a --layers=0-9 run
  const Report head = test::synthetic_report(fewer);
  const Comparison c = compare_reports(base, head, kDefaults);
  ASSERT_EQ(c.incomparable.size(), 1u);
  EXPECT_NE(c.incomparable[0].find("lacks 44 row(s)"), std::string::npos) << c.incomparable[0];
  EXPECT_EQ(compare_exit_code(c), 2);
  // The other way round the extra rows are only "added".
  const Comparison reverse = compare_reports(head, base, kDefaults);
  EXPECT_EQ(reverse.counts.added, 44 * 3);
  EXPECT_EQ(compare_exit_code(reverse), 0);
}

TEST(ReportCompareReports, MissingBackendIsARegressionAddedIsNot) {
  const Report base = test::synthetic_report();
  const Report fewer = test::synthetic_report(backend_options({"custom", "cudnn-nhwc"}));
  Comparison c = compare_reports(base, fewer, kDefaults);
  EXPECT_EQ(c.counts.missing, 54 + 2);
  EXPECT_EQ(compare_exit_code(c), 1);
  c = compare_reports(fewer, base, kDefaults);
  EXPECT_EQ(c.counts.added, 54 + 2);
  EXPECT_EQ(compare_exit_code(c), 0);
}

TEST(ReportCompareReports, WarningsDoNotChangeTheVerdict) {
  const Report base = test::synthetic_report();
  Report head = base;
  head.device.clocks.throttled = true;
  head.device.clocks.throttle_note = "sm 1980 -> 1410 MHz";
  head.device.cudnn = "9.19.0";
  const Comparison c = compare_reports(base, head, kDefaults);
  EXPECT_EQ(compare_exit_code(c), 0);
  ASSERT_GE(c.warnings.size(), 2u);
  const std::string md = render_compare_markdown(c, base, head, {});
  EXPECT_NE(md.find("throttled"), std::string::npos);
  EXPECT_NE(md.find("9.19.0"), std::string::npos);
}

// --- the markdown ------------------------------------------------------------------------

TEST(ReportCompareMarkdown, HeadlineCountsAndChangedRowsOnly) {
  const Report base = test::synthetic_report();
  Report head = base;
  test::scale_timing(test::layer_result(head, 7, 1, "warm", "custom").timing, 1.25);
  const Comparison c = compare_reports(base, head, kDefaults);
  const std::string md = render_compare_markdown(c, base, head, {false, "base.json", "new.json"});
  EXPECT_EQ(md.rfind("## ✗ REGRESSION", 0), 0u) << md;
  EXPECT_NE(md.find("**1 regression** (1 slower, 0 broken, 0 missing)"), std::string::npos) << md;
  EXPECT_NE(md.find("| **slower** ✗ |"), std::string::npos) << md;
  EXPECT_NE(md.find("+25.0%"), std::string::npos) << md;
  EXPECT_NE(md.find("`base.json`"), std::string::npos);
  EXPECT_EQ(md.find("| same"), std::string::npos) << "unchanged rows are hidden by default";

  const std::string all = render_compare_markdown(c, base, head, {true, "base.json", "new.json"});
  EXPECT_NE(all.find("| same"), std::string::npos);
  EXPECT_GT(test::count_lines(all), 54 * 3);
}

}  // namespace
}  // namespace mbv2
