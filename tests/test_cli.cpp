// The mbv2_bench command line: parse_cli() unit by unit, then the real binary for the
// paths a user meets (bad flags and files -> exit 2 with one line, --list / --help without
// a GPU, the no-GPU message).
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "bench/builtin_backends.h"
#include "bench/cli_options.h"
#include "common/util.h"
#include "test_bench_process.h"
#include "test_support.h"

namespace mbv2 {
namespace {

const std::vector<std::string> kBackends = {"custom", "cudnn-nhwc", "cudnn-nchw"};

CliOptions parse(std::vector<std::string> args) { return parse_cli(args, kBackends); }

/// Parsing fails with an InputError whose one-line message contains `needle`.
void expect_error(const std::vector<std::string>& args, const std::string& needle) {
  std::string joined;
  for (const std::string& a : args) joined += a + " ";
  try {
    parse(args);
    ADD_FAILURE() << "no error for: " << joined;
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << "message '" << msg << "' lacks '" << needle << "'";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message has several lines: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type for " << joined << ": " << e.what();
  }
}

// ---------------------------------------------------------------------------------------
// parse_cli

TEST(CliParse, DefaultsDescribeTheFullSuite) {
  const CliOptions o = parse({});
  EXPECT_EQ(o.batches, (std::vector<int>{1, 256}));
  EXPECT_EQ(o.backends, kBackends);
  EXPECT_EQ(o.layer_indices.size(), 54u);
  EXPECT_EQ(o.layer_indices.front(), 0);
  EXPECT_EQ(o.layer_indices.back(), 53);
  EXPECT_EQ(o.regimes, (std::vector<std::string>{"warm", "cold"}));
  EXPECT_EQ(o.modes, (std::vector<std::string>{"stream", "graph"}));
  EXPECT_EQ(o.precision, Precision::kFP32);
  EXPECT_EQ(o.weights, WeightsSource::kDefault);
  EXPECT_EQ(o.input, InputSource::kDefault);
  EXPECT_FALSE(o.quick);
  EXPECT_FALSE(o.infer);
  EXPECT_TRUE(o.benchmark_args.empty());
  EXPECT_EQ(o.benchmark_repetitions, 0);
}

TEST(CliParse, QuickIsBatchOneAndOneLayerPerRole) {
  const CliOptions o = parse({"--quick"});
  EXPECT_TRUE(o.quick);
  EXPECT_EQ(o.batches, (std::vector<int>{1}));
  const ModelSpec spec = mobilenet_v2();
  EXPECT_GE(o.layer_indices.size(), 6u);
  EXPECT_LE(o.layer_indices.size(), 10u);
  std::vector<LayerRole> roles;
  bool residual = false;
  for (int i : o.layer_indices) {
    roles.push_back(spec.layers[size_t(i)].role);
    residual = residual || spec.layers[size_t(i)].has_residual();
  }
  for (LayerRole r : {LayerRole::kStem, LayerRole::kExpand, LayerRole::kDepthwise, LayerRole::kProject,
                      LayerRole::kLastConv, LayerRole::kPool, LayerRole::kClassifier})
    EXPECT_NE(std::find(roles.begin(), roles.end(), r), roles.end()) << to_string(r);
  EXPECT_TRUE(residual);
  EXPECT_TRUE(std::is_sorted(o.layer_indices.begin(), o.layer_indices.end()));
  // --batches still wins over the quick default.
  EXPECT_EQ(parse({"--quick", "--batches=2,8"}).batches, (std::vector<int>{2, 8}));
}

TEST(CliParse, Batches) {
  EXPECT_EQ(parse({"--batches=1,256,1"}).batches, (std::vector<int>{1, 256}));
  EXPECT_EQ(parse({"--batches", "4"}).batches, (std::vector<int>{4}));
  EXPECT_EQ(parse({"--batches=100000"}).batches, (std::vector<int>{100000}));
  expect_error({"--batches=0"}, "--batches=0");
  expect_error({"--batches=abc"}, "--batches=abc");
  expect_error({"--batches=-1"}, "--batches=-1");
  expect_error({"--batches=1,,2"}, "empty item");
  expect_error({"--batches=1,"}, "empty item");
  expect_error({"--batches="}, "--batches");
  expect_error({"--batches=1.5"}, "1.5");
  expect_error({"--batches=99999999999"}, "99999999999");
  expect_error({"--batches"}, "needs a value");
}

TEST(CliParse, Model) {
  const CliOptions o = parse({"--width=0.5", "--resolution=160", "--classes=10"});
  EXPECT_DOUBLE_EQ(o.width, 0.5);
  EXPECT_EQ(o.resolution, 160);
  EXPECT_EQ(o.classes, 10);
  // Real weights exist for width 1.0 / 1000 classes only.
  EXPECT_EQ(o.weights, WeightsSource::kSynthetic);
  EXPECT_EQ(o.weights_seed, kDefaultSyntheticWeightsSeed);
  EXPECT_EQ(parse({"--resolution=160"}).weights, WeightsSource::kDefault);
  expect_error({"--width=-1"}, "--width=-1");
  expect_error({"--width=abc"}, "--width=abc");
  expect_error({"--width=nan"}, "--width=nan");
  expect_error({"--width=0"}, "--width=0");
  expect_error({"--resolution=5"}, "--resolution=5");
  expect_error({"--resolution=abc"}, "--resolution=abc");
  expect_error({"--resolution=-224"}, "--resolution=-224");
  expect_error({"--classes=0"}, "--classes=0");
  expect_error({"--classes=x"}, "--classes=x");
}

TEST(CliParse, Layers) {
  EXPECT_EQ(parse({"--layers=0-5,52"}).layer_indices, (std::vector<int>{0, 1, 2, 3, 4, 5, 52}));
  EXPECT_EQ(parse({"--layers= 7 , 3-4 "}).layer_indices, (std::vector<int>{3, 4, 7}));
  // A name pattern: the three convolutions of the first inverted residual block with expansion.
  const CliOptions o = parse({"--layers=^features\\.2\\."});
  EXPECT_EQ(o.layer_indices, (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(parse({"--layers=classifier"}).layer_indices, (std::vector<int>{53}));
  expect_error({"--layers=5-3"}, "backwards");
  expect_error({"--layers=54"}, "out of range");
  expect_error({"--layers=0-99"}, "out of range");
  expect_error({"--layers=nothing_matches_this"}, "no layer matches");
  expect_error({"--layers=[unclosed"}, "regular expression");
  expect_error({"--layers="}, "--layers");
}

TEST(CliParse, SelectLayersDirectly) {
  const ModelSpec spec = mobilenet_v2();
  EXPECT_EQ(select_layers(spec, "").size(), spec.layers.size());
  EXPECT_EQ(select_layers(spec, "53"), (std::vector<int>{53}));
  EXPECT_EQ(select_layers(spec, "avgpool|classifier"), (std::vector<int>{52, 53}));
  EXPECT_THROW(select_layers(spec, "3-1"), InputError);
}

TEST(CliParse, PrecisionBackendsRegimesModes) {
  EXPECT_EQ(parse({"--precision=tf32"}).precision, Precision::kTF32);
  // Other precisions parse: the backends answer not_supported for them.
  EXPECT_EQ(parse({"--precision=fp16"}).precision, Precision::kFP16);
  expect_error({"--precision=int8"}, "--precision=int8");

  EXPECT_EQ(parse({"--backends=cudnn-nchw,custom"}).backends,
            (std::vector<std::string>{"cudnn-nchw", "custom"}));
  expect_error({"--backends=nope"}, "unknown backend 'nope'");
  expect_error({"--backends=custom,"}, "empty item");

  EXPECT_EQ(parse({"--l2=cold"}).regimes, (std::vector<std::string>{"cold"}));
  EXPECT_TRUE(parse({"--l2=none"}).regimes.empty());
  EXPECT_EQ(parse({"--modes=graph"}).modes, (std::vector<std::string>{"graph"}));
  EXPECT_TRUE(parse({"--modes=none"}).modes.empty());
  expect_error({"--l2=hot"}, "unknown value 'hot'");
  expect_error({"--modes=eager"}, "unknown value 'eager'");
}

TEST(CliParse, WeightsAndInputs) {
  const std::string weights = test::data_path("mobilenet_v2.safetensors");
  CliOptions o = parse({"--weights=" + weights});
  EXPECT_EQ(o.weights, WeightsSource::kFile);
  EXPECT_EQ(o.weights_path, weights);
  o = parse({"--weights=synthetic:7"});
  EXPECT_EQ(o.weights, WeightsSource::kSynthetic);
  EXPECT_EQ(o.weights_seed, 7u);
  EXPECT_EQ(parse({"--weights=synthetic"}).weights_seed, kDefaultSyntheticWeightsSeed);
  expect_error({"--weights=/nonexistent/w.safetensors"}, "cannot open");
  expect_error({"--weights=synthetic:x"}, "seed");
  expect_error({"--weights=" + std::string(MBV2_DATA_DIR)}, "folder");

  o = parse({"--image=" + test::data_path("chelsea.png")});
  EXPECT_EQ(o.input, InputSource::kImage);
  o = parse({"--input=" + test::data_path("coffee_input.npy")});
  EXPECT_EQ(o.input, InputSource::kNpy);
  o = parse({"--random=42"});
  EXPECT_EQ(o.input, InputSource::kRandom);
  EXPECT_EQ(o.input_seed, 42u);
  EXPECT_EQ(parse({"--random"}).input_seed, kDefaultRandomInputSeed);
  expect_error({"--image=/nonexistent.png"}, "--image=/nonexistent.png");
  expect_error({"--input=/nonexistent.npy"}, "--input=/nonexistent.npy");
  expect_error({"--random", "--image=" + test::data_path("coffee.png")}, "conflicts");
  expect_error({"--random=-3"}, "seed");
}

TEST(CliParse, OutputsAndModes) {
  expect_error({"--report=/nonexistent_folder/r.json"}, "does not exist");
  expect_error({"--report=/tmp/"}, "folder");
  EXPECT_EQ(parse({"--report=/tmp/r.json"}).report_path, "/tmp/r.json");

  CliOptions o = parse({"--infer"});
  EXPECT_TRUE(o.infer);
  EXPECT_EQ(o.infer_backend, "custom");  // the first registered
  EXPECT_EQ(o.batches, (std::vector<int>{1}));
  o = parse({"--infer", "--backend=cudnn-nchw", "--logits-out=/tmp/l.npy"});
  EXPECT_EQ(o.infer_backend, "cudnn-nchw");
  EXPECT_EQ(o.logits_out, "/tmp/l.npy");
  expect_error({"--infer", "--backend=nope"}, "unknown backend");
  expect_error({"--infer", "--backend=custom,cudnn-nhwc"}, "exactly one");
  expect_error({"--logits-out=/tmp/l.npy"}, "--infer");
  expect_error({"--infer", "--list"}, "cannot be combined");

  EXPECT_TRUE(parse({"--list"}).list);
  EXPECT_TRUE(parse({"--help"}).help);
  EXPECT_TRUE(parse({"-h"}).help);
  expect_error({"--list=yes"}, "takes no value");
}

TEST(CliParse, UnknownFlagsAndArguments) {
  expect_error({"--bogus"}, "unknown flag '--bogus'");
  expect_error({"--bogus=1"}, "unknown flag '--bogus'");
  expect_error({"-x"}, "unknown flag '-x'");
  expect_error({"stray"}, "unexpected argument 'stray'");
}

TEST(CliParse, GoogleBenchmarkFlagsPassThroughChecked) {
  CliOptions o = parse({"--benchmark_filter=e2e/.*", "--benchmark_repetitions=3",
                        "--benchmark_out=/tmp/gb.json", "--benchmark_list_tests"});
  EXPECT_EQ(o.benchmark_args, (std::vector<std::string>{"--benchmark_filter=e2e/.*",
                                                         "--benchmark_repetitions=3",
                                                         "--benchmark_out=/tmp/gb.json",
                                                         "--benchmark_list_tests"}));
  EXPECT_EQ(o.benchmark_repetitions, 3);
  EXPECT_EQ(o.benchmark_out, "/tmp/gb.json");
  EXPECT_TRUE(o.benchmark_list_tests);
  EXPECT_FALSE(parse({"--benchmark_list_tests=false"}).benchmark_list_tests);
  o = parse({"--benchmark_min_time=0.25"});
  EXPECT_TRUE(o.benchmark_min_time_given);
  EXPECT_EQ(o.benchmark_min_time, "0.25");
  EXPECT_EQ(parse({"--benchmark_format=json"}).benchmark_args.size(), 1u);

  expect_error({"--benchmark_repetitions=0"}, "--benchmark_repetitions=0");
  expect_error({"--benchmark_repetitions=x"}, "--benchmark_repetitions=x");
  expect_error({"--benchmark_min_time=abc"}, "--benchmark_min_time=abc");
  expect_error({"--benchmark_min_time=-1"}, "--benchmark_min_time=-1");
  expect_error({"--benchmark_out=/nonexistent_folder/gb.json"}, "does not exist");
  expect_error({"--benchmark_format=xml"}, "--benchmark_format=xml");
  expect_error({"--benchmark_filter"}, "needs a value");
  expect_error({"--benchmark_bogus=1"}, "unknown Google Benchmark flag");
}

TEST(CliParse, HelpNamesEveryFlag) {
  const std::string help = usage_text(kBackends);
  for (const char* flag : {"--batches", "--backends", "--layers", "--precision", "--width", "--resolution",
                           "--classes", "--weights", "--image", "--input", "--random", "--report", "--l2",
                           "--modes", "--quick", "--list", "--infer", "--backend", "--logits-out",
                           "--benchmark_filter", "--benchmark_out"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
}

TEST(CliParse, DefaultReportPath) {
  const std::string p = default_report_path("h100-80gb-hbm3", Precision::kFP32, false);
  EXPECT_NE(p.find("latest-h100-80gb-hbm3-fp32.json"), std::string::npos) << p;
  const std::string q = default_report_path("h100-80gb-hbm3", Precision::kTF32, true);
  EXPECT_NE(q.find("latest-h100-80gb-hbm3-tf32-quick.json"), std::string::npos) << q;
}

// ---------------------------------------------------------------------------------------
// The real binary. These run the same on machines with and without a GPU: every case
// fails (or finishes) before a device is needed, or hides the devices.

/// Exit status 2, nothing on stdout, exactly one line on stderr naming the problem.
void expect_one_line_exit_2(const std::vector<std::string>& args, const std::string& needle,
                            const std::string& env = "") {
  const test::ProcessResult r = test::run_bench(args, env);
  std::string joined;
  for (const std::string& a : args) joined += a + " ";
  EXPECT_EQ(r.status, 2) << joined << "\nstderr: " << r.err;
  EXPECT_TRUE(r.out.empty()) << joined << "\nstdout: " << r.out;
  const std::vector<std::string> lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << joined << "\nstderr: " << r.err;
  EXPECT_EQ(lines[0].rfind("mbv2_bench: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(needle), std::string::npos) << "'" << lines[0] << "' lacks '" << needle << "'";
}

TEST(CliBinary, BadFlagsExitTwoWithOneLine) {
  const std::string report = "--report=" + test::temp_path("report") + ".json";
  expect_one_line_exit_2({"--batches=0", report}, "--batches=0");
  expect_one_line_exit_2({"--batches=abc", report}, "--batches=abc");
  expect_one_line_exit_2({"--width=-1", report}, "--width=-1");
  expect_one_line_exit_2({"--resolution=5", report}, "--resolution=5");
  expect_one_line_exit_2({"--bogus", report}, "--bogus");
  expect_one_line_exit_2({"--benchmark_repetitions=x", report}, "--benchmark_repetitions=x");
  expect_one_line_exit_2({"--benchmark_bogus", report}, "--benchmark_bogus");
  expect_one_line_exit_2({"--layers=99", report}, "out of range");
  expect_one_line_exit_2({"--backends=nope", report}, "nope");
  expect_one_line_exit_2({"--report=/nonexistent_folder/r.json"}, "does not exist");
}

TEST(CliBinary, BadFilesExitTwoWithOneLine) {
  const std::string report = "--report=" + test::temp_path("report") + ".json";
  expect_one_line_exit_2({"--image=/nonexistent/photo.png", report}, "/nonexistent/photo.png");
  expect_one_line_exit_2({"--input=/nonexistent/x.npy", report}, "/nonexistent/x.npy");
  // A corrupt weights file: the real one cut short.
  const std::string corrupt = test::temp_path("corrupt") + ".safetensors";
  {
    const std::string bytes = test::slurp(test::data_path("mobilenet_v2.safetensors"));
    std::ofstream(corrupt, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size() / 3));
  }
  expect_one_line_exit_2({"--weights=" + corrupt, report}, corrupt);
  std::remove(corrupt.c_str());
  // A photo is not a weights file.
  expect_one_line_exit_2({"--weights=" + test::data_path("coffee.png"), report}, "coffee.png");
  // Weights for another model: width 0.25, 10 classes.
  expect_one_line_exit_2({"--weights=" + test::data_path("testdata/mbv2_w025_c10_bn.safetensors"), report},
                         "features.0.0.weight");
  // An .npy of the wrong shape: logits, and 64x64 images for a 224 model.
  expect_one_line_exit_2({"--input=" + test::data_path("coffee_logits.npy"), report}, "coffee_logits.npy");
  expect_one_line_exit_2({"--input=" + test::data_path("testdata/mbv2_w025_c10_input.npy"), report},
                         "mbv2_w025_c10_input.npy");
}

TEST(CliBinary, NoGpuGivesOneLineAndExitTwo) {
  // Hiding every device works the same on GPU and non-GPU machines.
  const std::string report = test::temp_path("report") + ".json";
  expect_one_line_exit_2({"--quick", "--report=" + report}, "no CUDA device: ", "CUDA_VISIBLE_DEVICES=");
  expect_one_line_exit_2({"--infer"}, "no CUDA device: ", "CUDA_VISIBLE_DEVICES=");
  std::ifstream written(report);
  EXPECT_FALSE(written.good()) << "no report without a device";
}

TEST(CliBinary, ListAndHelpNeedNoGpu) {
  test::ProcessResult r = test::run_bench({"--list"}, "CUDA_VISIBLE_DEVICES=");
  EXPECT_EQ(r.status, 0) << r.err;
  const ModelSpec spec = mobilenet_v2();
  for (const Layer& l : spec.layers) EXPECT_NE(r.out.find(l.name), std::string::npos) << l.name;
  EXPECT_NE(r.out.find("conv3x3 s2 3->32"), std::string::npos);
  for (const std::string& name : builtin_backends().names())
    EXPECT_NE(r.out.find(name), std::string::npos) << name;

  r = test::run_bench({"--list", "--width=0.5", "--resolution=96", "--batches=8"}, "CUDA_VISIBLE_DEVICES=");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("batch 8"), std::string::npos) << r.out;

  r = test::run_bench({"--help"}, "CUDA_VISIBLE_DEVICES=");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("--benchmark_filter"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliBinary, BenchmarkListTestsNeedsNoGpu) {
  const test::ProcessResult r =
      test::run_bench({"--benchmark_list_tests", "--layers=3", "--batches=1,256"}, "CUDA_VISIBLE_DEVICES=");
  EXPECT_EQ(r.status, 0) << r.err;
  for (const std::string& name : builtin_backends().names()) {
    EXPECT_NE(r.out.find("layer/03_features.2.conv.0.0/" + name + "/b1/warm"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("layer/03_features.2.conv.0.0/" + name + "/b256/cold"), std::string::npos);
    EXPECT_NE(r.out.find("e2e/" + name + "/b256/graph"), std::string::npos);
    EXPECT_NE(r.out.find("e2e/" + name + "/b1/stream"), std::string::npos);
  }
}

}  // namespace
}  // namespace mbv2
