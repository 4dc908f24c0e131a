// Shapes, layouts, precisions and the host tensor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mbv2 {

enum class Layout { kNCHW, kNHWC };
enum class Precision { kFP32, kTF32, kFP16, kBF16, kFP64 };

const char* to_string(Layout layout);
const char* to_string(Precision precision);
/// Parses "nchw"/"nhwc"; throws InputError naming the value otherwise.
Layout parse_layout(const std::string& text);
/// Parses "fp32", "tf32", "fp16", "bf16", "fp64"; throws InputError otherwise.
Precision parse_precision(const std::string& text);

/// Logical 4-D activation shape; the layout says how it is stored.
struct Shape4 {
  int n = 0, c = 0, h = 0, w = 0;
  int64_t numel() const { return int64_t(n) * c * h * w; }
  bool operator==(const Shape4& o) const { return n == o.n && c == o.c && h == o.h && w == o.w; }
  bool operator!=(const Shape4& o) const { return !(*this == o); }
  std::string str() const;  // "1x32x112x112" (n x c x h x w)
};

/// Offset of logical element (n, c, h, w) in a tensor of shape s stored in layout l.
inline int64_t offset_of(const Shape4& s, Layout l, int n, int c, int h, int w) {
  if (l == Layout::kNCHW) return ((int64_t(n) * s.c + c) * s.h + h) * s.w + w;
  return ((int64_t(n) * s.h + h) * s.w + w) * s.c + c;
}

/// A float tensor on the host: data in `layout`, shape in logical NCHW order.
struct HostTensor {
  Shape4 shape;
  Layout layout = Layout::kNCHW;
  std::vector<float> data;

  HostTensor() = default;
  HostTensor(Shape4 s, Layout l) : shape(s), layout(l), data(size_t(s.numel()), 0.0f) {}
  float& at(int n, int c, int h, int w) { return data[size_t(offset_of(shape, layout, n, c, h, w))]; }
  float at(int n, int c, int h, int w) const {
    return data[size_t(offset_of(shape, layout, n, c, h, w))];
  }
};

/// The same tensor stored in another layout (a copy; returns the input when layouts match).
HostTensor to_layout(const HostTensor& t, Layout layout);

/// Images [first, first+count) of a batch, as their own tensor.
HostTensor slice_batch(const HostTensor& t, int first, int count);
/// Concatenates tensors of equal C/H/W and layout along the batch dimension.
HostTensor concat_batch(const std::vector<HostTensor>& parts);

/// Seeded uniform random tensor in [lo, hi): reproducible across machines.
HostTensor random_tensor(Shape4 s, Layout l, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

/// Deterministic, platform-independent generator (splitmix64): the same seed gives
/// the same numbers on every machine and standard library.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next_u64();
  /// Uniform in [0, 1).
  double next_double() { return double(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * next_double(); }
  /// Standard normal (Box-Muller).
  double normal();

 private:
  uint64_t state_;
};

}  // namespace mbv2
