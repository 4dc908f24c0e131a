// --list: the layers of the model with shapes, FLOPs and bytes, and the backends built
// in. CPU only.
#pragma once

#include <ostream>

#include "common/backend.h"
#include "common/model.h"

namespace mbv2 {
/// Prints the table for `batch` images (and the registered backends) to `out`.
void print_layer_list(std::ostream& out, const ModelSpec& spec, const BackendRegistry& registry, int batch);
}  // namespace mbv2
