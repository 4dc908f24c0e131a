// The mbv2_report binary end to end: exit codes, one-line errors, markdown on stdout.
#include "test_report_fixtures.h"

namespace mbv2 {
namespace {

using test::count_lines;
using test::shell_quote;

class ReportCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_temp_dir("cli");
    base_ = test::synthetic_report();
    base_path_ = dir_ + "/base.json";
    write_report(base_, base_path_);
  }

  std::string write(const Report& r, const std::string& name) {
    const std::string path = dir_ + "/" + name;
    write_report(r, path);
    return path;
  }

  test::CommandResult report_tool(const std::string& args) {
    return test::run_command(shell_quote(MBV2_REPORT_EXE) + " " + args, dir_);
  }

  test::CommandResult compare(const std::string& head_path, const std::string& extra = "") {
    return report_tool("compare " + shell_quote(base_path_) + " " + shell_quote(head_path) +
                       (extra.empty() ? "" : " " + extra));
  }

  std::string dir_;
  Report base_;
  std::string base_path_;
};

TEST_F(ReportCli, HelpExitsZero) {
  const auto r = report_tool("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("compare BASE.json NEW.json"), std::string::npos) << r.out;
}

TEST_F(ReportCli, SelfComparePasses) {
  const auto r = compare(base_path_);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.rfind("## ✓ PASS", 0), 0u) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(ReportCli, ClearRegressionExitsOne) {
  Report head = base_;
  test::scale_timing(test::layer_result(head, 5, 1, "warm", "custom").timing, 1.3);
  const auto r = compare(write(head, "slower.json"));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("REGRESSION"), std::string::npos);
  EXPECT_NE(r.out.find("features.2.conv.2"), std::string::npos) << r.out;  // layer 5
  EXPECT_NE(r.out.find("+30.0%"), std::string::npos) << r.out;
}

TEST_F(ReportCli, ClearImprovementExitsZero) {
  Report head = base_;
  for (LayerRow& row : head.layers) test::scale_timing(row.results[0].timing, 0.7);
  const auto r = compare(write(head, "faster.json"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("54 improvements"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("faster ✓"), std::string::npos);
}

TEST_F(ReportCli, NoiseIsSameOrInconclusive) {
  test::SyntheticOptions noisy;
  noisy.cv = 0.1;
  const Report base = test::synthetic_report(noisy);
  const std::string base_path = write(base, "noisy_base.json");
  Report head = base;
  for (LayerRow& row : head.layers) test::scale_timing(row.results[0].timing, 1.02);
  const auto same = report_tool("compare " + shell_quote(base_path) + " " +
                                shell_quote(write(head, "noisy_same.json")));
  EXPECT_EQ(same.exit_code, 0) << same.out;
  for (LayerRow& row : head.layers) test::scale_timing(row.results[0].timing, 1.1 / 1.02);
  const auto inconclusive = report_tool("compare " + shell_quote(base_path) + " " +
                                        shell_quote(write(head, "noisy_10.json")));
  EXPECT_EQ(inconclusive.exit_code, 2) << inconclusive.out;
  EXPECT_NE(inconclusive.out.find("INCONCLUSIVE"), std::string::npos);
}

TEST_F(ReportCli, AccuracyRegressionWithFasterTimingExitsOne) {
  Report head = base_;
  LayerResult& r = test::layer_result(head, 30, 1, "warm", "custom");
  test::scale_timing(r.timing, 0.5);
  r.agreement->rel_l2 = 3e-4;  // past the 1e-4 tolerance, though marked passed
  const auto out = compare(write(head, "inaccurate.json"));
  EXPECT_EQ(out.exit_code, 1) << out.out;
  EXPECT_NE(out.out.find("**broken** ✗"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("tolerance"), std::string::npos) << out.out;
}

TEST_F(ReportCli, ThresholdFlagAndMarkdownOut) {
  Report head = base_;
  test::scale_timing(test::layer_result(head, 5, 1, "warm", "custom").timing, 1.3);
  const std::string head_path = write(head, "slower.json");
  EXPECT_EQ(compare(head_path, "--threshold=40%").exit_code, 0);
  EXPECT_EQ(compare(head_path, "--threshold=10").exit_code, 1);
  // A per-layer threshold: the 30% slower layer passes at 40% per layer, and the header says so.
  const auto layer_loose = compare(head_path, "--layer-threshold=40%");
  EXPECT_EQ(layer_loose.exit_code, 0) << layer_loose.out;
  EXPECT_NE(layer_loose.out.find("(per layer 40"), std::string::npos) << layer_loose.out;
  EXPECT_EQ(compare(head_path, "--threshold=40% --layer-threshold=10%").exit_code, 1);
  const std::string md_path = dir_ + "/summary.md";
  const auto r = compare(head_path, "--all --markdown-out=" + shell_quote(md_path));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(test::read_text(md_path), r.out);
  EXPECT_GT(count_lines(r.out), 54 * 3);
}

TEST_F(ReportCli, MismatchedDevicesExitTwoOnOneLine) {
  Report head = base_;
  head.device.name = "NVIDIA A100-SXM4-80GB";
  const auto r = compare(write(head, "a100.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("INCOMPARABLE"), std::string::npos);
  EXPECT_NE(r.out.find("different GPU"), std::string::npos);
  EXPECT_NE(r.out.find("A100"), std::string::npos);
}

TEST_F(ReportCli, OtherSchemaExitsTwoOnOneLine) {
  std::string text = report_to_json(base_);
  const std::string from = std::string("\"") + kReportSchema + "\"";
  text.replace(text.find(from), from.size(), "\"mbv2-bench-report/2\"");
  const std::string path = dir_ + "/schema2.json";
  test::write_text(path, text);
  const auto r = compare(path);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("mbv2-bench-report/2"), std::string::npos) << r.err;
}

TEST_F(ReportCli, TruncatedOrCorruptJsonExitsTwoWithOneClearLine) {
  const std::string text = report_to_json(base_);
  const std::string truncated = dir_ + "/truncated.json";
  test::write_text(truncated, text.substr(0, text.size() / 2));
  const std::string garbage = dir_ + "/garbage.json";
  test::write_text(garbage, "{\"schema\": \"mbv2-bench-report/1\", \"layers\": [1, 2,,]}");
  const std::string empty = dir_ + "/empty.json";
  test::write_text(empty, "");
  std::string missing_field = text;
  missing_field.replace(missing_field.find("\"device\""), 8, "\"devise\"");
  const std::string mistyped = dir_ + "/mistyped.json";
  test::write_text(mistyped, missing_field);
  for (const std::string& path : {truncated, garbage, empty, mistyped, dir_ + "/absent.json"}) {
    const auto r = compare(path);
    EXPECT_EQ(r.exit_code, 2) << path;
    EXPECT_EQ(count_lines(r.err), 1) << path << ": " << r.err;
    EXPECT_EQ(r.err.rfind("mbv2_report: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(path), std::string::npos) << "the error names the file: " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_NE(compare(truncated).err.find("not valid JSON"), std::string::npos);
  EXPECT_NE(compare(mistyped).err.find("does not match schema"), std::string::npos);
}

TEST_F(ReportCli, UsageErrorsExitTwoOnOneLine) {
  for (const std::string& args :
       {std::string("frobnicate"), std::string(""), "compare " + shell_quote(base_path_),
        "compare " + shell_quote(base_path_) + " " + shell_quote(base_path_) + " --bogus",
        "compare " + shell_quote(base_path_) + " " + shell_quote(base_path_) + " --threshold=abc",
        "compare " + shell_quote(base_path_) + " " + shell_quote(base_path_) + " --threshold=150%",
        "compare " + shell_quote(base_path_) + " " + shell_quote(base_path_) + " --layer-threshold=-1%",
        "compare " + shell_quote(base_path_) + " " + shell_quote(base_path_) + " --layer-threshold=",
        "summary " + shell_quote(base_path_) + " --layer-threshold=10%",
        "summary " + shell_quote(base_path_) + " --all"}) {
    const auto r = report_tool(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(count_lines(r.err), 1) << args << ": " << r.err;
    EXPECT_EQ(r.err.rfind("mbv2_report: error: ", 0), 0u) << r.err;
    EXPECT_TRUE(r.out.empty()) << args << ": " << r.out;
  }
}

TEST_F(ReportCli, SummaryPrintsTheMarkdown) {
  const auto r = report_tool("summary " + shell_quote(base_path_));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("# mbv2-bench report: NVIDIA H100 80GB HBM3 · fp32", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("## Batch 1, per layer (warm)"), std::string::npos);
  EXPECT_NE(r.out.find("## End to end"), std::string::npos);
}

}  // namespace
}  // namespace mbv2
