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

}  // namespace mbv2::test
