#include "bench/progress.h"

#include <chrono>
#include <cstdio>

namespace mbv2 {

namespace {
std::chrono::steady_clock::time_point start_time() {
  static const auto start = std::chrono::steady_clock::now();
  return start;
}
}  // namespace

double elapsed_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time()).count();
}

void progress(const std::string& message) {
  std::fprintf(stderr, "[%7.1f s] %s\n", elapsed_s(), message.c_str());
  std::fflush(stderr);
}

}  // namespace mbv2
