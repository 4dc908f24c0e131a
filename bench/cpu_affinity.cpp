#include "bench/cpu_affinity.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#if defined(__linux__)
#include <sched.h>
#endif

namespace mbv2 {

namespace {

bool parse_int(const std::string& s, int* out) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  *out = std::atoi(s.c_str());
  return true;
}

}  // namespace

std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> cpus;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, ',')) {
    part.erase(std::remove_if(part.begin(), part.end(),
                              [](unsigned char c) { return std::isspace(c); }),
               part.end());
    const size_t dash = part.find('-');
    int lo = 0, hi = 0;
    if (dash == std::string::npos) {
      if (!parse_int(part, &lo)) continue;
      hi = lo;
    } else if (!parse_int(part.substr(0, dash), &lo) || !parse_int(part.substr(dash + 1), &hi) || hi < lo) {
      continue;
    }
    for (int c = lo; c <= hi; ++c) cpus.push_back(c);
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

int choose_timing_cpu(const std::vector<int>& allowed, const std::vector<int>& gpu_local) {
  int best = -1;
  for (int c : allowed)
    if (std::find(gpu_local.begin(), gpu_local.end(), c) != gpu_local.end()) best = std::max(best, c);
  if (best >= 0) return best;
  for (int c : allowed) best = std::max(best, c);
  return best;
}

int pin_thread_near_gpu(const std::string& pci_bus_id) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
  std::vector<int> allowed;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) allowed.push_back(c);
  std::string id = pci_bus_id;
  for (char& c : id) c = char(std::tolower(static_cast<unsigned char>(c)));
  std::vector<int> local;
  if (!id.empty()) {
    std::ifstream f("/sys/bus/pci/devices/" + id + "/local_cpulist");
    std::string line;
    if (f && std::getline(f, line)) local = parse_cpu_list(line);
  }
  const int cpu = choose_timing_cpu(allowed, local);
  if (cpu < 0) return -1;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0 ? cpu : -1;
#else
  (void)pci_bus_id;
  return -1;
#endif
}

}  // namespace mbv2
