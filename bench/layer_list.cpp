#include "bench/layer_list.h"

#include <cstdio>
#include <string>

namespace mbv2 {

namespace {
std::string shape_text(const Shape4& s) {
  return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}
}  // namespace

void print_layer_list(std::ostream& out, const ModelSpec& spec, const BackendRegistry& registry, int batch) {
  char line[512];
  out << spec.str() << ", batch " << batch << ": " << spec.layers.size() << " layers, "
      << spec.param_count() << " parameters, " << double(spec.flops(batch)) * 1e-9 << " GFLOP\n\n";
  std::snprintf(line, sizeof(line), "%3s  %-22s %-10s %-14s %-14s %12s %12s  %s\n", "#", "name", "role",
                "input CxHxW", "output CxHxW", "MFLOP", "KiB moved", "op");
  out << line;
  for (const Layer& l : spec.layers) {
    std::snprintf(line, sizeof(line), "%3d  %-22s %-10s %-14s %-14s %12.3f %12.1f  %s\n", l.index,
                  l.name.c_str(), to_string(l.role), shape_text(l.input_shape(batch)).c_str(),
                  shape_text(l.output_shape(batch)).c_str(), double(l.flops(batch)) * 1e-6,
                  double(l.min_bytes(batch)) / 1024.0, l.describe().c_str());
    out << line;
  }
  out << "\nbackends:\n";
  if (registry.all().empty()) out << "  (none built in)\n";
  for (const BackendInfo& b : registry.all()) {
    std::snprintf(line, sizeof(line), "  %-14s family %-8s %s\n", b.name.c_str(), b.family.c_str(),
                  b.description.c_str());
    out << line;
  }
}

}  // namespace mbv2
