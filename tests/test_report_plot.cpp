// reports/plot_report.py on a synthetic report: PNG and SVG per batch, robust to results
// that did not pass. Skips when /usr/bin/python3 has no matplotlib.
#include "test_report_fixtures.h"

namespace mbv2 {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

std::string plot_script() { return std::string(MBV2_SOURCE_DIR) + "/reports/plot_report.py"; }

/// Empty when matplotlib can be imported, else why not.
std::string matplotlib_missing(const std::string& dir) {
  const auto r = test::run_command(std::string(kPython) + " -c 'import matplotlib, numpy'", dir);
  if (r.exit_code == 0) return "";
  return std::string(kPython) + " cannot import matplotlib/numpy (exit " +
         std::to_string(r.exit_code) + "): " + r.err.substr(0, 200);
}

bool starts_with_bytes(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

TEST(ReportPlot, WritesPngAndSvgPerBatchAndSkipsResultsThatDidNotPass) {
  const std::string dir = test::fresh_temp_dir("plot");
  const std::string why = matplotlib_missing(dir);
  if (!why.empty()) GTEST_SKIP() << why;

  test::SyntheticOptions opt;
  opt.batches = {1, 8};
  Report report = test::synthetic_report(opt);
  LayerResult& bad = test::layer_result(report, 4, 1, "warm", "custom");
  bad.disposition = Disposition::kIncorrect;
  bad.agreement->pass = false;
  LayerResult& skipped = test::layer_result(report, 5, 1, "warm", "custom");
  skipped.disposition = Disposition::kNotRun;
  skipped.timing.reset();
  for (const char* backend : {"cudnn-nhwc", "cudnn-nchw"}) {
    LayerResult& r = test::layer_result(report, 6, 8, "warm", backend);
    r.disposition = Disposition::kNotSupported;
    r.timing.reset();
  }
  const std::string path = dir + "/h100-fp32.json";
  write_report(report, path);
  const std::string out_dir = dir + "/plots";

  const auto r = test::run_command(std::string(kPython) + " " + test::shell_quote(plot_script()) +
                                       " " + test::shell_quote(path) + " --out-dir " +
                                       test::shell_quote(out_dir),
                                   dir);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* kind : {"layers", "roofline"})
    for (int batch : {1, 8}) {
      const std::string stem = out_dir + "/h100-fp32-" + kind + "-b" + std::to_string(batch);
      const std::string png = test::read_text(stem + ".png");
      const std::string svg = test::read_text(stem + ".svg");
      EXPECT_TRUE(starts_with_bytes(png, "\x89PNG\r\n\x1a\n")) << stem << ".png";
      EXPECT_GT(png.size(), 10000u) << stem << ".png";
      EXPECT_NE(svg.find("<svg"), std::string::npos) << stem << ".svg";
      EXPECT_NE(r.out.find(stem + ".png"), std::string::npos) << r.out;
    }
  // Skipped results are marked, not drawn as times (matplotlib keeps SVG text as glyph
  // paths, so look for the mark's label in the comment it leaves beside each text).
  const std::string svg = test::read_text(out_dir + "/h100-fp32-roofline-b1.svg");
  EXPECT_NE(svg.find("layer 4: custom INCORRECT"), std::string::npos);
  EXPECT_NE(svg.find("layer 5: custom not run"), std::string::npos);
  EXPECT_NE(test::read_text(out_dir + "/h100-fp32-roofline-b8.svg").find("layer 6: no cuDNN"),
            std::string::npos);
}

TEST(ReportPlot, BadReportsExitTwoWithOneLine) {
  const std::string dir = test::fresh_temp_dir("plot_bad");
  const std::string why = matplotlib_missing(dir);
  if (!why.empty()) GTEST_SKIP() << why;
  const std::string text = report_to_json(test::synthetic_report());
  test::write_text(dir + "/truncated.json", text.substr(0, text.size() / 3));
  test::write_text(dir + "/other.json", "{\"schema\": \"something-else/1\"}");
  for (const char* name : {"truncated.json", "other.json", "absent.json"}) {
    const auto r = test::run_command(std::string(kPython) + " " + test::shell_quote(plot_script()) +
                                         " " + test::shell_quote(dir + "/" + name) +
                                         " --out-dir " + test::shell_quote(dir + "/plots"),
                                     dir);
    EXPECT_EQ(r.exit_code, 2) << name << ": " << r.err;
    EXPECT_EQ(test::count_lines(r.err), 1) << name << ": " << r.err;
    EXPECT_NE(r.err.find("plot_report.py: error:"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace mbv2
