// mbv2_report: the report tools' command line.
//
//   mbv2_report compare BASE.json NEW.json [--threshold=5%] [--layer-threshold=P%]
//                       [--noise-factor=2] [--all]
//                       [--markdown-out=FILE]
//   mbv2_report summary REPORT.json [--markdown-out=FILE]
//
// Exit codes (compare): 0 pass, 1 regression, 2 inconclusive, incomparable or an error.
// Every error is one line on stderr; see reports/README.md.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "common/file_io.h"
#include "common/report.h"
#include "common/util.h"
#include "reports/compare.h"
#include "reports/compare_markdown.h"
#include "reports/report_summary.h"

namespace {

constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: mbv2_report <command> [options]\n"
    "\n"
    "  compare BASE.json NEW.json   compare two reports; markdown verdict on stdout\n"
    "      --threshold=P%           relative change that counts (default 5%)\n"
    "      --layer-threshold=P%     the same for per-layer rows only (default: --threshold)\n"
    "      --noise-factor=F         a change must exceed F x the larger CV (default 2)\n"
    "      --all                    list every row, not only the changed ones\n"
    "      --markdown-out=FILE      also write the markdown to FILE\n"
    "    exit: 0 pass, 1 regression, 2 inconclusive / incomparable / error\n"
    "\n"
    "  summary REPORT.json          markdown summary of one report on stdout\n"
    "      --markdown-out=FILE      also write the markdown to FILE\n"
    "\n"
    "  --help                       this text\n"
    "Reference: reports/README.md\n";

struct Args {
  std::vector<std::string> files;
  double threshold = 0.05;
  std::optional<double> layer_threshold;
  double noise_factor = 2.0;
  bool all = false;
  std::string markdown_out;
};

/// "--name=value" → value when `arg` starts with "--name=".
bool take_value(const std::string& arg, const std::string& name, std::string* value) {
  const std::string prefix = name + "=";
  if (arg.rfind(prefix, 0) != 0) return false;
  *value = arg.substr(prefix.size());
  return true;
}

double parse_number(const std::string& text, const std::string& flag, const char* expected) {
  char* end = nullptr;
  const double v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v))
    throw mbv2::InputError("invalid " + flag + "='" + text + "': expected " + expected);
  return v;
}

/// "5%" or "5" → 0.05; 0% to 99%.
double parse_percent(const std::string& value, const std::string& flag) {
  std::string number = value;
  if (!number.empty() && number.back() == '%') number.pop_back();
  const double pct = parse_number(number, flag, "a percentage such as 5%");
  if (pct < 0.0 || pct >= 100.0)
    throw mbv2::InputError("invalid " + flag + "='" + value + "': expected 0% to 99%");
  return pct / 100.0;
}

Args parse_args(const std::string& command, int argc, char** argv) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string value;
    if (arg.rfind("--", 0) != 0) {
      a.files.push_back(arg);
    } else if (command == "compare" && take_value(arg, "--threshold", &value)) {
      a.threshold = parse_percent(value, "--threshold");
    } else if (command == "compare" && take_value(arg, "--layer-threshold", &value)) {
      a.layer_threshold = parse_percent(value, "--layer-threshold");
    } else if (command == "compare" && take_value(arg, "--noise-factor", &value)) {
      a.noise_factor = parse_number(value, "--noise-factor", "a number such as 2");
      if (a.noise_factor < 0.0)
        throw mbv2::InputError("invalid --noise-factor='" + value + "': must not be negative");
    } else if (command == "compare" && arg == "--all") {
      a.all = true;
    } else if (take_value(arg, "--markdown-out", &value)) {
      if (value.empty()) throw mbv2::InputError("--markdown-out needs a file name");
      a.markdown_out = value;
    } else {
      throw mbv2::InputError("unknown option '" + arg + "' for " + command +
                             " (see mbv2_report --help)");
    }
  }
  return a;
}

/// Errors are one line: nlohmann and OS messages can carry newlines of their own.
std::string one_line(std::string text) {
  for (char& ch : text)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return text;
}

void emit(const std::string& markdown, const std::string& markdown_out) {
  std::fwrite(markdown.data(), 1, markdown.size(), stdout);
  std::fflush(stdout);
  if (!markdown_out.empty()) mbv2::write_file_bytes(markdown_out, markdown.data(), markdown.size());
}

int run_compare(const Args& a) {
  if (a.files.size() != 2)
    throw mbv2::InputError("compare needs BASE.json and NEW.json, got " +
                           std::to_string(a.files.size()) + " file(s)");
  const mbv2::Report base = mbv2::read_report(a.files[0]);
  const mbv2::Report head = mbv2::read_report(a.files[1]);
  mbv2::CompareOptions options;
  options.threshold = a.threshold;
  options.layer_threshold = a.layer_threshold;
  options.noise_factor = a.noise_factor;
  const mbv2::Comparison c = mbv2::compare_reports(base, head, options);
  mbv2::CompareRenderOptions render;
  render.all_rows = a.all;
  render.base_label = a.files[0];
  render.head_label = a.files[1];
  emit(mbv2::render_compare_markdown(c, base, head, render), a.markdown_out);
  return mbv2::compare_exit_code(c);
}

int run_summary(const Args& a) {
  if (a.files.size() != 1)
    throw mbv2::InputError("summary needs one REPORT.json, got " + std::to_string(a.files.size()) +
                           " file(s)");
  emit(mbv2::render_summary_markdown(mbv2::read_report(a.files[0])), a.markdown_out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  if (argc < 2) {
    std::fputs("mbv2_report: error: missing command: compare or summary (see mbv2_report --help)\n",
               stderr);
    return kExitUsage;
  }
  const std::string command = argv[1];
  try {
    if (command == "compare") return run_compare(parse_args(command, argc, argv));
    if (command == "summary") return run_summary(parse_args(command, argc, argv));
    std::fprintf(stderr,
                 "mbv2_report: error: unknown command '%s': expected compare or summary (see "
                 "mbv2_report --help)\n",
                 one_line(command).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mbv2_report: error: %s\n", one_line(e.what()).c_str());
  }
  return kExitUsage;
}
