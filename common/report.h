// The benchmark report, schema "mbv2-bench-report/1" (documented in reports/README.md).
//
// bench/ fills it, reports/ compares two of them. JSON through nlohmann-json;
// written atomically (temporary file + rename).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mbv2 {

inline constexpr const char* kReportSchema = "mbv2-bench-report/1";

/// Every result carries one: passed, incorrect, not_supported, not_run.
enum class Disposition { kPassed, kIncorrect, kNotSupported, kNotRun };
const char* to_string(Disposition d);
/// Throws InputError for an unknown name.
Disposition parse_disposition(const std::string& text);

struct GitInfo {
  std::string sha;  ///< "unknown" outside a git checkout
  bool dirty = false;
};

struct Clocks {
  int sm_mhz_before = 0;
  int sm_mhz_after = 0;
  int sm_mhz_max = 0;
  int mem_mhz = 0;
  bool throttled = false;     ///< SM clock after the run more than 10% under before/max
  std::string throttle_note;  ///< what was seen, e.g. "sm 1755 -> 1410 MHz"
};

struct Ceilings {
  double bandwidth_gbps = 0.0;  ///< measured device-to-device copy, bytes read + written
  double fp32_gflops = 0.0;     ///< measured FP32 FMA rate (2 FLOPs per FMA)
};

struct DeviceReport {
  std::string name;
  std::string compute_capability;  ///< "9.0"
  int sm_count = 0;
  int64_t l2_bytes = 0;
  int64_t memory_bytes = 0;
  std::string driver;        ///< "13.0" (CUDA driver API version) or the driver string
  std::string cuda_runtime;  ///< "13.0"
  std::string cudnn;         ///< "9.14.0", "" when built without cuDNN
  Clocks clocks;
  Ceilings ceilings;
};

struct WeightsReport {
  std::string kind;  ///< "file" or "synthetic"
  std::string path;
  std::string hash;
  uint64_t seed = 0;
  bool bn_folded_at_load = false;
};

struct InputReport {
  std::string kind;  ///< "image", "npy" or "random"
  std::string path;
  uint64_t seed = 0;
};

struct TimingConfig {
  int repetitions = 0;      ///< odd; the median of these is the headline
  double min_time_s = 0.0;  ///< Google Benchmark min time per repetition
  int warmup = 0;           ///< untimed launches before timing
  int launches_per_sample = 0;  ///< warm regime: K launches between two events
  std::vector<std::string> regimes;  ///< "warm", "cold"
  std::vector<std::string> modes;    ///< "stream", "graph"
  bool quick = false;
};

struct RunConfigReport {
  std::string model;  ///< "mobilenet_v2"
  double width_mult = 1.0;
  int resolution = 224;
  int num_classes = 1000;
  std::string precision;  ///< "fp32", "tf32", ...
  std::vector<int> batches;
  std::vector<std::string> backends;
  WeightsReport weights;
  InputReport input;
  TimingConfig timing;
};

struct AgreementReport {
  double max_abs = 0.0;
  double max_rel = 0.0;
  double rel_l2 = 0.0;
  int64_t nan_count = 0;
  int64_t inf_count = 0;
  double tolerance_rel_l2 = 0.0;
  double tolerance_max_abs_frac = 0.0;
  bool pass = false;
};

/// One timed statistic, in microseconds, over `repetitions` samples.
struct Timing {
  double median_us = 0.0;
  double min_us = 0.0;
  double max_us = 0.0;
  double mean_us = 0.0;
  double cv = 0.0;  ///< stddev / mean
  int repetitions = 0;
};

/// One backend on one layer, batch and regime.
struct LayerResult {
  std::string backend;
  Disposition disposition = Disposition::kNotRun;
  std::string note;  ///< why not_supported / incorrect / not_run
  std::optional<Timing> timing;
  double gflops = 0.0;          ///< achieved GFLOP/s at the median
  double gbps = 0.0;            ///< achieved GB/s (min bytes / median)
  double pct_of_ceiling = 0.0;  ///< max(FLOP share, byte share) of the measured ceilings, %
  std::string what_ran;         ///< describe(i)
  std::optional<AgreementReport> agreement;
};

struct LayerRow {
  int index = 0;
  std::string name;
  std::string kind;  ///< "conv", "global_avg_pool", "linear"
  std::string role;  ///< "stem", "expand", "depthwise", "project", ...
  std::string description;  ///< "conv3x3 s2 dw 96->96 112x112->56x56 +relu6"
  int batch = 1;
  std::string regime;  ///< "warm" or "cold"
  std::vector<int> input_shape;   ///< [n, c, h, w]
  std::vector<int> output_shape;  ///< [n, c, h, w]
  int64_t flops = 0;
  int64_t bytes = 0;
  std::vector<LayerResult> results;
};

struct EndToEndResult {
  std::string backend;
  Disposition disposition = Disposition::kNotRun;
  std::string note;
  std::optional<Timing> timing;             ///< GPU time, the stream held while enqueueing
  /// Host time to enqueue one forward (or graph launch); absent in reports written before
  /// it existed, the only field a reader does not require.
  std::optional<Timing> host_timing;
  double images_per_s = 0.0;
  std::optional<AgreementReport> agreement;  ///< logits vs the CPU reference
  bool top5_match = false;                   ///< same top-5 classes as the reference, every image
  std::vector<std::vector<int>> top5;        ///< per image (first images only)
  std::string what_ran;                      ///< describe_forward()
};

struct EndToEndRow {
  int batch = 1;
  std::string mode;  ///< "stream" or "graph"
  std::vector<EndToEndResult> results;
};

/// Custom backend against the best correct cuDNN variant, per batch.
struct BatchSummary {
  int batch = 1;
  std::string regime;            ///< per-layer regime these counts use ("warm")
  int layers_total = 0;
  int layers_custom_faster = 0;  ///< layers where custom beats the best cuDNN variant
  std::string best_cudnn;        ///< the cuDNN variant with the lower end-to-end graph time
  double e2e_speedup_stream = 0.0;
  double e2e_speedup_graph = 0.0;
  /// Sum of per-layer medians vs end-to-end medians, per backend (µs).
  std::map<std::string, double> sum_of_layers_us;
  std::map<std::string, double> e2e_stream_us;
  std::map<std::string, double> e2e_graph_us;
};

struct Summary {
  bool all_correct = true;
  int incorrect_count = 0;
  std::vector<BatchSummary> batches;
  std::vector<std::string> notes;
};

struct Report {
  std::string schema = kReportSchema;
  std::string created;  ///< ISO 8601 UTC
  GitInfo git;
  DeviceReport device;
  RunConfigReport config;
  std::vector<LayerRow> layers;
  std::vector<EndToEndRow> end_to_end;
  Summary summary;
};

/// JSON text of a report (pretty-printed).
std::string report_to_json(const Report& report);
/// Parses and validates; throws InputError naming the problem (bad JSON, wrong schema,
/// missing or mistyped field).
Report report_from_json(const std::string& text);
/// Writes atomically: a temporary file beside `path`, then rename.
void write_report(const Report& report, const std::string& path);
/// Reads a report file; throws InputError for a missing, truncated or corrupt file.
Report read_report(const std::string& path);

}  // namespace mbv2
