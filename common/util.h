// Small shared helpers: integer maths and the project's error types.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define MBV2_HOST_DEVICE __host__ __device__
#else
#define MBV2_HOST_DEVICE
#endif

namespace mbv2 {

/// Smallest integer >= a / b for positive b.
template <typename T>
MBV2_HOST_DEVICE constexpr T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}

/// Thrown for bad user input (files, shapes, flags); the CLI prints what() on one line.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Thrown when a backend cannot run a configuration; reported as `not_supported`.
class NotSupportedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// FNV-1a 64-bit hash, hex encoded: identifies weights files in reports.
std::string fnv1a64_hex(const void* data, size_t size);

}  // namespace mbv2
