// The real mbv2_bench on a GPU: a --quick run writes a report that parses and passes,
// Google Benchmark's own JSON, and a markdown summary on stdout; inference prints the
// right class and writes the logits; a batch too large for the GPU is one line, exit 2.
// Every test here skips without a GPU.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "common/npy.h"
#include "common/report.h"
#include "test_bench_process.h"
#include "test_support.h"

namespace mbv2 {
namespace {

TEST(BenchSmoke, QuickRunWritesAPassingReport) {
  MBV2_SKIP_WITHOUT_GPU();
  const std::string report_path = test::temp_path("quick_report") + ".json";
  const std::string gb_path = test::temp_path("quick_gb") + ".json";
  const test::ProcessResult r =
      test::run_bench({"--quick", "--report=" + report_path, "--benchmark_out=" + gb_path});
  ASSERT_EQ(r.status, 0) << "stderr:\n" << r.err << "\nstdout:\n" << r.out;

  // stdout holds the markdown summary and nothing before it.
  EXPECT_EQ(r.out.rfind("# mbv2-bench report", 0), 0u) << r.out.substr(0, 400);

  const Report rep = read_report(report_path);
  EXPECT_TRUE(rep.config.timing.quick);
  EXPECT_EQ(rep.config.batches, (std::vector<int>{1}));
  EXPECT_FALSE(rep.device.name.empty());
  EXPECT_GT(rep.device.sm_count, 0);
  EXPECT_GT(rep.device.ceilings.bandwidth_gbps, 10.0);
  EXPECT_GT(rep.device.ceilings.fp32_gflops, 100.0);
  EXPECT_GT(rep.device.clocks.sm_mhz_before, 0);
  EXPECT_TRUE(rep.summary.all_correct);
  EXPECT_EQ(rep.summary.incorrect_count, 0);
  ASSERT_FALSE(rep.layers.empty());

  std::set<std::string> backends_passed;
  for (const LayerRow& row : rep.layers) {
    EXPECT_TRUE(row.regime == "warm" || row.regime == "cold");
    EXPECT_EQ(row.results.size(), rep.config.backends.size());
    for (const LayerResult& res : row.results) {
      EXPECT_TRUE(res.disposition == Disposition::kPassed || res.disposition == Disposition::kNotSupported)
          << row.name << " " << res.backend << ": " << to_string(res.disposition) << " " << res.note;
      if (res.disposition != Disposition::kPassed) continue;
      backends_passed.insert(res.backend);
      ASSERT_TRUE(res.timing) << row.name << " " << res.backend;
      EXPECT_GT(res.timing->median_us, 0.0);
      EXPECT_LE(res.timing->min_us, res.timing->median_us);
      EXPECT_GE(res.timing->max_us, res.timing->median_us);
      EXPECT_EQ(res.timing->repetitions, 3);
      ASSERT_TRUE(res.agreement);
      EXPECT_TRUE(res.agreement->pass);
      EXPECT_GT(res.gflops, 0.0);
      EXPECT_GT(res.pct_of_ceiling, 0.0);
    }
  }
  for (const std::string& b : rep.config.backends)
    EXPECT_TRUE(backends_passed.count(b)) << b << " passed no layer";

  ASSERT_EQ(rep.end_to_end.size(), 2u);  // stream and graph at batch 1
  for (const EndToEndRow& row : rep.end_to_end)
    for (const EndToEndResult& res : row.results) {
      EXPECT_EQ(res.disposition, Disposition::kPassed) << row.mode << " " << res.backend << ": " << res.note;
      if (res.disposition != Disposition::kPassed) continue;
      ASSERT_TRUE(res.timing);
      EXPECT_GT(res.images_per_s, 0.0);
      EXPECT_TRUE(res.top5_match);
      ASSERT_FALSE(res.top5.empty());
      EXPECT_EQ(res.top5[0][0], 967) << "coffee.png is an espresso";
    }

  // Google Benchmark's own JSON, through --benchmark_out.
  std::ifstream gb(gb_path);
  ASSERT_TRUE(gb.good());
  const nlohmann::json j = nlohmann::json::parse(gb);
  ASSERT_TRUE(j.contains("benchmarks"));
  bool saw_e2e = false;
  for (const auto& b : j["benchmarks"])
    if (b["name"].get<std::string>().rfind("e2e/", 0) == 0) saw_e2e = true;
  EXPECT_TRUE(saw_e2e);
  std::remove(report_path.c_str());
  std::remove(gb_path.c_str());
}

TEST(BenchSmoke, FilterSelectsWhatIsTimed) {
  MBV2_SKIP_WITHOUT_GPU();
  const std::string report_path = test::temp_path("filter_report") + ".json";
  const test::ProcessResult r = test::run_bench({"--quick", "--layers=0", "--l2=warm", "--modes=graph",
                                                 "--report=" + report_path, "--benchmark_filter=e2e/"});
  ASSERT_EQ(r.status, 0) << r.err;
  const Report rep = read_report(report_path);
  for (const LayerRow& row : rep.layers)
    for (const LayerResult& res : row.results) {
      EXPECT_FALSE(res.timing) << "layer rows were filtered out";
      if (res.disposition == Disposition::kPassed) {
        EXPECT_NE(res.note.find("--benchmark_filter"), std::string::npos) << res.note;
      }
    }
  ASSERT_EQ(rep.end_to_end.size(), 1u);
  for (const EndToEndResult& res : rep.end_to_end[0].results) {
    if (res.disposition == Disposition::kPassed) {
      EXPECT_TRUE(res.timing);
    }
  }
  std::remove(report_path.c_str());
}

TEST(BenchSmoke, BatchTooLargeForTheGpuIsOneLineExitTwo) {
  MBV2_SKIP_WITHOUT_GPU();
  const test::ProcessResult r =
      test::run_bench({"--quick", "--batches=100000", "--report=" + test::temp_path("big") + ".json"});
  EXPECT_EQ(r.status, 2) << r.err;
  // Progress lines come first; the last line is the verdict.
  const std::vector<std::string> lines = r.err_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("mbv2_bench: batch 100000 does not fit in GPU memory: ", 0), 0u) << r.err;
}

TEST(BenchSmoke, InferencePrintsTop5AndWritesLogits) {
  MBV2_SKIP_WITHOUT_GPU();
  const std::string logits_path = test::temp_path("logits") + ".npy";
  const test::ProcessResult r =
      test::run_bench({"--infer", "--input=" + test::data_path("coffee_input.npy"), "--logits-out=" + logits_path});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("espresso"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 967 "), std::string::npos) << r.out;

  const NpyArray got = read_npy(logits_path);
  ASSERT_EQ(got.shape, (std::vector<int64_t>{1, 1000}));
  const NpyArray golden = read_npy(test::data_path("coffee_logits_f64.npy"));
  ASSERT_EQ(golden.values.size(), got.values.size());
  std::vector<float> out(got.values.begin(), got.values.end());
  // PyTorch's logits for the same weights and input: FP32 vs FP64 accumulation only.
  const Agreement a = compare(out.data(), golden.values.data(), out.size(), network_tolerance(Precision::kFP32));
  EXPECT_TRUE(a.pass) << a.reason;
  EXPECT_EQ(top_k(out.data(), 1000, 1)[0], 967);
  std::remove(logits_path.c_str());
}

}  // namespace
}  // namespace mbv2
