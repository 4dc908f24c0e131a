// mbv2_ir_trace: where the time of each fused inverted-residual block goes, measured inside
// the kernels of a real forward() (CUDA graph replay, PDL on, as in the benchmark).
//
//   build/tools/mbv2_ir_trace [batch]      # default 1; MBV2_CUSTOM_* knobs apply
//
// Prepares the custom backend with CustomOptions::trace (the fused blocks run a separate
// instantiation of their kernel that stamps clock64 at its phase boundaries and globaltimer
// at start and end), replays the captured forward 20 times, and prints
// custom_trace_report(): per block, the span, start skew and gap to the previous block, and
// the mean time of each phase of the last replay. Without a GPU: one line, exit 2.
#include <cstdlib>
#include <iostream>
#include <string>

#include "common/device_memory.h"
#include "common/model.h"
#include "common/tensor.h"
#include "common/util.h"
#include "common/weights.h"
#include "custom/custom_backend.h"
#include "custom/custom_options.h"

int main(int argc, char** argv) {
  using namespace mbv2;
  try {
    int batch = 1;
    if (argc > 2) throw InputError("usage: mbv2_ir_trace [batch]");
    if (argc == 2) {
      char* end = nullptr;
      const long v = std::strtol(argv[1], &end, 10);
      if (!end || *end || v < 1 || v > 256) throw InputError(std::string("batch '") + argv[1] + "': expected 1..256");
      batch = int(v);
    }
    std::string why;
    if (!cuda_device_available(&why)) {
      std::cerr << "mbv2_ir_trace: no GPU: " << why << "\n";
      return 2;
    }
    const ModelSpec spec = mobilenet_v2();
    const ModelWeights weights = load_weights(spec, std::string(MBV2_DATA_DIR) + "/mobilenet_v2.safetensors");
    CustomOptions options = CustomOptions::from_env();
    options.trace = true;
    std::unique_ptr<Backend> backend = make_custom_backend(options);
    backend->prepare(spec, weights, {batch, Precision::kFP32});
    const HostTensor input = random_tensor(spec.input_shape(batch), Layout::kNHWC, 1);
    DeviceBuffer<float> d_in(input.data.size()), d_logits(size_t(batch) * spec.num_classes);
    d_in.upload(input.data);
    CudaStream stream;
    CudaGraph graph;
    graph.capture(stream.get(), [&](cudaStream_t s) { backend->forward(d_in.get(), d_logits.get(), s); });
    for (int i = 0; i < 20; ++i) graph.launch(stream.get());
    stream.synchronize();
    std::cout << "batch " << batch << ": " << backend->describe_forward().substr(0, 120) << "...\n\n"
              << custom_trace_report(*backend);
    return 0;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    msg = msg.substr(0, msg.find('\n'));
    std::cerr << "mbv2_ir_trace: " << msg << "\n";
    return 1;
  }
}
