// render_summary_markdown on a synthetic report with hand-set numbers.
#include "reports/report_summary.h"
#include "test_report_fixtures.h"

namespace mbv2 {
namespace {

/// The table line of a layer in a rendered section ("|   0 | features.0.0 |...").
std::string table_line(const std::string& md, const std::string& section,
                       const std::string& start) {
  const size_t s = md.find(section);
  if (s == std::string::npos) return "";
  size_t pos = md.find("\n" + start, s);
  if (pos == std::string::npos) return "";
  ++pos;
  return md.substr(pos, md.find('\n', pos) - pos);
}

/// The trimmed cells of a table line, "| a |  b |" -> {"a", "b"}.
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = line.find('|');
  while (pos != std::string::npos) {
    const size_t next = line.find('|', pos + 1);
    if (next == std::string::npos) break;
    std::string cell = line.substr(pos + 1, next - pos - 1);
    cell.erase(0, cell.find_first_not_of(' '));
    cell.erase(cell.find_last_not_of(' ') + 1);
    out.push_back(cell);
    pos = next;
  }
  return out;
}

class ReportSummary : public ::testing::Test {
 protected:
  void SetUp() override {
    test::SyntheticOptions opt;
    opt.batches = {1, 8};
    opt.regimes = {"warm", "cold"};
    report_ = test::synthetic_report(opt);
    // Layer 0, batch 1, warm: custom 12.5 µs, cuDNN NHWC 20.0 µs, NCHW 18.0 µs, so the best
    // cuDNN is NCHW and the speedup is 18.0 / 12.5 = 1.44.
    LayerResult& ours = test::layer_result(report_, 0, 1, "warm", "custom");
    ours.timing = test::make_timing(12.5);
    ours.pct_of_ceiling = 42.25;
    ours.agreement->rel_l2 = 3.1e-7;
    test::layer_result(report_, 0, 1, "warm", "cudnn-nhwc").timing = test::make_timing(20.0);
    test::layer_result(report_, 0, 1, "warm", "cudnn-nchw").timing = test::make_timing(18.0);
    // Layer 1: custom loses, 30 µs against NHWC 24 µs (0.80x; NCHW 26 µs).
    test::layer_result(report_, 1, 1, "warm", "custom").timing = test::make_timing(30.0);
    test::layer_result(report_, 1, 1, "warm", "cudnn-nhwc").timing = test::make_timing(24.0);
    test::layer_result(report_, 1, 1, "warm", "cudnn-nchw").timing = test::make_timing(26.0);
    // Layer 2: custom incorrect; layer 3: the faster cuDNN variant is incorrect, so the
    // slower correct one is the baseline.
    LayerResult& bad = test::layer_result(report_, 2, 1, "warm", "custom");
    bad.disposition = Disposition::kIncorrect;
    bad.note = "rel-L2 5.0e-02 > 1.0e-04";
    bad.agreement->rel_l2 = 5e-2;
    bad.agreement->pass = false;
    test::layer_result(report_, 3, 1, "warm", "custom").timing = test::make_timing(100.0);
    test::layer_result(report_, 3, 1, "warm", "cudnn-nhwc").timing = test::make_timing(150.0);
    LayerResult& wrong = test::layer_result(report_, 3, 1, "warm", "cudnn-nchw");
    wrong.timing = test::make_timing(50.0);
    wrong.disposition = Disposition::kIncorrect;
    wrong.note = "NaN in output";
    // End to end, batch 8 graph: custom 400 µs (20000 images/s), NHWC 500 µs, NCHW 600 µs.
    EndToEndResult& e2e = test::e2e_result(report_, 8, "graph", "custom");
    e2e.timing = test::make_timing(400.0);
    e2e.host_timing = test::make_timing(123.0);  // host enqueue; NHWC and NCHW have none
    e2e.images_per_s = 20000.0;
    test::e2e_result(report_, 8, "graph", "cudnn-nhwc").timing = test::make_timing(500.0);
    test::e2e_result(report_, 8, "graph", "cudnn-nchw").timing = test::make_timing(600.0);
    test::e2e_result(report_, 8, "graph", "cudnn-nchw").top5_match = false;
    test::fill_summary(report_);
    md_ = render_summary_markdown(report_);
  }

  Report report_;
  std::string md_;
};

TEST_F(ReportSummary, HeaderNamesDeviceRunAndCorrectness) {
  EXPECT_EQ(md_.rfind("# mbv2-bench report: NVIDIA H100 80GB HBM3 · fp32\n", 0), 0u) << md_;
  EXPECT_NE(md_.find("132 SMs"), std::string::npos);
  EXPECT_NE(md_.find("not throttled"), std::string::npos);
  EXPECT_NE(md_.find("3000 GB/s"), std::string::npos);
  EXPECT_NE(md_.find("51000 GFLOP/s"), std::string::npos);
  EXPECT_NE(md_.find("batches 1, 8"), std::string::npos);
  EXPECT_NE(md_.find("`data/mobilenet_v2.safetensors`"), std::string::npos);
  EXPECT_NE(md_.find("0123456789abcdef"), std::string::npos);
  EXPECT_NE(md_.find("**2 incorrect** ✗"), std::string::npos) << md_;
}

TEST_F(ReportSummary, ThrottlingIsFlagged) {
  report_.device.clocks.throttled = true;
  report_.device.clocks.throttle_note = "sm 1980 -> 1410 MHz";
  const std::string md = render_summary_markdown(report_);
  EXPECT_NE(md.find("**THROTTLED** (sm 1980 -> 1410 MHz)"), std::string::npos) << md;
}

TEST_F(ReportSummary, LayerRowsCarryTheExpectedNumbers) {
  const std::string section = "## Batch 1, per layer (warm)";
  const std::string l0 = table_line(md_, section, "|   0 |");
  EXPECT_NE(l0.find("features.0.0"), std::string::npos) << l0;
  EXPECT_NE(l0.find("stem"), std::string::npos) << l0;
  EXPECT_NE(l0.find("224x224x3→112x112x32"), std::string::npos) << l0;
  EXPECT_NE(l0.find(" 12.5 |"), std::string::npos) << l0;
  EXPECT_NE(l0.find("18.0 (nchw)"), std::string::npos) << l0;
  EXPECT_NE(l0.find("1.44× ✓"), std::string::npos) << l0;
  EXPECT_NE(l0.find("42.2%"), std::string::npos) << l0;
  EXPECT_NE(l0.find("3.1e-07 ✓"), std::string::npos) << l0;

  const std::string l1 = table_line(md_, section, "|   1 |");
  EXPECT_NE(l1.find("0.80× ✗"), std::string::npos) << l1;
  EXPECT_NE(l1.find("24.0 (nhwc)"), std::string::npos) << l1;

  const std::string l2 = table_line(md_, section, "|   2 |");
  EXPECT_NE(l2.find("**incorrect** ✗"), std::string::npos) << l2;
  EXPECT_NE(l2.find("**5.0e-02 ✗** (tol 1.0e-04)"), std::string::npos) << l2;

  const std::string l3 = table_line(md_, section, "|   3 |");
  EXPECT_NE(l3.find("150 (nhwc)"), std::string::npos) << "incorrect NCHW is no baseline: " << l3;
  EXPECT_NE(l3.find("1.50× ✓"), std::string::npos) << l3;
}

TEST_F(ReportSummary, SectionsForEveryBatchAndRegimeAndTheWinCount) {
  for (const char* s : {"## Batch 1, per layer (warm)", "## Batch 1, per layer (cold)",
                        "## Batch 8, per layer (warm)", "## Batch 8, per layer (cold)",
                        "## End to end", "## Custom vs best cuDNN", "## Reconciliation"})
    EXPECT_NE(md_.find(s), std::string::npos) << s;
  // Batch 1 warm: count the wins from the rows, independently of the renderer; layer 2
  // (custom incorrect) is the one not compared.
  int wins = 0, compared = 0;
  for (const LayerRow& row : report_.layers) {
    if (row.batch != 1 || row.regime != "warm") continue;
    const LayerResult* ours = nullptr;
    double best = 0.0;
    for (const LayerResult& r : row.results) {
      if (r.disposition != Disposition::kPassed) continue;
      if (r.backend == "custom") ours = &r;
      else if (best == 0.0 || r.timing->median_us < best) best = r.timing->median_us;
    }
    if (!ours || best == 0.0) continue;
    ++compared;
    wins += ours->timing->median_us < best;
  }
  EXPECT_EQ(compared, 53);
  EXPECT_NE(md_.find("on **" + std::to_string(wins) + " of 53** layers compared (1 not compared"),
            std::string::npos)
      << md_;
}

TEST_F(ReportSummary, EndToEndAndReconciliation) {
  const std::string e2e = table_line(md_, "## End to end", "|     8 | graph  | custom");
  EXPECT_NE(e2e.find(" 400 |"), std::string::npos) << e2e;
  EXPECT_NE(e2e.find("20000"), std::string::npos) << e2e;
  EXPECT_NE(e2e.find("1.25× ✓"), std::string::npos) << e2e;  // 500 / 400
  EXPECT_NE(e2e.find("match ✓"), std::string::npos) << e2e;
  const std::string nchw = table_line(md_, "## End to end", "|     8 | graph  | cudnn-nchw");
  EXPECT_NE(nchw.find("**differs** ✗"), std::string::npos) << nchw;

  // "host µs" follows "CV": the host's enqueue median, a dash where the report has none.
  const std::vector<std::string> head = cells(table_line(md_, "## End to end", "| batch"));
  ASSERT_EQ(head.size(), 10u);
  EXPECT_EQ(head[4], "CV");
  EXPECT_EQ(head[5], "host µs");
  EXPECT_EQ(head[6], "images/s");
  const std::vector<std::string> ours = cells(e2e);
  ASSERT_EQ(ours.size(), 10u) << e2e;
  EXPECT_EQ(ours[3], "400");
  EXPECT_EQ(ours[5], "123");
  EXPECT_EQ(ours[6], "20000");
  const std::vector<std::string> theirs = cells(nchw);
  ASSERT_EQ(theirs.size(), 10u) << nchw;
  EXPECT_EQ(theirs[3], "600");
  EXPECT_EQ(theirs[5], "—");

  const BatchSummary& b8 = report_.summary.batches[1];
  ASSERT_EQ(b8.batch, 8);
  const std::string rec = table_line(md_, "## Reconciliation", "|     8 | custom");
  const double sum = b8.sum_of_layers_us.at("custom");
  char expected[64];
  std::snprintf(expected, sizeof expected, " %.0f |", sum);
  EXPECT_NE(rec.find(expected), std::string::npos) << rec << " vs " << expected;
  std::snprintf(expected, sizeof expected, " %.2f |", 400.0 / sum);
  EXPECT_NE(rec.find(expected), std::string::npos) << rec << " vs " << expected;
}

TEST_F(ReportSummary, ProblemsAreListedWithTheirNotes) {
  EXPECT_NE(md_.find("- custom **incorrect** ✗ on 1 result (layer 2 b1 warm): rel-L2 5.0e-02"),
            std::string::npos)
      << md_;
  EXPECT_NE(md_.find("- cudnn-nchw **incorrect** ✗ on 1 result (layer 3 b1 warm): NaN in output"),
            std::string::npos)
      << md_;
}

TEST_F(ReportSummary, EmptyReportStillRenders) {
  const std::string md = render_summary_markdown(Report{});
  EXPECT_NE(md.find("# mbv2-bench report: unknown"), std::string::npos) << md;
  EXPECT_NE(md.find("No end-to-end results."), std::string::npos);
}

}  // namespace
}  // namespace mbv2
