// NumPy .npy files: float32 (and float64 on read), C order, shape checked.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/tensor.h"

namespace mbv2 {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<double> values;  ///< converted from '<f4' or '<f8'
  std::string dtype;           ///< "<f4" or "<f8" as stored
};

/// Reads a little-endian float32/float64 C-order .npy (format 1.0, 2.0 or 3.0).
/// Throws InputError naming the file and the problem (missing, not .npy, Fortran order,
/// unsupported dtype, truncated data, trailing bytes).
NpyArray read_npy(const std::string& path);

/// Reads a 4-D NCHW float tensor; if `expected` has non-zero dims they must match.
HostTensor read_npy_tensor(const std::string& path, Shape4 expected = {});

/// Writes float32 '<f4' C order with the given shape (product must equal values.size()).
void write_npy(const std::string& path, const std::vector<int64_t>& shape,
               const std::vector<float>& values);

}  // namespace mbv2
