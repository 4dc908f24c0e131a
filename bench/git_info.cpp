#include "bench/git_info.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace mbv2 {

namespace {

/// Single-quoted for /bin/sh.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

/// stdout of a command; false when it could not run or exited non-zero.
bool run_command(const std::string& command, std::string* out) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return false;
  std::array<char, 4096> buf{};
  out->clear();
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out->append(buf.data(), n);
  const int status = ::pclose(pipe);
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

GitInfo read_git_info(const std::string& source_dir) {
  GitInfo g;
  g.sha = "unknown";
  // A copy of the tree shipped to a GPU machine can be told its commit; that wins over what
  // git says there (such a copy carried a stale .git on the H200 machine).
  if (const char* sha = std::getenv("MBV2_GIT_SHA"); sha && *sha) {
    g.sha = sha;
    const char* dirty = std::getenv("MBV2_GIT_DIRTY");
    g.dirty = dirty && std::string(dirty) == "1";
    return g;
  }
  if (source_dir.empty()) return g;
  const std::string git = "git -C " + shell_quote(source_dir) + " ";
  std::string out;
  if (!run_command(git + "rev-parse HEAD 2>/dev/null", &out)) return g;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
  if (out.size() < 7 || out.find_first_not_of("0123456789abcdef") != std::string::npos) return g;
  g.sha = out;
  if (run_command(git + "status --porcelain 2>/dev/null", &out)) g.dirty = !out.empty();
  return g;
}

}  // namespace mbv2
