#include <cudnn.h>

#include <string>

#include "cudnn_ref/cudnn_backend.h"

namespace mbv2 {

std::string cudnn_version_string() {
  // cudnnGetVersion() is major*10000 + minor*100 + patch since cuDNN 9.
  const size_t v = cudnnGetVersion();
  return std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." +
         std::to_string(v % 100);
}

}  // namespace mbv2
