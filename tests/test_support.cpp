#include "test_support.h"

namespace mbv2::test {

std::string data_path(const std::string& name) { return std::string(MBV2_DATA_DIR) + "/" + name; }

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
