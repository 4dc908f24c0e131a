// The safetensors reader/writer: round trip and every malformed-file case, each a
// clear InputError that names the tensor or offset.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/safetensors.h"
#include "common/util.h"
#include "test_support.h"

namespace mbv2 {
namespace {

std::vector<uint8_t> with_header(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> f(8 + header.size() + data_bytes, 0);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) f[size_t(i)] = uint8_t(n & 0xff);
  std::memcpy(f.data() + 8, header.data(), header.size());
  for (size_t i = 0; i < data_bytes; ++i) f[8 + header.size() + i] = uint8_t(i * 7 + 1);
  return f;
}

// Expects InputError whose message contains every one of `needles`.
void expect_error(const std::vector<uint8_t>& file, std::initializer_list<const char*> needles) {
  try {
    parse_safetensors(file, "test.safetensors");
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

TEST(Safetensors, RoundTrip) {
  const std::vector<float> a{1.0f, -2.5f, 3.25f, 0.0f, 1e-20f, 7.0f};
  const std::vector<float> b{42.0f};
  const auto bytes = serialize_safetensors(
      {{"layer.weight", make_f32_tensor({2, 3}, a)}, {"layer.bias", make_f32_tensor({1}, b)}},
      {{"format", "pt"}});
  // The header is padded so that the data section starts 8-byte aligned.
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[size_t(i)];
  EXPECT_EQ((8 + header_len) % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_len + 7 * sizeof(float));
  const SafetensorsFile f = parse_safetensors(bytes, "mem");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.tensors.at("layer.weight").shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.tensors.at("layer.weight").as_float("layer.weight"), a);
  EXPECT_EQ(f.tensors.at("layer.bias").as_float("layer.bias"), b);
  EXPECT_EQ(f.hash.size(), 16u);
}

TEST(Safetensors, FileRoundTripAndMissingFile) {
  const std::string path = test::temp_path("roundtrip.safetensors");
  write_safetensors(path, {{"x", make_f32_tensor({3}, {1, 2, 3})}});
  EXPECT_EQ(read_safetensors(path).tensors.at("x").as_float("x"), (std::vector<float>{1, 2, 3}));
  std::remove(path.c_str());
  EXPECT_THROW(read_safetensors("/nonexistent/weights.safetensors"), InputError);
}

TEST(Safetensors, TruncatedLengthField) { expect_error({1, 2, 3}, {"truncated", "3 bytes"}); }

TEST(Safetensors, HeaderLongerThanFile) {
  auto f = with_header("{}", 0);
  f[0] = 200;  // claims a 200-byte header
  expect_error(f, {"truncated", "header length 200"});
}

TEST(Safetensors, MalformedJson) {
  expect_error(with_header("{\"a\": [1, 2", 0), {"malformed JSON header"});
  expect_error(with_header("[1, 2]", 0), {"not a JSON object"});
}

TEST(Safetensors, TruncatedData) {
  // Header promises 16 bytes; only 8 are present.
  expect_error(with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
               {"'w'", "out of range", "8 bytes"});
}

TEST(Safetensors, OffsetsOutOfRangeOrReversed) {
  expect_error(with_header(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
               {"'w'", "[8, 4)"});
}

TEST(Safetensors, ShapeDoesNotMatchSize) {
  expect_error(with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               {"'w'", "needs 12 bytes", "cover 8"});
}

TEST(Safetensors, UnknownDtypeAndMissingFields) {
  expect_error(with_header(R"({"w":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", 4),
               {"'w'", "unknown dtype"});
  expect_error(with_header(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), {"'w'", "no dtype"});
  expect_error(with_header(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
               {"'w'", "malformed shape"});
}

TEST(Safetensors, OverlapHoleAndExtraData) {
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
               {"overlaps", "offset 4"});
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
               {"unused bytes", "offset 0", "'a'"});
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12),
               {"8 bytes of extra data", "offset 4"});
}

TEST(Safetensors, NonFloatTensorIsNamedWhenReadAsFloat) {
  const auto f = parse_safetensors(
      with_header(R"({"n":{"dtype":"I64","shape":[],"data_offsets":[0,8]}})", 8), "mem");
  try {
    f.tensors.at("n").as_float("n");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'n' has dtype I64"), std::string::npos);
  }
}

}  // namespace
}  // namespace mbv2
