// .npy reading and writing, and every bad file as a clear error.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "common/file_io.h"
#include "common/npy.h"
#include "common/util.h"
#include "test_support.h"

namespace mbv2 {
namespace {

using test::temp_path;

std::vector<uint8_t> npy_bytes(const std::string& header_dict, size_t data_bytes) {
  std::string h = header_dict;
  while ((10 + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::vector<uint8_t> f(10 + h.size() + data_bytes, 0);
  const uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::memcpy(f.data(), magic, 8);
  f[8] = uint8_t(h.size() & 0xff);
  f[9] = uint8_t(h.size() >> 8);
  std::memcpy(f.data() + 10, h.data(), h.size());
  return f;
}

void expect_npy_error(const std::vector<uint8_t>& bytes, const std::string& needle,
                      Shape4 expected = {}) {
  const std::string path = temp_path("mbv2_test_bad.npy");
  write_file_bytes(path, bytes.data(), bytes.size());
  try {
    read_npy_tensor(path, expected);
    ADD_FAILURE() << "expected InputError containing " << needle;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(Npy, ReadsPyTorchInput) {
  const HostTensor x = read_npy_tensor(test::data_path("coffee_input.npy"), {1, 3, 224, 224});
  EXPECT_EQ(x.shape, (Shape4{1, 3, 224, 224}));
  // Normalised ImageNet pixels lie in [-2.12, 2.64].
  for (float v : x.data) {
    ASSERT_GE(v, -2.2f);
    ASSERT_LE(v, 2.7f);
  }
}

TEST(Npy, ReadsFloat64) {
  const NpyArray a = read_npy(test::data_path("coffee_logits_f64.npy"));
  EXPECT_EQ(a.dtype, "<f8");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 1000}));
  const NpyArray b = read_npy(test::data_path("coffee_logits.npy"));
  for (size_t i = 0; i < 1000; ++i) EXPECT_NEAR(a.values[i], b.values[i], 1e-5);
}

TEST(Npy, WriteReadRoundTrip) {
  const std::string path = temp_path("mbv2_test_rt.npy");
  const std::vector<float> v{1.5f, -2.0f, 3.0f, 4.0f, 5.0f, 6.25f};
  write_npy(path, {1, 6}, v);
  const NpyArray a = read_npy(path);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 6}));
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(a.values[i], v[i]);
  write_npy(path, {6}, v);
  EXPECT_EQ(read_npy(path).shape, (std::vector<int64_t>{6}));
  std::remove(path.c_str());
  EXPECT_THROW(write_npy(path, {2, 2}, v), InputError);
}

TEST(Npy, BadFiles) {
  expect_npy_error({'n', 'o', 't', ' ', 'n', 'p', 'y', '!', '!', '!', '!'}, "not a NumPy");
  expect_npy_error(npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 1, 1, 1), }", 4),
                   "dtype '<i4'");
  expect_npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1, 1, 1), }", 4),
                   "Fortran order");
  expect_npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 2, 2), }", 20),
                   "truncated");
  expect_npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1), }", 8),
                   "unexpected bytes");
  expect_npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16),
                   "4-D NCHW");
  expect_npy_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 2, 2), }", 48),
                   "expected (N, 3, 224, 224)", {0, 3, 224, 224});
  EXPECT_THROW(read_npy("/nonexistent/input.npy"), InputError);
}

}  // namespace
}  // namespace mbv2
