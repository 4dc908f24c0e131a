// Inference mode (--infer): one backend, one forward() on the input, the top-5 classes
// with softmax probabilities on stdout, the logits optionally written as .npy.
#pragma once

#include "bench/cli_options.h"
#include "bench/model_setup.h"
#include "common/backend.h"

namespace mbv2 {

/// Returns the exit code. Throws InputError for a configuration the backend cannot run
/// or a batch that does not fit in GPU memory.
int run_inference(const CliOptions& options, const ModelSetup& setup, const BackendRegistry& registry);

}  // namespace mbv2
