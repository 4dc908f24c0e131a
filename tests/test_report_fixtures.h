// Synthetic reports for the report-tool tests: real MobileNetV2 layer shapes, made-up but
// deterministic timings, written with write_report into a fresh temporary folder.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/model.h"
#include "common/report.h"

namespace mbv2::test {

/// A timing whose spread matches `cv`: min and max two and three CVs from the median.
inline Timing make_timing(double median_us, double cv = 0.01, int repetitions = 5) {
  Timing t;
  t.median_us = median_us;
  t.min_us = median_us * (1.0 - 2.0 * cv);
  t.max_us = median_us * (1.0 + 3.0 * cv);
  t.mean_us = median_us * (1.0 + 0.5 * cv);
  t.cv = cv;
  t.repetitions = repetitions;
  return t;
}

inline AgreementReport good_agreement(double rel_l2 = 2e-7) {
  AgreementReport a;
  a.max_abs = rel_l2 * 10;
  a.max_rel = rel_l2 * 5;
  a.rel_l2 = rel_l2;
  a.tolerance_rel_l2 = 1e-4;
  a.tolerance_max_abs_frac = 1e-3;
  a.pass = true;
  return a;
}

struct SyntheticOptions {
  std::vector<int> batches{1};
  std::vector<std::string> regimes{"warm"};
  std::vector<std::string> modes{"stream", "graph"};
  std::vector<std::string> backends{"custom", "cudnn-nhwc", "cudnn-nchw"};
  int layers = 54;  ///< the first N layers of MobileNetV2
  double cv = 0.01;
  int repetitions = 5;
};

/// Roofline-ish made-up time for a layer on an H100-like device, plus launch overhead.
inline double model_time_us(const Layer& l, int batch) {
  const double compute = double(l.flops(batch)) / 30e12;
  const double memory = double(l.min_bytes(batch)) / 2.5e12;
  return std::max(compute, memory) * 1e6 + 2.0;
}

/// Speed of each backend relative to the modelled time: custom wins two layers in three.
inline double backend_factor(const std::string& backend, int layer_index) {
  if (backend == "custom") return layer_index % 3 == 0 ? 1.15 : 0.85;
  if (backend == "cudnn-nhwc") return 1.0;
  return 1.2;
}

inline LayerResult make_layer_result(const Layer& l, int batch, const std::string& backend,
                                     double cv, int reps) {
  LayerResult r;
  r.backend = backend;
  r.disposition = Disposition::kPassed;
  r.timing = make_timing(model_time_us(l, batch) * backend_factor(backend, l.index), cv, reps);
  const double s = r.timing->median_us * 1e-6;
  r.gflops = double(l.flops(batch)) / s * 1e-9;
  r.gbps = double(l.min_bytes(batch)) / s * 1e-9;
  r.pct_of_ceiling = std::max(r.gflops / 51000.0, r.gbps / 3000.0) * 100.0;
  r.what_ran = backend == "custom" ? "custom kernel v1" : "engine 7";
  r.agreement = good_agreement();
  return r;
}

/// Fills report.summary from the rows the way the bench does (warm regime).
inline void fill_summary(Report& report) {
  report.summary = Summary{};
  for (int batch : report.config.batches) {
    BatchSummary b;
    b.batch = batch;
    b.regime = "warm";
    for (const LayerRow& row : report.layers) {
      if (row.batch != batch || row.regime != "warm") continue;
      ++b.layers_total;
      const LayerResult* ours = nullptr;
      const LayerResult* best = nullptr;
      for (const LayerResult& r : row.results) {
        if (r.disposition != Disposition::kPassed || !r.timing) continue;
        b.sum_of_layers_us[r.backend] += r.timing->median_us;
        if (r.backend == "custom") ours = &r;
        else if (!best || r.timing->median_us < best->timing->median_us) best = &r;
      }
      if (ours && best && ours->timing->median_us < best->timing->median_us)
        ++b.layers_custom_faster;
    }
    for (const EndToEndRow& row : report.end_to_end) {
      if (row.batch != batch) continue;
      for (const EndToEndResult& r : row.results)
        if (r.timing)
          (row.mode == "graph" ? b.e2e_graph_us : b.e2e_stream_us)[r.backend] = r.timing->median_us;
    }
    b.best_cudnn = "cudnn-nhwc";
    if (b.e2e_stream_us.count("custom") && b.e2e_stream_us.count("cudnn-nhwc"))
      b.e2e_speedup_stream = b.e2e_stream_us["cudnn-nhwc"] / b.e2e_stream_us["custom"];
    if (b.e2e_graph_us.count("custom") && b.e2e_graph_us.count("cudnn-nhwc"))
      b.e2e_speedup_graph = b.e2e_graph_us["cudnn-nhwc"] / b.e2e_graph_us["custom"];
    report.summary.batches.push_back(b);
  }
  for (const LayerRow& row : report.layers)
    for (const LayerResult& r : row.results)
      if (r.disposition == Disposition::kIncorrect) ++report.summary.incorrect_count;
  report.summary.all_correct = report.summary.incorrect_count == 0;
}

inline Report synthetic_report(const SyntheticOptions& opt = {}) {
  const ModelSpec spec = mobilenet_v2();
  Report report;
  report.created = "2025-01-01T00:00:00Z";
  report.git = {"0123456789abcdef0123456789abcdef01234567", false};
  report.device.name = "NVIDIA H100 80GB HBM3";
  report.device.compute_capability = "9.0";
  report.device.sm_count = 132;
  report.device.l2_bytes = 50 * 1024 * 1024;
  report.device.memory_bytes = 80LL * 1024 * 1024 * 1024;
  report.device.driver = "13.0";
  report.device.cuda_runtime = "13.0";
  report.device.cudnn = "9.14.0";
  report.device.clocks = {1980, 1980, 1980, 2619, false, ""};
  report.device.ceilings = {3000.0, 51000.0};
  report.config.model = "mobilenet_v2";
  report.config.precision = "fp32";
  report.config.batches = opt.batches;
  report.config.backends = opt.backends;
  report.config.weights = {"file", "data/mobilenet_v2.safetensors", "abcdef0123456789", 0, true};
  report.config.input = {"image", "data/chelsea.png", 0};
  report.config.timing = {opt.repetitions, 0.1, 10, 20, opt.regimes, opt.modes, false};

  for (int batch : opt.batches)
    for (const std::string& regime : opt.regimes)
      for (int i = 0; i < std::min<int>(opt.layers, int(spec.layers.size())); ++i) {
        const Layer& l = spec.layers[i];
        LayerRow row;
        row.index = l.index;
        row.name = l.name;
        row.kind = to_string(l.kind);
        row.role = to_string(l.role);
        row.description = l.describe();
        row.batch = batch;
        row.regime = regime;
        const Shape4 in = l.input_shape(batch), out = l.output_shape(batch);
        row.input_shape = {in.n, in.c, in.h, in.w};
        row.output_shape = {out.n, out.c, out.h, out.w};
        row.flops = l.flops(batch);
        row.bytes = l.min_bytes(batch);
        const double regime_factor = regime == "cold" ? 1.3 : 1.0;
        for (const std::string& backend : opt.backends) {
          LayerResult r = make_layer_result(l, batch, backend, opt.cv, opt.repetitions);
          r.timing = make_timing(r.timing->median_us * regime_factor, opt.cv, opt.repetitions);
          row.results.push_back(r);
        }
        report.layers.push_back(row);
      }

  for (int batch : opt.batches)
    for (const std::string& mode : opt.modes) {
      EndToEndRow row;
      row.batch = batch;
      row.mode = mode;
      for (const std::string& backend : opt.backends) {
        double sum = 0.0;
        for (const Layer& l : spec.layers)
          sum += model_time_us(l, batch) * backend_factor(backend, l.index);
        EndToEndResult r;
        r.backend = backend;
        r.disposition = Disposition::kPassed;
        r.timing = make_timing(sum * (mode == "graph" ? 0.8 : 1.05), opt.cv, opt.repetitions);
        r.images_per_s = batch / (r.timing->median_us * 1e-6);
        r.agreement = good_agreement(3e-7);
        r.top5_match = true;
        r.top5 = {{285, 281, 282, 287, 728}};
        r.what_ran = backend + " forward";
        row.results.push_back(r);
      }
      report.end_to_end.push_back(row);
    }
  fill_summary(report);
  return report;
}

// Names are const char*, not const std::string&: a string temporary bound to a parameter of a
// function returning a reference trips GCC 13's -Wdangling-reference at every call site.
inline LayerResult& layer_result(Report& r, int index, int batch, const char* regime,
                                 const char* backend) {
  for (LayerRow& row : r.layers)
    if (row.index == index && row.batch == batch && row.regime == regime)
      for (LayerResult& res : row.results)
        if (res.backend == backend) return res;
  throw std::logic_error("fixture: no such layer result");
}

inline EndToEndResult& e2e_result(Report& r, int batch, const char* mode, const char* backend) {
  for (EndToEndRow& row : r.end_to_end)
    if (row.batch == batch && row.mode == mode)
      for (EndToEndResult& res : row.results)
        if (res.backend == backend) return res;
  throw std::logic_error("fixture: no such end-to-end result");
}

/// Multiplies every timing statistic by `factor` (a uniform slowdown or speedup).
inline void scale_timing(std::optional<Timing>& t, double factor) {
  t->median_us *= factor;
  t->min_us *= factor;
  t->max_us *= factor;
  t->mean_us *= factor;
}

/// A fresh, empty folder under GoogleTest's temporary directory.
inline std::string fresh_temp_dir(const std::string& tag) {
  std::string tmpl = ::testing::TempDir() + "mbv2_report_" + tag + "_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  return std::string(buf.data());
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs a shell command with stdout and stderr captured in files under `dir`.
inline CommandResult run_command(const std::string& command, const std::string& dir) {
  const std::string out_path = dir + "/cmd.stdout", err_path = dir + "/cmd.stderr";
  const int status = std::system((command + " > " + shell_quote(out_path) + " 2> " +
                                  shell_quote(err_path)).c_str());
  CommandResult r;
  r.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  r.out = read_text(out_path);
  r.err = read_text(err_path);
  return r;
}

inline int count_lines(const std::string& text) {
  return int(std::count(text.begin(), text.end(), '\n')) +
         (!text.empty() && text.back() != '\n' ? 1 : 0);
}

}  // namespace mbv2::test
