// The safetensors format: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end)}, "__metadata__": {...}}, then data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mbv2 {

struct SafeTensor {
  std::string dtype;  ///< "F32", "F64", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  int64_t numel() const;
  /// Values as float; only for F32 (throws InputError otherwise, naming `name`).
  std::vector<float> as_float(const std::string& name) const;
};

struct SafetensorsFile {
  std::map<std::string, SafeTensor> tensors;
  std::map<std::string, std::string> metadata;
  std::string hash;  ///< FNV-1a 64 of the whole file
};

/// Parses a safetensors file. Throws InputError naming the tensor or offset for a
/// truncated file, malformed header, unknown dtype, shape/size mismatch, offsets out
/// of range or overlapping, holes, or extra bytes after the last tensor.
SafetensorsFile read_safetensors(const std::string& path);
/// Parses from memory; `what` names the source in error messages.
SafetensorsFile parse_safetensors(const std::vector<uint8_t>& file, const std::string& what);

/// Writes tensors in the given order (no gaps), header padded to 8 bytes.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, SafeTensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
/// The file image write_safetensors would write.
std::vector<uint8_t> serialize_safetensors(
    const std::vector<std::pair<std::string, SafeTensor>>& tensors,
    const std::map<std::string, std::string>& metadata = {});

/// An F32 tensor from values.
SafeTensor make_f32_tensor(std::vector<int64_t> shape, const std::vector<float>& values);

}  // namespace mbv2
