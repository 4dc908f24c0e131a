// The command line of mbv2_bench: our flags, parsed into one struct, and the
// --benchmark_* flags, checked and passed through to Google Benchmark.
//
// parse_cli() never exits and never touches the GPU: every problem is an InputError
// whose what() is the one line the binary prints before exiting with code 2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/model.h"
#include "common/tensor.h"

namespace mbv2 {

inline constexpr uint64_t kDefaultSyntheticWeightsSeed = 1;
inline constexpr uint64_t kDefaultRandomInputSeed = 1;

enum class WeightsSource { kDefault, kFile, kSynthetic };
enum class InputSource { kDefault, kImage, kNpy, kRandom };

struct CliOptions {
  bool help = false;
  bool list = false;   ///< print layers and backends, exit
  bool infer = false;  ///< inference mode: one backend, top-5, logits
  bool quick = false;  ///< smoke mode: few layers, 3 repetitions, batch 1

  std::vector<int> batches;  ///< after defaults: {1, 256}, or {1} with --quick
  bool batches_given = false;
  std::vector<std::string> backends;  ///< after defaults: every registered backend
  std::string infer_backend;          ///< --backend (inference mode)
  std::string logits_out;             ///< --logits-out

  std::string layers_filter;       ///< --layers as given ("" = all, or the quick set)
  std::vector<int> layer_indices;  ///< resolved selection, ascending

  Precision precision = Precision::kFP32;
  double width = 1.0;
  int resolution = 224;
  int classes = 1000;

  WeightsSource weights = WeightsSource::kDefault;
  std::string weights_path;
  uint64_t weights_seed = kDefaultSyntheticWeightsSeed;

  InputSource input = InputSource::kDefault;
  std::string input_path;
  uint64_t input_seed = kDefaultRandomInputSeed;

  std::string report_path;  ///< "" = the default (see default_report_path)

  std::vector<std::string> regimes = {"warm", "cold"};  ///< --l2
  std::vector<std::string> modes = {"stream", "graph"};  ///< --modes

  /// --benchmark_* flags in the order given, for benchmark::Initialize.
  std::vector<std::string> benchmark_args;
  bool benchmark_list_tests = false;
  int benchmark_repetitions = 0;  ///< from --benchmark_repetitions, 0 when not given
  bool benchmark_min_time_given = false;
  std::string benchmark_min_time;  ///< the value as given
  std::string benchmark_out;

  /// The default model (width 1.0, 1000 classes at any resolution) takes the real weights.
  bool model_takes_default_weights() const { return width == 1.0 && classes == 1000; }
};

/// Parses argv[1..] (without the program name). `known_backends` are the registered
/// backend names, in registry order. Throws InputError naming the flag and the problem.
CliOptions parse_cli(const std::vector<std::string>& args,
                     const std::vector<std::string>& known_backends);

/// The model the options describe (already validated by parse_cli).
ModelSpec spec_from_options(const CliOptions& options);

/// Layers chosen by a --layers filter: "" = all; indices and ranges ("0-5,52"); otherwise
/// a regular expression searched in the layer names ("features\.1[0-9]\."). Throws
/// InputError for a malformed filter, an index out of range or a selection that is empty.
std::vector<int> select_layers(const ModelSpec& spec, const std::string& filter);

/// The --quick selection: the first layer of every role (stem, expand, depthwise, project,
/// a project with a residual, last conv, pool, classifier).
std::vector<int> quick_layers(const ModelSpec& spec);

/// Where the report goes when --report is not given:
/// <source dir>/reports/latest-<gpu slug>-<precision>[-quick].json when that folder exists,
/// else latest-<gpu slug>-<precision>[-quick].json in the working directory.
std::string default_report_path(const std::string& gpu_slug, Precision precision, bool quick);

/// The --help text.
std::string usage_text(const std::vector<std::string>& known_backends);

}  // namespace mbv2
