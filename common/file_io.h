// Whole-file reads for the loaders (safetensors, npy, images).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mbv2 {

/// The bytes of a file; throws InputError "cannot open <what> '<path>'" if unreadable.
std::vector<uint8_t> read_file_bytes(const std::string& path, const std::string& what);

/// Writes bytes to `path` atomically (temporary file, then rename); throws InputError.
void write_file_bytes(const std::string& path, const void* data, size_t size);

}  // namespace mbv2
