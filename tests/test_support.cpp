#include "test_support.h"

#include <unistd.h>

#include <filesystem>

namespace mbv2::test {

std::string data_path(const std::string& name) { return std::string(MBV2_DATA_DIR) + "/" + name; }

DeviceBuffer<float> upload(const HostTensor& t) {
  DeviceBuffer<float> d(t.data.size());
  d.upload(t.data);
  return d;
}

std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string test = info ? info->name() : "no_test";
  return (std::filesystem::temp_directory_path() /
          (test + "_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

const ModelSpec& default_spec() {
  static const ModelSpec spec = mobilenet_v2(1.0, 224, 1000);
  return spec;
}

const ModelWeights& default_weights() {
  static const ModelWeights weights =
      load_weights(default_spec(), data_path("mobilenet_v2.safetensors"));
  return weights;
}

Layer conv_layer(int in_c, int out_c, int h, int w, int k, int stride, int groups, Activation act,
                 bool residual) {
  Layer l;
  l.name = "hand";
  l.kind = LayerKind::kConv;
  l.in_c = in_c, l.out_c = out_c, l.in_h = h, l.in_w = w;
  l.kernel = k, l.stride = stride, l.pad = (k - 1) / 2, l.groups = groups;
  l.out_h = conv_out_size(h, k, stride, l.pad);
  l.out_w = conv_out_size(w, k, stride, l.pad);
  l.act = act;
  l.residual_from = residual ? 0 : -1;
  return l;
}

}  // namespace mbv2::test
