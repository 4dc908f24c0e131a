// The model, its weights and the input a run uses, loaded once from the command line,
// and the batches built from them.
#pragma once

#include <string>
#include <vector>

#include "bench/cli_options.h"
#include "common/model.h"
#include "common/report.h"
#include "common/tensor.h"
#include "common/weights.h"

namespace mbv2 {

struct ModelSetup {
  ModelSpec spec;
  ModelWeights weights;
  WeightsReport weights_report;
  InputReport input_report;
  HostTensor input;  ///< the chosen input, NCHW [n, 3, R, R] (n = 1 unless an .npy holds more)
  std::string input_photo;  ///< the chosen photo's path ("" for .npy or random input)
  bool random_input = false;
  uint64_t input_seed = 0;
};

/// Loads weights and input as the options say. Throws InputError for a missing, corrupt
/// or mismatched file (wrong tensor names or shapes, wrong .npy shape).
ModelSetup load_model_setup(const CliOptions& options);

/// A batch of `batch` images, NCHW: the chosen input's images first, then the sample photos
/// (data/coffee.png, data/chelsea.png) other than the chosen one, then seeded random images
/// (seed = input seed + image index). With --random every image is random.
HostTensor build_batch_input(const ModelSetup& setup, int batch);

/// The sample photos in data/, in the order batches use them.
std::vector<std::string> sample_photos();

/// Class names: data/imagenet_labels.txt for 1000 classes, else "class <i>".
std::vector<std::string> class_labels(int classes);

}  // namespace mbv2
