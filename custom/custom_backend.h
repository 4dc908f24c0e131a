// The custom backend: handwritten FP32 CUDA kernels behind the layer interface.
#pragma once

#include "common/backend.h"

namespace mbv2 {
/// Registers "custom".
void register_custom_backends(BackendRegistry& registry);

/// For a custom backend prepared with CustomOptions::trace (MBV2_CUSTOM_TRACE=1): waits for the
/// device, then a markdown table of the last forward()'s fused blocks: per block, the kernel's
/// span, start skew and gap to the previous block (globaltimer) and the mean time of each
/// phase over its thread blocks (clock64 at the SM clock). Throws InputError for another
/// backend or without the trace.
std::string custom_trace_report(Backend& backend);
}  // namespace mbv2
