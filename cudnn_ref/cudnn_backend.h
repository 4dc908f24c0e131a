// The cuDNN backends: cuDNN 9 graph API with engine search, one per layout.
#pragma once

#include <string>

#include "common/backend.h"

namespace mbv2 {
/// Registers "cudnn-nhwc" and "cudnn-nchw".
void register_cudnn_backends(BackendRegistry& registry);
}  // namespace mbv2

namespace mbv2 {
/// The cuDNN library version actually loaded at run time, e.g. "9.14.0".
std::string cudnn_version_string();
}  // namespace mbv2
