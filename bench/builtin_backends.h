// Every backend built into this binary, in one registry.
#pragma once

#include "common/backend.h"

namespace mbv2 {
/// The custom backend and, when built with cuDNN, the cuDNN variants.
BackendRegistry builtin_backends();
}  // namespace mbv2
