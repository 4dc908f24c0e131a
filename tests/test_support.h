// Shared test helpers: data paths, GPU skipping, cached default model.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/device_memory.h"
#include "common/model.h"
#include "common/tensor.h"
#include "common/weights.h"

namespace mbv2::test {

/// Absolute path of a file under the project's data/ folder.
std::string data_path(const std::string& name);

/// A device copy of a host tensor's data, complete on return (DeviceBuffer::upload).
DeviceBuffer<float> upload(const HostTensor& t);

/// A temp-file path unique to the running test and process (CTest runs tests in parallel).
std::string temp_path(const std::string& name);

/// A hand-built convolution layer named "hand": k x k, "same" padding ((k - 1) / 2), with
/// a residual from layer 0 when asked (run_layer only needs has_residual()).
Layer conv_layer(int in_c, int out_c, int h, int w, int k, int stride, int groups, Activation act,
                 bool residual = false);

/// The default model (width 1.0, 224, 1000 classes) and its real weights, loaded once.
const ModelSpec& default_spec();
const ModelWeights& default_weights();

}  // namespace mbv2::test

/// GPU tests call this first: without a device they skip and say why.
#define MBV2_SKIP_WITHOUT_GPU()                                             \
  do {                                                                      \
    std::string mbv2_why_;                                                  \
    if (!::mbv2::cuda_device_available(&mbv2_why_))                         \
      GTEST_SKIP() << "GPU test skipped: " << mbv2_why_;                    \
  } while (0)
