#include "common/backend.h"

#include <stdexcept>

namespace mbv2 {

void BackendRegistry::add(BackendInfo info) {
  if (find(info.name)) throw std::logic_error("backend '" + info.name + "' registered twice");
  entries_.push_back(std::move(info));
}

const BackendInfo* BackendRegistry::find(const std::string& name) const {
  for (const BackendInfo& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<std::string> BackendRegistry::names() const {
  std::vector<std::string> out;
  for (const BackendInfo& e : entries_) out.push_back(e.name);
  return out;
}

}  // namespace mbv2
