// Running the real mbv2_bench binary from a test: exit status, stdout and stderr.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace mbv2::test {

struct ProcessResult {
  int status = -1;  ///< exit status, or -1 when it did not exit normally (a crash)
  std::string out, err;
  /// stderr split into lines (without the trailing newline).
  std::vector<std::string> err_lines() const {
    std::vector<std::string> lines;
    std::stringstream ss(err);
    std::string line;
    while (std::getline(ss, line)) lines.push_back(line);
    return lines;
  }
};

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// A fresh path under the temp folder (the file itself is not created).
inline std::string temp_path(const std::string& stem) {
  static int counter = 0;
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/mbv2_" + stem + "_" + std::to_string(::getpid()) +
         "_" + std::to_string(counter++);
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs MBV2_BENCH_EXE with `args` (each quoted), `env` prepended verbatim (e.g.
/// "CUDA_VISIBLE_DEVICES="), from the source folder.
inline ProcessResult run_bench(const std::vector<std::string>& args, const std::string& env = "") {
  const std::string out = temp_path("out"), err = temp_path("err");
  std::string cmd = "cd " + shell_quote(MBV2_SOURCE_DIR) + " && " + (env.empty() ? "" : "env " + env + " ") +
                    shell_quote(MBV2_BENCH_EXE);
  for (const std::string& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(out) + " 2>" + shell_quote(err) + " </dev/null";
  const int raw = std::system(cmd.c_str());
  ProcessResult r;
  r.status = (raw != -1 && WIFEXITED(raw)) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  std::remove(out.c_str());
  std::remove(err.c_str());
  return r;
}

}  // namespace mbv2::test
