// The --benchmark_* flags of Google Benchmark: checked here against what the linked
// version accepts, so a malformed value gets our one-line message instead of Google
// Benchmark's own (or an abort inside it), then passed through unchanged.
#pragma once

#include <string>

namespace mbv2 {

struct CliOptions;

/// Checks one "--benchmark_..." argument and records it in `options` (benchmark_args and
/// the fields the suite needs to know about). Throws InputError.
void handle_benchmark_flag(const std::string& arg, CliOptions& options);

}  // namespace mbv2
