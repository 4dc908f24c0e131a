#include "bench/inference.h"

#include <cstdio>

#include "bench/gpu_errors.h"
#include "bench/progress.h"
#include "bench/prepare.h"
#include "common/device_memory.h"
#include "common/metrics.h"
#include "common/npy.h"
#include "common/util.h"

namespace mbv2 {

int run_inference(const CliOptions& o, const ModelSetup& setup, const BackendRegistry& registry) {
  const ModelSpec& spec = setup.spec;
  const BackendInfo* info = registry.find(o.infer_backend);
  if (!info) throw InputError("unknown backend '" + o.infer_backend + "'");

  // The input as given (an .npy may hold several images), or a built batch if asked for.
  HostTensor input = o.batches_given ? build_batch_input(setup, o.batches.front()) : setup.input;
  const int batch = input.shape.n;
  const int classes = spec.num_classes;

  if (!harness_runs(o.precision))
    throw InputError(std::string("precision ") + to_string(o.precision) +
                     " is not implemented (the harness runs fp32 and tf32)");
  std::unique_ptr<Backend> backend = info->create();
  CudaStream stream;
  DeviceBuffer<float> d_input, d_logits;
  try {
    backend->prepare(spec, setup.weights, RunConfig{batch, o.precision});
    d_input.allocate(size_t(input.shape.numel()));
    d_logits.allocate(size_t(batch) * size_t(classes));
  } catch (const NotSupportedError& e) {
    throw InputError(info->name + " cannot run this configuration: " + one_line(e.what()));
  } catch (const std::exception& e) {
    if (is_out_of_memory(e))
      throw InputError("batch " + std::to_string(batch) + " does not fit in GPU memory: " + one_line(e.what()));
    throw;
  }
  const HostTensor in = to_layout(input, backend->layout());
  MBV2_CUDA_CHECK(cudaMemcpyAsync(d_input.get(), in.data.data(), in.data.size() * sizeof(float),
                                  cudaMemcpyHostToDevice, stream.get()));
  fill_nan(d_logits.get(), d_logits.size(), stream.get());
  try {
    backend->forward(d_input.get(), d_logits.get(), stream.get());
  } catch (const NotSupportedError& e) {
    throw InputError(info->name + " cannot run this configuration: " + one_line(e.what()));
  }
  std::vector<float> logits(d_logits.size());
  MBV2_CUDA_CHECK(cudaMemcpyAsync(logits.data(), d_logits.get(), logits.size() * sizeof(float),
                                  cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();

  const std::vector<std::string> labels = class_labels(classes);
  const int k = std::min(5, classes);
  std::printf("%s on %s (%s), %s\n", info->name.c_str(), setup.input_report.kind == "random"
                                                             ? "random input"
                                                             : setup.input_report.path.c_str(),
              spec.str().c_str(), to_string(o.precision));
  for (int n = 0; n < batch; ++n) {
    const float* row = logits.data() + size_t(n) * classes;
    const std::vector<double> p = softmax(row, classes);
    if (batch > 1) std::printf("image %d\n", n);
    for (int idx : top_k(row, classes, k))
      std::printf("  %4d  %-40s  p=%.4f  logit=%.4f\n", idx, labels[size_t(idx)].c_str(),
                  p[size_t(idx)], double(row[idx]));
  }
  if (!o.logits_out.empty()) {
    write_npy(o.logits_out, {int64_t(batch), int64_t(classes)}, logits);
    progress("logits written to " + o.logits_out);
  }
  return 0;
}

}  // namespace mbv2
