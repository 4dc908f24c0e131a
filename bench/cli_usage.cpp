#include <sstream>
#include <string>
#include <vector>

#include "bench/cli_options.h"

namespace mbv2 {

std::string usage_text(const std::vector<std::string>& known_backends) {
  std::string backends;
  for (const std::string& b : known_backends) backends += (backends.empty() ? "" : ",") + b;
  std::ostringstream s;
  s << "mbv2_bench: MobileNetV2 per layer and end to end, custom CUDA kernels against cuDNN.\n"
       "Verifies every layer and the network against an FP64 CPU reference, then times them\n"
       "with Google Benchmark; writes a JSON report and prints a markdown summary on stdout.\n"
       "\n"
       "usage: mbv2_bench [flags] [--benchmark_*=...]\n"
       "       mbv2_bench --infer [--backend=NAME] [--image=PNG|JPEG | --input=NPY | --random]\n"
       "                  [--logits-out=OUT.npy]\n"
       "       mbv2_bench --list | --help\n"
       "\n"
       "What runs\n"
       "  --batches=1,256         batch sizes (default 1,256; --quick: 1)\n"
       "  --backends=LIST         backends to run (default all: " << backends << ")\n"
       "  --layers=FILTER         indices and ranges (0-5,52) or a regex on layer names\n"
       "                          (default all; --quick: one layer per role)\n"
       "  --l2=warm,cold          per-layer regimes: warm = back-to-back launches (hot L2),\n"
       "                          cold = L2 flushed before every sample; 'none' skips them\n"
       "  --modes=stream,graph    end to end: launch by launch, or CUDA graph replay; 'none'\n"
       "  --precision=fp32|tf32   math precision (fp16, bf16, fp64: reported not_supported\n"
       "                          unless a backend implements them)\n"
       "  --quick                 smoke run: 3 repetitions, short samples, few layers, batch 1\n"
       "\n"
       "Model and data\n"
       "  --width=1.0 --resolution=224 --classes=1000   MobileNetV2 configuration\n"
       "  --weights=PATH          safetensors with torchvision state_dict names (BatchNorm\n"
       "                          folded or not); default: data/mobilenet_v2.safetensors for\n"
       "                          width 1.0 / 1000 classes, else synthetic\n"
       "  --weights=synthetic[:SEED]   seeded synthetic weights\n"
       "  --image=PATH            PNG or JPEG photo (default data/coffee.png)\n"
       "  --input=NPY             preprocessed float tensor [N,3,R,R]\n"
       "  --random[=SEED]         seeded random input (every image of a batch random)\n"
       "  Batches larger than the input are filled with the other sample photo, then seeded\n"
       "  random images; every batch is checked against an FP64 CPU reference before timing.\n"
       "\n"
       "Output\n"
       "  --report=PATH           JSON report (default reports/latest-<gpu>-<precision>.json in\n"
       "                          the source tree, '-quick' added for --quick)\n"
       "  --list                  print the layers (shapes, FLOPs, bytes) and backends; no GPU\n"
       "\n"
       "Inference\n"
       "  --infer                 run one backend on the input, print its top-5 classes\n"
       "  --backend=NAME          the backend (default: the first registered)\n"
       "  --logits-out=PATH       also write the logits as .npy [N, classes]\n"
       "\n"
       "Google Benchmark flags pass through: --benchmark_filter=REGEX (what is timed),\n"
       "--benchmark_out=FILE (its JSON), --benchmark_repetitions=N, --benchmark_min_time=...,\n"
       "--benchmark_list_tests, --benchmark_format=..., ... Its console table goes to stderr.\n"
       "Benchmarks: layer/<NN>_<name>/<backend>/b<batch>/<warm|cold>, e2e/<backend>/b<batch>/<stream|graph>\n"
       "\n"
       "Exit status: 0 every result that ran passed; 1 a result was incorrect or failed to run\n"
       "(the report is still written); 2 bad flags or input, no CUDA device, or a batch that\n"
       "does not fit in GPU memory.\n";
  return s.str();
}

}  // namespace mbv2
