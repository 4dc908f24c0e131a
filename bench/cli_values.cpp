#include "bench/cli_values.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/util.h"

namespace mbv2::cli {

namespace {
std::string flag_text(const std::string& name, const std::string& value) {
  return "--" + name + "=" + value;
}
}  // namespace

[[noreturn]] void bad(const std::string& name, const std::string& value, const std::string& why) {
  throw InputError(flag_text(name, value) + ": " + why);
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

long long parse_integer(const std::string& name, const std::string& text, long long lo,
                        long long hi, const std::string& what) {
  if (!all_digits(text) || text.size() > 18) bad(name, text, "'" + text + "' is not " + what);
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  if (v < lo || v > hi) bad(name, text, "'" + text + "' is not " + what);
  return v;
}

uint64_t parse_seed(const std::string& name, const std::string& text) {
  if (!all_digits(text) || text.size() > 19) bad(name, text, "seed '" + text + "' is not a non-negative integer");
  return std::strtoull(text.c_str(), nullptr, 10);
}

double parse_real(const std::string& name, const std::string& text) {
  if (text.empty()) bad(name, text, "needs a number");
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
    bad(name, text, "'" + text + "' is not a number");
  return v;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> parse_list(const std::string& name, const std::string& text) {
  if (trim(text).empty()) bad(name, text, "needs a comma-separated list");
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) bad(name, text, "empty item in the list");
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
  }
  if (!text.empty() && text.back() == ',') bad(name, text, "empty item in the list");
  return out;
}

std::vector<std::string> parse_choices(const std::string& name, const std::string& text,
                                       const std::vector<std::string>& allowed) {
  std::vector<std::string> items = parse_list(name, text);
  if (items.size() == 1 && items[0] == "none") return {};
  for (const std::string& item : items)
    if (std::find(allowed.begin(), allowed.end(), item) == allowed.end()) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      bad(name, text, "unknown value '" + item + "' (expected " + list + ", or none)");
    }
  return items;
}

// ---------------------------------------------------------------------------------------
// Files.

void require_readable_file(const std::string& name, const std::string& path) {
  if (path.empty()) bad(name, path, "needs a file name");
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0)
    bad(name, path, "cannot open '" + path + "' (" + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) bad(name, path, "'" + path + "' is a folder, not a file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) bad(name, path, "cannot open '" + path + "' (" + std::strerror(errno) + ")");
  std::fclose(f);
}

void require_output_folder(const std::string& name, const std::string& path) {
  if (path.empty()) bad(name, path, "needs a file name");
  if (path.back() == '/') bad(name, path, "'" + path + "' names a folder, not a file");
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    bad(name, path, "folder '" + dir + "' does not exist");
}

}  // namespace mbv2::cli
