#include "common/safetensors.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/file_io.h"
#include "common/util.h"

namespace mbv2 {

namespace {

// Bytes per element; 0 for an unknown dtype.
size_t dtype_size(const std::string& dtype) {
  static const std::pair<const char*, size_t> kSizes[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
      {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4}, {"U64", 8}};
  for (const auto& [name, size] : kSizes)
    if (dtype == name) return size;
  return 0;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << "]";
  return s.str();
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

int64_t SafeTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<float> SafeTensor::as_float(const std::string& name) const {
  if (dtype != "F32")
    throw InputError("tensor '" + name + "' has dtype " + dtype + ", expected F32");
  std::vector<float> out(static_cast<size_t>(numel()));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

SafetensorsFile parse_safetensors(const std::vector<uint8_t>& file, const std::string& what) {
  const std::string where = "safetensors file '" + what + "'";
  if (file.size() < 8)
    throw InputError(where + " is truncated: " + std::to_string(file.size()) +
                     " bytes, shorter than the 8-byte header length");
  const uint64_t header_len = read_u64_le(file.data());
  if (header_len > file.size() - 8)
    throw InputError(where + " is truncated: header length " + std::to_string(header_len) +
                     " exceeds the " + std::to_string(file.size() - 8) +
                     " bytes after the length field");
  const std::string header_text(reinterpret_cast<const char*>(file.data() + 8), header_len);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(header_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(where + " has a malformed JSON header (" + e.what() + ")");
  }
  if (!header.is_object()) throw InputError(where + " has a header that is not a JSON object");

  const uint64_t data_begin = 8 + header_len;
  const uint64_t data_size = file.size() - data_begin;
  SafetensorsFile out;
  out.hash = fnv1a64_hex(file.data(), file.size());

  struct Span { uint64_t begin, end; std::string name; };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) throw InputError(where + ": __metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string())
          throw InputError(where + ": __metadata__ value '" + m.key() + "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string t = where + ": tensor '" + name + "'";
    if (!entry.is_object()) throw InputError(t + " is not a JSON object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string())
      throw InputError(t + " has no dtype");
    if (!entry.contains("shape") || !entry["shape"].is_array())
      throw InputError(t + " has no shape");
    if (!entry.contains("data_offsets") || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2)
      throw InputError(t + " has no [begin, end] data_offsets");
    SafeTensor tensor;
    tensor.dtype = entry["dtype"].get<std::string>();
    const size_t esize = dtype_size(tensor.dtype);
    if (esize == 0) throw InputError(t + " has unknown dtype '" + tensor.dtype + "'");
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw InputError(t + " has a malformed shape " + entry["shape"].dump());
      tensor.shape.push_back(d.get<int64_t>());
    }
    for (const auto& o : entry["data_offsets"])
      if (!o.is_number_unsigned())
        throw InputError(t + " has malformed data_offsets " + entry["data_offsets"].dump());
    const uint64_t begin = entry["data_offsets"][0].get<uint64_t>();
    const uint64_t end = entry["data_offsets"][1].get<uint64_t>();
    if (begin > end || end > data_size)
      throw InputError(t + ": data_offsets [" + std::to_string(begin) + ", " +
                       std::to_string(end) + ") out of range (data section is " +
                       std::to_string(data_size) + " bytes)");
    const uint64_t need = uint64_t(tensor.numel()) * esize;
    if (end - begin != need)
      throw InputError(t + ": shape " + shape_str(tensor.shape) + " " + tensor.dtype + " needs " +
                       std::to_string(need) + " bytes but data_offsets cover " +
                       std::to_string(end - begin));
    tensor.bytes.assign(file.begin() + ptrdiff_t(data_begin + begin),
                        file.begin() + ptrdiff_t(data_begin + end));
    spans.push_back({begin, end, name});
    out.tensors.emplace(name, std::move(tensor));
  }

  // The data section must be covered exactly: no overlaps, no holes, no trailing bytes.
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  uint64_t at = 0;
  for (const Span& s : spans) {
    if (s.begin < at)
      throw InputError(where + ": tensor '" + s.name + "' at offset " + std::to_string(s.begin) +
                       " overlaps the previous tensor (which ends at " + std::to_string(at) + ")");
    if (s.begin > at)
      throw InputError(where + ": " + std::to_string(s.begin - at) +
                       " unused bytes at data offset " + std::to_string(at) + " before tensor '" +
                       s.name + "'");
    at = s.end;
  }
  if (at != data_size)
    throw InputError(where + " has " + std::to_string(data_size - at) +
                     " bytes of extra data after the last tensor (data offset " +
                     std::to_string(at) + ")");
  return out;
}

SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_file_bytes(path, "safetensors file"), path);
}

std::vector<uint8_t> serialize_safetensors(
    const std::vector<std::pair<std::string, SafeTensor>>& tensors,
    const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    const size_t esize = dtype_size(t.dtype);
    if (esize == 0) throw InputError("cannot write tensor '" + name + "': unknown dtype " + t.dtype);
    if (t.bytes.size() != uint64_t(t.numel()) * esize)
      throw InputError("cannot write tensor '" + name + "': " + std::to_string(t.bytes.size()) +
                       " bytes do not match shape " + shape_str(t.shape));
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape},
                    {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  std::vector<uint8_t> out(8 + text.size() + offset);
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i, len >>= 8) out[size_t(i)] = uint8_t(len & 0xff);
  std::memcpy(out.data() + 8, text.data(), text.size());
  size_t at = 8 + text.size();
  for (const auto& [name, t] : tensors) {
    if (!t.bytes.empty()) std::memcpy(out.data() + at, t.bytes.data(), t.bytes.size());
    at += t.bytes.size();
  }
  return out;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, SafeTensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::vector<uint8_t> bytes = serialize_safetensors(tensors, metadata);
  write_file_bytes(path, bytes.data(), bytes.size());
}

SafeTensor make_f32_tensor(std::vector<int64_t> shape, const std::vector<float>& values) {
  SafeTensor t;
  t.dtype = "F32";
  t.shape = std::move(shape);
  if (uint64_t(t.numel()) != values.size())
    throw InputError("make_f32_tensor: " + std::to_string(values.size()) +
                     " values do not match shape " + shape_str(t.shape));
  t.bytes.resize(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

}  // namespace mbv2
