// The numbers the bench derives from its samples: statistics, rates against the
// ceilings, which repetitions count, benchmark names, and the custom-vs-cuDNN summary.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "bench/report_assembly.h"
#include "bench/statistics.h"
#include "bench/suite.h"
#include "common/model.h"
#include "test_support.h"

namespace mbv2 {
namespace {

const std::map<std::string, std::string> kFamily = {
    {"custom", "custom"}, {"cudnn-nhwc", "cudnn"}, {"cudnn-nchw", "cudnn"}};

TEST(BenchStatistics, MedianMinMaxMeanCv) {
  EXPECT_DOUBLE_EQ(median_of({}), 0.0);
  EXPECT_DOUBLE_EQ(median_of({5.0}), 5.0);
  EXPECT_DOUBLE_EQ(median_of({9.0, 1.0, 5.0}), 5.0);
  EXPECT_DOUBLE_EQ(median_of({4.0, 1.0, 3.0, 2.0}), 2.5);

  // Seconds in, microseconds out. Values 10, 20, 30, 40, 1000 µs.
  const Timing t = summarize_repetitions({20e-6, 10e-6, 1000e-6, 40e-6, 30e-6});
  EXPECT_EQ(t.repetitions, 5);
  EXPECT_NEAR(t.median_us, 30.0, 1e-9);
  EXPECT_NEAR(t.min_us, 10.0, 1e-9);
  EXPECT_NEAR(t.max_us, 1000.0, 1e-9);
  EXPECT_NEAR(t.mean_us, 220.0, 1e-9);
  // Sample standard deviation (n - 1), computed by hand.
  const double ss = (210 * 210) + (200 * 200) + (190 * 190) + (180 * 180) + (780 * 780);
  EXPECT_NEAR(t.cv, std::sqrt(ss / 4.0) / 220.0, 1e-12);

  const Timing one = summarize_repetitions({7e-6});
  EXPECT_NEAR(one.median_us, 7.0, 1e-12);
  EXPECT_DOUBLE_EQ(one.cv, 0.0);
  EXPECT_EQ(summarize_repetitions({}).repetitions, 0);
}

TEST(BenchStatistics, OnlyTheLastRepetitionsCount) {
  TimedCase tc;
  tc.repetitions = 3;
  // Two iteration probes (Google Benchmark with --benchmark_min_time), then 3 repetitions.
  tc.calls = {{1.0}, {1.0, 1.0}, {1e-6, 3e-6}, {4e-6, 4e-6}, {6e-6, 6e-6}};
  std::optional<Timing> t = case_timing(tc);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->repetitions, 3);
  EXPECT_NEAR(t->median_us, 4.0, 1e-9);  // means 2, 4, 6
  EXPECT_NEAR(t->min_us, 2.0, 1e-9);
  EXPECT_NEAR(t->max_us, 6.0, 1e-9);

  tc.calls.clear();
  EXPECT_FALSE(case_timing(tc));  // never ran (filtered out)
  tc.calls = {{1e-6}};
  tc.failed = true;
  EXPECT_FALSE(case_timing(tc));
}

TEST(BenchStatistics, HostTimingHasTheSameRepetitions) {
  TimedCase tc;
  tc.repetitions = 3;
  tc.calls = {{1.0}, {1e-6}, {2e-6}, {3e-6}};
  tc.host_calls = {{9.0}, {10e-6, 30e-6}, {50e-6}, {30e-6}};  // means 20, 50, 30 µs count
  const std::optional<Timing> host = case_host_timing(tc);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->repetitions, 3);
  EXPECT_NEAR(host->median_us, 30.0, 1e-9);
  EXPECT_NEAR(host->min_us, 20.0, 1e-9);
  EXPECT_NEAR(host->max_us, 50.0, 1e-9);
  EXPECT_NEAR(case_timing(tc)->median_us, 2.0, 1e-9);  // the GPU samples stay apart

  tc.host_calls.clear();
  EXPECT_FALSE(case_host_timing(tc));
  tc.host_calls = {{1e-6}};
  tc.failed = true;
  EXPECT_FALSE(case_host_timing(tc));
}

TEST(BenchNames, LayerAndEndToEnd) {
  const ModelSpec spec = mobilenet_v2();
  EXPECT_EQ(layer_benchmark_name(spec.layers[3], "custom", 1, "warm"),
            "layer/03_features.2.conv.0.0/custom/b1/warm");
  EXPECT_EQ(layer_benchmark_name(spec.layers[53], "cudnn-nchw", 256, "cold"),
            "layer/53_classifier.1/cudnn-nchw/b256/cold");
  EXPECT_EQ(e2e_benchmark_name("cudnn-nhwc", 256, "graph"), "e2e/cudnn-nhwc/b256/graph");
}

TEST(BenchRates, GflopsBandwidthAndShareOfCeiling) {
  LayerResult r;
  fill_rates(r, 1000, 1000, {1000.0, 1000.0});
  EXPECT_EQ(r.gflops, 0.0);  // no timing, nothing to rate
  r.timing = Timing{};
  r.timing->median_us = 2.0;
  // 4e6 FLOP and 1e6 bytes in 2 µs: 2000 GFLOP/s and 500 GB/s.
  fill_rates(r, 4000000, 1000000, {1000.0, 10000.0});
  EXPECT_NEAR(r.gflops, 2000.0, 1e-9);
  EXPECT_NEAR(r.gbps, 500.0, 1e-9);
  EXPECT_NEAR(r.pct_of_ceiling, 50.0, 1e-9);  // max(20% of FLOPs, 50% of bandwidth)
  fill_rates(r, 4000000, 1000000, {0.0, 0.0});
  EXPECT_EQ(r.pct_of_ceiling, 0.0);
}

LayerResult layer_result(const std::string& backend, Disposition d, double median) {
  LayerResult r;
  r.backend = backend;
  r.disposition = d;
  if (median > 0.0) {
    r.timing = Timing{};
    r.timing->median_us = median;
  }
  return r;
}

EndToEndResult e2e_result(const std::string& backend, Disposition d, double median) {
  EndToEndResult r;
  r.backend = backend;
  r.disposition = d;
  if (median > 0.0) {
    r.timing = Timing{};
    r.timing->median_us = median;
  }
  return r;
}

/// Two layers (a "model" of 2 layers), warm and cold, batch 4, both e2e modes.
Report small_report() {
  Report rep;
  rep.config.batches = {4};
  for (const char* regime : {"warm", "cold"}) {
    LayerRow a;
    a.index = 0;
    a.batch = 4;
    a.regime = regime;
    // custom 10 µs vs the faster passed cuDNN variant 12 µs: a win.
    a.results = {layer_result("custom", Disposition::kPassed, 10.0),
                 layer_result("cudnn-nhwc", Disposition::kPassed, 12.0),
                 layer_result("cudnn-nchw", Disposition::kPassed, 15.0)};
    LayerRow b = a;
    b.index = 1;
    // The fastest cuDNN result is incorrect and must not count: custom 20 µs loses to the
    // passed 18 µs, not to the incorrect 5 µs... and it loses either way.
    b.results = {layer_result("custom", Disposition::kPassed, 20.0),
                 layer_result("cudnn-nhwc", Disposition::kIncorrect, 5.0),
                 layer_result("cudnn-nchw", Disposition::kPassed, 18.0)};
    rep.layers.push_back(a);
    rep.layers.push_back(b);
  }
  EndToEndRow stream;
  stream.batch = 4;
  stream.mode = "stream";
  stream.results = {e2e_result("custom", Disposition::kPassed, 100.0),
                    e2e_result("cudnn-nhwc", Disposition::kPassed, 150.0),
                    e2e_result("cudnn-nchw", Disposition::kPassed, 120.0)};
  EndToEndRow graph = stream;
  graph.mode = "graph";
  graph.results = {e2e_result("custom", Disposition::kPassed, 80.0),
                   e2e_result("cudnn-nhwc", Disposition::kPassed, 60.0),
                   e2e_result("cudnn-nchw", Disposition::kIncorrect, 40.0)};
  rep.end_to_end = {stream, graph};
  return rep;
}

TEST(BenchSummary, CustomAgainstTheBestCorrectCudnnVariant) {
  const Summary s = summarize_report(small_report(), kFamily, 2);
  // One incorrect layer result (counted once, not per regime) and one incorrect e2e result.
  EXPECT_EQ(s.incorrect_count, 2);
  EXPECT_FALSE(s.all_correct);
  ASSERT_EQ(s.batches.size(), 1u);
  const BatchSummary& b = s.batches[0];
  EXPECT_EQ(b.batch, 4);
  EXPECT_EQ(b.regime, "warm");
  EXPECT_EQ(b.layers_total, 2);
  EXPECT_EQ(b.layers_custom_faster, 1);
  // Graph decides the best variant; the incorrect (faster) nchw graph result does not count.
  EXPECT_EQ(b.best_cudnn, "cudnn-nhwc");
  EXPECT_NEAR(b.e2e_speedup_stream, 120.0 / 100.0, 1e-12);  // best passed stream: nchw
  EXPECT_NEAR(b.e2e_speedup_graph, 60.0 / 80.0, 1e-12);
  // Reconciliation: every layer is covered, every backend timed on both.
  EXPECT_NEAR(b.sum_of_layers_us.at("custom"), 30.0, 1e-12);
  EXPECT_NEAR(b.sum_of_layers_us.at("cudnn-nhwc"), 17.0, 1e-12);
  EXPECT_NEAR(b.sum_of_layers_us.at("cudnn-nchw"), 33.0, 1e-12);
  EXPECT_NEAR(b.e2e_stream_us.at("cudnn-nhwc"), 150.0, 1e-12);
  EXPECT_NEAR(b.e2e_graph_us.at("custom"), 80.0, 1e-12);
}

TEST(BenchSummary, NoSpeedupWithoutAPassedPairAndNoSumsForAPartialModel) {
  Report rep = small_report();
  for (EndToEndRow& row : rep.end_to_end)
    for (EndToEndResult& r : row.results)
      if (r.backend == "custom") r.disposition = Disposition::kIncorrect;
  rep.layers[0].results[0].timing.reset();  // custom layer 0 warm: not timed
  const Summary s = summarize_report(rep, kFamily, 2);
  const BatchSummary& b = s.batches[0];
  EXPECT_EQ(b.e2e_speedup_stream, 0.0);
  EXPECT_EQ(b.e2e_speedup_graph, 0.0);
  EXPECT_EQ(b.layers_custom_faster, 0);
  EXPECT_EQ(b.sum_of_layers_us.count("custom"), 0u);  // one layer missing: no partial sum
  EXPECT_EQ(b.sum_of_layers_us.count("cudnn-nhwc"), 1u);

  // The model has 54 layers, the rows cover 2: no reconciliation at all.
  const Summary partial = summarize_report(small_report(), kFamily, 54);
  EXPECT_TRUE(partial.batches[0].sum_of_layers_us.empty());
}

TEST(BenchSummary, AllPassedMeansAllCorrect) {
  Report rep = small_report();
  rep.layers[1].results[1].disposition = Disposition::kPassed;
  rep.layers[3].results[1].disposition = Disposition::kPassed;
  rep.end_to_end[1].results[2].disposition = Disposition::kNotSupported;
  const Summary s = summarize_report(rep, kFamily, 2);
  EXPECT_TRUE(s.all_correct);
  EXPECT_EQ(s.incorrect_count, 0);
  // Now the 5 µs cuDNN layer passed: custom still wins only layer 0.
  EXPECT_EQ(s.batches[0].layers_custom_faster, 1);
}

}  // namespace
}  // namespace mbv2
