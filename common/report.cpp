#include "common/report.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/util.h"

// std::optional <-> JSON null (nlohmann 3.11 has no built-in mapping).
namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  static void to_json(json& j, const std::optional<T>& v) {
    if (v) j = *v;
    else j = nullptr;
  }
  static void from_json(const json& j, std::optional<T>& v) {
    if (j.is_null()) v.reset();
    else v = j.get<T>();
  }
};
}  // namespace nlohmann

namespace mbv2 {

const char* to_string(Disposition d) {
  switch (d) {
    case Disposition::kPassed: return "passed";
    case Disposition::kIncorrect: return "incorrect";
    case Disposition::kNotSupported: return "not_supported";
    case Disposition::kNotRun: return "not_run";
  }
  return "?";
}

Disposition parse_disposition(const std::string& text) {
  for (Disposition d : {Disposition::kPassed, Disposition::kIncorrect, Disposition::kNotSupported,
                        Disposition::kNotRun}) {
    if (text == to_string(d)) return d;
  }
  throw InputError("unknown disposition '" + text + "'");
}

void to_json(nlohmann::json& j, const Disposition& d) { j = to_string(d); }
void from_json(const nlohmann::json& j, Disposition& d) { d = parse_disposition(j.get<std::string>()); }

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GitInfo, sha, dirty)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Clocks, sm_mhz_before, sm_mhz_after, sm_mhz_max, mem_mhz,
                                   throttled, throttle_note)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Ceilings, bandwidth_gbps, fp32_gflops)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DeviceReport, name, compute_capability, sm_count, l2_bytes,
                                   memory_bytes, driver, cuda_runtime, cudnn, clocks, ceilings)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(WeightsReport, kind, path, hash, seed, bn_folded_at_load)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(InputReport, kind, path, seed)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TimingConfig, repetitions, min_time_s, warmup,
                                   launches_per_sample, regimes, modes, quick)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunConfigReport, model, width_mult, resolution, num_classes,
                                   precision, batches, backends, weights, input, timing)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(AgreementReport, max_abs, max_rel, rel_l2, nan_count,
                                   inf_count, tolerance_rel_l2, tolerance_max_abs_frac, pass)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Timing, median_us, min_us, max_us, mean_us, cv, repetitions)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LayerResult, backend, disposition, note, timing, gflops, gbps,
                                   pct_of_ceiling, what_ran, agreement)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LayerRow, index, name, kind, role, description, batch, regime,
                                   input_shape, output_shape, flops, bytes, results)

// By hand: host_timing may be missing (reports from before it existed still load and
// compare); every other key stays required, as the macro would have it.
void to_json(nlohmann::json& j, const EndToEndResult& r) {
  j = nlohmann::json{{"backend", r.backend},         {"disposition", r.disposition},
                     {"note", r.note},               {"timing", r.timing},
                     {"host_timing", r.host_timing}, {"images_per_s", r.images_per_s},
                     {"agreement", r.agreement},     {"top5_match", r.top5_match},
                     {"top5", r.top5},               {"what_ran", r.what_ran}};
}

void from_json(const nlohmann::json& j, EndToEndResult& r) {
  j.at("backend").get_to(r.backend);
  j.at("disposition").get_to(r.disposition);
  j.at("note").get_to(r.note);
  j.at("timing").get_to(r.timing);
  if (j.contains("host_timing")) j.at("host_timing").get_to(r.host_timing);
  else r.host_timing.reset();
  j.at("images_per_s").get_to(r.images_per_s);
  j.at("agreement").get_to(r.agreement);
  j.at("top5_match").get_to(r.top5_match);
  j.at("top5").get_to(r.top5);
  j.at("what_ran").get_to(r.what_ran);
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EndToEndRow, batch, mode, results)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(BatchSummary, batch, regime, layers_total,
                                   layers_custom_faster, best_cudnn, e2e_speedup_stream,
                                   e2e_speedup_graph, sum_of_layers_us, e2e_stream_us,
                                   e2e_graph_us)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Summary, all_correct, incorrect_count, batches, notes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Report, schema, created, git, device, config, layers,
                                   end_to_end, summary)

std::string report_to_json(const Report& report) {
  nlohmann::json j = report;
  return j.dump(2) + "\n";
}

Report report_from_json(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(std::string("report is not valid JSON (") + e.what() + ")");
  }
  if (!j.is_object()) throw InputError("report is not a JSON object");
  if (!j.contains("schema") || !j["schema"].is_string())
    throw InputError("report has no \"schema\" field");
  const std::string schema = j["schema"].get<std::string>();
  if (schema != kReportSchema)
    throw InputError("report schema is '" + schema + "', expected '" + kReportSchema + "'");
  try {
    return j.get<Report>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("report does not match schema ") + kReportSchema + ": " +
                     e.what());
  } catch (const InputError& e) {
    throw InputError(std::string("report does not match schema ") + kReportSchema + ": " +
                     e.what());
  }
}

void write_report(const Report& report, const std::string& path) {
  const std::string text = report_to_json(report);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError("cannot write report '" + path + "' (cannot create " + tmp + ")");
    out << text;
    out.flush();
    if (!out) throw InputError("cannot write report '" + path + "' (write to " + tmp + " failed)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw InputError("cannot write report '" + path + "' (rename failed)");
  }
}

Report read_report(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open report '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return report_from_json(ss.str());
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
}

}  // namespace mbv2
