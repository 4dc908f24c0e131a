// The report file the bench writes: a fully populated report survives write_report /
// read_report unchanged, damaged files (wrong schema, missing field, truncated JSON) are
// InputErrors, never crashes, and reports without the later host_timing still load.
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/git_info.h"
#include "common/report.h"
#include "common/util.h"
#include "test_bench_process.h"
#include "test_support.h"

namespace mbv2 {
namespace {

AgreementReport agreement(double rel_l2, bool pass) {
  AgreementReport a;
  a.max_abs = 3.5e-5;
  a.max_rel = 2.25e-4;
  a.rel_l2 = rel_l2;
  a.nan_count = pass ? 0 : 7;
  a.inf_count = pass ? 0 : 1;
  a.tolerance_rel_l2 = 1e-4;
  a.tolerance_max_abs_frac = 1e-3;
  a.pass = pass;
  return a;
}

Timing timing(double median) {
  Timing t;
  t.median_us = median;
  t.min_us = median * 0.97;
  t.max_us = median * 1.08;
  t.mean_us = median * 1.01;
  t.cv = 0.0123;
  t.repetitions = 7;
  return t;
}

/// Every field set to something other than its default.
Report full_report() {
  Report r;
  r.created = "2025-02-03T04:05:06Z";
  r.git = {"0123456789abcdef0123456789abcdef01234567", true};
  DeviceReport& d = r.device;
  d.name = "NVIDIA H100 80GB HBM3";
  d.compute_capability = "9.0";
  d.sm_count = 132;
  d.l2_bytes = 52428800;
  d.memory_bytes = 85029158912;
  d.driver = "13.0 (driver 580.65.06)";
  d.cuda_runtime = "13.0";
  d.cudnn = "9.14.0";
  d.clocks = {1980, 1755, 1980, 2619, true, "sm 1980 -> 1755 MHz under load (max 1980)"};
  d.ceilings = {2870.5, 61234.25};

  RunConfigReport& c = r.config;
  c.model = "mobilenet_v2";
  c.width_mult = 0.75;
  c.resolution = 192;
  c.num_classes = 1000;
  c.precision = "tf32";
  c.batches = {1, 256};
  c.backends = {"custom", "cudnn-nhwc", "cudnn-nchw"};
  c.weights = {"synthetic", "/data/w.safetensors", "deadbeefcafef00d", 42, true};
  c.input = {"npy", "/data/x.npy", 9};
  c.timing.repetitions = 7;
  c.timing.min_time_s = 0.25;
  c.timing.warmup = 3;
  c.timing.launches_per_sample = 34;
  c.timing.regimes = {"warm", "cold"};
  c.timing.modes = {"stream", "graph"};
  c.timing.quick = true;

  LayerRow row;
  row.index = 4;
  row.name = "features.2.conv.1.0";
  row.kind = "conv";
  row.role = "depthwise";
  row.description = "conv3x3 s2 dw 96->96 112x112->56x56 +relu6";
  row.batch = 256;
  row.regime = "cold";
  row.input_shape = {256, 96, 112, 112};
  row.output_shape = {256, 96, 56, 56};
  row.flops = 1387266048;
  row.bytes = 1541408256;
  LayerResult passed;
  passed.backend = "custom";
  passed.disposition = Disposition::kPassed;
  passed.note = "sampled without the stream-blocking kernel";
  passed.timing = timing(812.5);
  passed.gflops = 1707.4;
  passed.gbps = 1897.1;
  passed.pct_of_ceiling = 66.1;
  passed.what_ran = "dw3x3_s2 tile 32x8";
  passed.agreement = agreement(3.1e-7, true);
  LayerResult incorrect = passed;
  incorrect.backend = "cudnn-nhwc";
  incorrect.disposition = Disposition::kIncorrect;
  incorrect.note = "rel-L2 0.5 > 0.0001";
  incorrect.agreement = agreement(0.5, false);
  LayerResult unsupported;
  unsupported.backend = "cudnn-nchw";
  unsupported.disposition = Disposition::kNotSupported;
  unsupported.note = "no engine";
  row.results = {passed, incorrect, unsupported};
  r.layers.push_back(row);

  EndToEndRow e2e;
  e2e.batch = 256;
  e2e.mode = "graph";
  EndToEndResult er;
  er.backend = "custom";
  er.disposition = Disposition::kPassed;
  er.note = "";
  er.timing = timing(20500.0);
  er.host_timing = timing(612.5);
  er.images_per_s = 12487.8;
  er.agreement = agreement(2e-6, true);
  er.top5_match = true;
  er.top5 = {{967, 925, 968, 504, 809}, {282, 281, 285, 287, 283}};
  er.what_ran = "layer by layer (CUDA graph replay)";
  EndToEndResult not_run;
  not_run.backend = "cudnn-nchw";
  not_run.disposition = Disposition::kNotRun;
  not_run.note = "forward() failed: boom";
  e2e.results = {er, not_run};
  r.end_to_end.push_back(e2e);

  BatchSummary b;
  b.batch = 256;
  b.regime = "warm";
  b.layers_total = 54;
  b.layers_custom_faster = 17;
  b.best_cudnn = "cudnn-nhwc";
  b.e2e_speedup_stream = 1.07;
  b.e2e_speedup_graph = 0.93;
  b.sum_of_layers_us = {{"custom", 19876.5}, {"cudnn-nhwc", 18765.4}};
  b.e2e_stream_us = {{"custom", 21000.0}};
  b.e2e_graph_us = {{"custom", 20500.0}, {"cudnn-nhwc", 19000.0}};
  r.summary.all_correct = false;
  r.summary.incorrect_count = 1;
  r.summary.batches = {b};
  r.summary.notes = {"warm = K back-to-back launches", "ünïcödé µs note"};
  return r;
}

std::string write_text(const std::string& text) {
  const std::string path = test::temp_path("report") + ".json";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

void expect_input_error(const std::string& text, const std::string& needle) {
  const std::string path = write_text(text);
  try {
    read_report(path);
    ADD_FAILURE() << "no error for a damaged report containing '" << needle << "'";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
  std::remove(path.c_str());
}

TEST(BenchReport, FullyPopulatedReportRoundTrips) {
  const Report original = full_report();
  const std::string path = test::temp_path("report") + ".json";
  write_report(original, path);
  // Written atomically: the temporary file is gone.
  EXPECT_FALSE(std::ifstream(path + ".tmp").good());
  const Report back = read_report(path);
  EXPECT_EQ(report_to_json(back), report_to_json(original));

  // Spot checks against the values, not just against the serialiser.
  EXPECT_EQ(back.schema, std::string(kReportSchema));
  EXPECT_EQ(back.git.sha, original.git.sha);
  EXPECT_TRUE(back.git.dirty);
  EXPECT_EQ(back.device.l2_bytes, 52428800);
  EXPECT_EQ(back.device.memory_bytes, 85029158912);
  EXPECT_TRUE(back.device.clocks.throttled);
  EXPECT_DOUBLE_EQ(back.device.ceilings.fp32_gflops, 61234.25);
  EXPECT_EQ(back.config.weights.seed, 42u);
  EXPECT_EQ(back.config.timing.launches_per_sample, 34);
  ASSERT_EQ(back.layers.size(), 1u);
  ASSERT_EQ(back.layers[0].results.size(), 3u);
  EXPECT_EQ(back.layers[0].results[1].disposition, Disposition::kIncorrect);
  EXPECT_EQ(back.layers[0].results[2].disposition, Disposition::kNotSupported);
  EXPECT_FALSE(back.layers[0].results[2].timing.has_value());
  EXPECT_FALSE(back.layers[0].results[2].agreement.has_value());
  ASSERT_TRUE(back.layers[0].results[0].timing.has_value());
  EXPECT_DOUBLE_EQ(back.layers[0].results[0].timing->median_us, 812.5);
  EXPECT_EQ(back.layers[0].results[1].agreement->nan_count, 7);
  EXPECT_EQ(back.end_to_end[0].results[0].top5[1][0], 282);
  EXPECT_EQ(back.end_to_end[0].results[1].disposition, Disposition::kNotRun);
  ASSERT_TRUE(back.end_to_end[0].results[0].host_timing.has_value());
  EXPECT_DOUBLE_EQ(back.end_to_end[0].results[0].host_timing->median_us, 612.5);
  EXPECT_EQ(back.end_to_end[0].results[0].host_timing->repetitions, 7);
  EXPECT_FALSE(back.end_to_end[0].results[1].host_timing.has_value());
  EXPECT_DOUBLE_EQ(back.summary.batches[0].sum_of_layers_us.at("cudnn-nhwc"), 18765.4);
  EXPECT_EQ(back.summary.notes[1], "ünïcödé µs note");

  // Writing again over an existing file replaces it.
  Report changed = original;
  changed.created = "2030-01-01T00:00:00Z";
  write_report(changed, path);
  EXPECT_EQ(read_report(path).created, "2030-01-01T00:00:00Z");
  std::remove(path.c_str());
}

TEST(BenchReport, WrongSchemaIsAnInputError) {
  nlohmann::json j = nlohmann::json::parse(report_to_json(full_report()));
  j["schema"] = "mbv2-bench-report/0";
  expect_input_error(j.dump(), "mbv2-bench-report/0");
  j.erase("schema");
  expect_input_error(j.dump(), "schema");
  expect_input_error("[1, 2, 3]", "not a JSON object");
}

TEST(BenchReport, MissingOrMistypedFieldIsAnInputError) {
  const nlohmann::json good = nlohmann::json::parse(report_to_json(full_report()));
  nlohmann::json j = good;
  j.erase("device");
  expect_input_error(j.dump(), "device");
  j = good;
  j["layers"][0]["results"][0].erase("disposition");
  expect_input_error(j.dump(), "disposition");
  j = good;
  j["device"]["sm_count"] = "many";
  expect_input_error(j.dump(), "schema");
  j = good;
  j["layers"][0]["results"][0]["disposition"] = "fast";
  expect_input_error(j.dump(), "fast");
}

// host_timing came after the schema's first reports: a report without it still loads (and
// compares); written again, the key is there, null. Every other key stays required.
TEST(BenchReport, EndToEndHostTimingMayBeAbsentButNotMistyped) {
  const nlohmann::json good = nlohmann::json::parse(report_to_json(full_report()));
  ASSERT_TRUE(good["end_to_end"][0]["results"][0]["host_timing"].is_object());
  EXPECT_TRUE(good["end_to_end"][0]["results"][1]["host_timing"].is_null());

  nlohmann::json old = good;
  for (nlohmann::json& r : old["end_to_end"][0]["results"]) r.erase("host_timing");
  const Report back = report_from_json(old.dump());
  ASSERT_EQ(back.end_to_end[0].results.size(), 2u);
  EXPECT_FALSE(back.end_to_end[0].results[0].host_timing.has_value());
  ASSERT_TRUE(back.end_to_end[0].results[0].timing.has_value());
  EXPECT_DOUBLE_EQ(back.end_to_end[0].results[0].timing->median_us, 20500.0);
  EXPECT_EQ(back.end_to_end[0].results[0].what_ran, "layer by layer (CUDA graph replay)");
  const nlohmann::json again = nlohmann::json::parse(report_to_json(back));
  ASSERT_TRUE(again["end_to_end"][0]["results"][0].contains("host_timing"));
  EXPECT_TRUE(again["end_to_end"][0]["results"][0]["host_timing"].is_null());

  nlohmann::json j = good;
  j["end_to_end"][0]["results"][0]["host_timing"] = "fast";
  expect_input_error(j.dump(), "schema");
  j = good;
  j["end_to_end"][0]["results"][0]["host_timing"].erase("median_us");
  expect_input_error(j.dump(), "median_us");
  for (const char* key : {"backend", "disposition", "note", "timing", "images_per_s",
                          "agreement", "top5_match", "top5", "what_ran"}) {
    j = good;
    j["end_to_end"][0]["results"][0].erase(key);
    expect_input_error(j.dump(), key);
  }
}

// The committed reference predates host_timing and must keep loading.
TEST(BenchReport, CommittedReferenceReportLoads) {
  const Report r = read_report(std::string(MBV2_SOURCE_DIR) + "/reports/h200-fp32.json");
  ASSERT_FALSE(r.end_to_end.empty());
  ASSERT_FALSE(r.end_to_end[0].results.empty());
  EXPECT_TRUE(r.end_to_end[0].results[0].timing.has_value());
  // Written since host_timing exists (reports without it load too: see the test above).
  ASSERT_TRUE(r.end_to_end[0].results[0].host_timing.has_value());
  EXPECT_GT(r.end_to_end[0].results[0].host_timing->median_us, 0.0);
}

TEST(BenchReport, TruncatedOrMissingFileIsAnInputError) {
  const std::string text = report_to_json(full_report());
  expect_input_error(text.substr(0, text.size() / 2), "not valid JSON");
  expect_input_error("", "not valid JSON");
  EXPECT_THROW(read_report("/nonexistent_folder/report.json"), InputError);
  EXPECT_THROW(write_report(full_report(), "/nonexistent_folder/report.json"), InputError);
}

}  // namespace
}  // namespace mbv2

namespace mbv2 {
namespace {

// The source tree here is a git checkout, yet an explicit MBV2_GIT_SHA wins: a tree copied to
// a GPU machine may carry a stale .git. Without the variable, git's HEAD is read.
TEST(GitInfo, ExplicitShaWinsOverTheCheckout) {
  ::setenv("MBV2_GIT_SHA", "0123456789abcdef0123456789abcdef01234567", 1);
  ::setenv("MBV2_GIT_DIRTY", "1", 1);
  const GitInfo told = read_git_info(MBV2_SOURCE_DIR);
  EXPECT_EQ(told.sha, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_TRUE(told.dirty);
  ::unsetenv("MBV2_GIT_SHA");
  ::unsetenv("MBV2_GIT_DIRTY");
  const GitInfo read = read_git_info(MBV2_SOURCE_DIR);
  EXPECT_NE(read.sha, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_NE(read.sha, "");
}

}  // namespace
}  // namespace mbv2
