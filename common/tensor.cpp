#include "common/tensor.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/util.h"

namespace mbv2 {

const char* to_string(Layout layout) { return layout == Layout::kNCHW ? "nchw" : "nhwc"; }

const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::kFP32: return "fp32";
    case Precision::kTF32: return "tf32";
    case Precision::kFP16: return "fp16";
    case Precision::kBF16: return "bf16";
    case Precision::kFP64: return "fp64";
  }
  return "?";
}

Layout parse_layout(const std::string& text) {
  if (text == "nchw" || text == "NCHW") return Layout::kNCHW;
  if (text == "nhwc" || text == "NHWC") return Layout::kNHWC;
  throw InputError("unknown layout '" + text + "' (expected nchw or nhwc)");
}

Precision parse_precision(const std::string& text) {
  for (Precision p : {Precision::kFP32, Precision::kTF32, Precision::kFP16, Precision::kBF16,
                      Precision::kFP64}) {
    if (text == to_string(p)) return p;
  }
  throw InputError("unknown precision '" + text + "' (expected fp32, tf32, fp16, bf16 or fp64)");
}

std::string Shape4::str() const {
  std::ostringstream s;
  s << n << "x" << c << "x" << h << "x" << w;
  return s.str();
}

HostTensor to_layout(const HostTensor& t, Layout layout) {
  if (t.layout == layout) return t;
  HostTensor out(t.shape, layout);
  const Shape4& s = t.shape;
  for (int n = 0; n < s.n; ++n)
    for (int c = 0; c < s.c; ++c)
      for (int h = 0; h < s.h; ++h)
        for (int w = 0; w < s.w; ++w) out.at(n, c, h, w) = t.at(n, c, h, w);
  return out;
}

HostTensor slice_batch(const HostTensor& t, int first, int count) {
  if (first < 0 || count < 0 || first + count > t.shape.n)
    throw std::out_of_range("slice_batch: images [" + std::to_string(first) + ", " +
                            std::to_string(first + count) + ") of a batch of " +
                            std::to_string(t.shape.n));
  Shape4 s = t.shape;
  s.n = count;
  HostTensor out(s, t.layout);
  const size_t per_image = size_t(t.shape.c) * t.shape.h * t.shape.w;
  std::copy(t.data.begin() + ptrdiff_t(per_image * first),
            t.data.begin() + ptrdiff_t(per_image * (first + count)), out.data.begin());
  return out;
}

HostTensor concat_batch(const std::vector<HostTensor>& parts) {
  if (parts.empty()) return HostTensor();
  Shape4 s = parts.front().shape;
  s.n = 0;
  for (const HostTensor& p : parts) {
    if (p.shape.c != s.c || p.shape.h != s.h || p.shape.w != s.w || p.layout != parts[0].layout)
      throw InputError("concat_batch: tensor of shape " + p.shape.str() + " does not match " +
                       parts[0].shape.str());
    s.n += p.shape.n;
  }
  HostTensor out(s, parts.front().layout);
  size_t at = 0;
  for (const HostTensor& p : parts) {
    std::copy(p.data.begin(), p.data.end(), out.data.begin() + ptrdiff_t(at));
    at += p.data.size();
  }
  return out;
}

uint64_t SplitMix64::next_u64() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double SplitMix64::normal() {
  double u1 = next_double();
  while (u1 <= 1e-300) u1 = next_double();
  const double u2 = next_double();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

HostTensor random_tensor(Shape4 s, Layout l, uint64_t seed, float lo, float hi) {
  HostTensor t(s, l);
  SplitMix64 rng(seed);
  for (float& v : t.data) v = float(rng.uniform(lo, hi));
  return t;
}

}  // namespace mbv2
