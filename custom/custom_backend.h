// The custom backend: handwritten FP32 CUDA kernels behind the layer interface.
#pragma once

#include "common/backend.h"

namespace mbv2 {
/// Registers "custom".
void register_custom_backends(BackendRegistry& registry);
}  // namespace mbv2
