#include "common/util.h"

namespace mbv2 {

std::string fnv1a64_hex(const void* data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  char buf[17];
  static const char* kHex = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, h >>= 4) buf[i] = kHex[h & 15];
  buf[16] = 0;
  return buf;
}

}  // namespace mbv2
