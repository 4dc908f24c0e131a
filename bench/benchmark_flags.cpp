#include "bench/benchmark_flags.h"

#include <cctype>
#include <cstdlib>
#include <regex>

#include "bench/cli_options.h"
#include "bench/cli_values.h"
#include "common/util.h"

#if !defined(MBV2_GBENCH_VERSION_MAJOR)
#define MBV2_GBENCH_VERSION_MAJOR 1
#define MBV2_GBENCH_VERSION_MINOR 7
#endif

namespace mbv2 {

using namespace cli;

namespace {

enum class GbType { kBool, kInt, kReal, kMinTime, kString, kOutFile, kChoice };
struct GbFlag {
  const char* name;
  GbType type;
  const char* choices;  // for kChoice: "|a|b|c|"
};

constexpr GbFlag kGbFlags[] = {
    {"benchmark_list_tests", GbType::kBool, ""},
    {"benchmark_filter", GbType::kString, ""},
    {"benchmark_min_time", GbType::kMinTime, ""},
    {"benchmark_min_warmup_time", GbType::kReal, ""},
    {"benchmark_repetitions", GbType::kInt, ""},
    {"benchmark_enable_random_interleaving", GbType::kBool, ""},
    {"benchmark_report_aggregates_only", GbType::kBool, ""},
    {"benchmark_display_aggregates_only", GbType::kBool, ""},
    {"benchmark_format", GbType::kChoice, "|console|json|csv|"},
    {"benchmark_out", GbType::kOutFile, ""},
    {"benchmark_out_format", GbType::kChoice, "|console|json|csv|"},
    {"benchmark_color", GbType::kString, ""},
    {"benchmark_counters_tabular", GbType::kBool, ""},
    {"benchmark_context", GbType::kString, ""},
    {"benchmark_time_unit", GbType::kChoice, "|ns|us|ms|s|"},
    {"benchmark_perf_counters", GbType::kString, ""},
};

/// Google Benchmark's reading of a boolean flag value.
bool truthy(const std::string& v) {
  if (v.empty()) return true;
  std::string lower;
  for (char c : v) lower += char(std::tolower(static_cast<unsigned char>(c)));
  if (lower.size() == 1) return std::isalnum(static_cast<unsigned char>(lower[0])) &&
                                lower != "0" && lower != "f" && lower != "n";
  return lower != "false" && lower != "no" && lower != "off";
}

void check_min_time(const std::string& name, const std::string& value) {
  static const std::regex seconds(R"(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?)");
  static const std::regex seconds_suffix(R"(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?s)");
  static const std::regex iterations(R"([1-9][0-9]{0,11}x)");
  const bool new_syntax = MBV2_GBENCH_VERSION_MAJOR > 1 ||
                          (MBV2_GBENCH_VERSION_MAJOR == 1 && MBV2_GBENCH_VERSION_MINOR >= 8);
  if (std::regex_match(value, seconds) && std::strtod(value.c_str(), nullptr) > 0.0) return;
  if (new_syntax) {
    if (std::regex_match(value, seconds_suffix) && std::strtod(value.c_str(), nullptr) > 0.0) return;
    if (std::regex_match(value, iterations)) return;
    bad(name, value, "expected seconds ('0.5' or '0.5s') or iterations ('100x')");
  }
  bad(name, value, "expected a positive number of seconds (this Google Benchmark takes no unit)");
}

}  // namespace

void handle_benchmark_flag(const std::string& arg, CliOptions& o) {
  const size_t eq = arg.find('=');
  const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
  const bool has_value = eq != std::string::npos;
  const std::string value = has_value ? arg.substr(eq + 1) : "";
  const GbFlag* flag = nullptr;
  for (const GbFlag& f : kGbFlags)
    if (name == f.name) flag = &f;
  if (!flag) throw InputError("unknown Google Benchmark flag '" + arg + "' (see --help)");
  if (!has_value && flag->type != GbType::kBool)
    throw InputError("--" + name + " needs a value (--" + name + "=...)");
  switch (flag->type) {
    case GbType::kBool: break;
    case GbType::kInt:
      o.benchmark_repetitions = int(parse_integer(name, value, 1, 1000000, "a positive integer"));
      break;
    case GbType::kReal:
      if (parse_real(name, value) < 0.0) bad(name, value, "must not be negative");
      break;
    case GbType::kMinTime:
      check_min_time(name, value);
      o.benchmark_min_time_given = true;
      o.benchmark_min_time = value;
      break;
    case GbType::kString: break;
    case GbType::kOutFile:
      require_output_folder(name, value);
      o.benchmark_out = value;
      break;
    case GbType::kChoice:
      if (value.empty() || std::string(flag->choices).find("|" + value + "|") == std::string::npos)
        bad(name, value, std::string("expected one of ") + flag->choices);
      break;
  }
  if (name == "benchmark_list_tests") o.benchmark_list_tests = truthy(value);
  o.benchmark_args.push_back(arg);
}

}  // namespace mbv2
