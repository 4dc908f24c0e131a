// The cuDNN backends on the GPU: every layer of the default model against the FP64 CPU
// reference (batches 1, 3, 32, both layouts), the whole network against PyTorch's golden
// logits and the CPU reference, CUDA-graph replay bit-identical to the stream run,
// not-supported reporting, batch 256, TF32, and the strict-FP32 engine filter.
// Every test skips with a reason when no GPU is present.
#include <cstdio>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <tuple>

#include "common/backend.h"
#include "common/device_memory.h"
#include "common/metrics.h"
#include "common/npy.h"
#include "common/reference.h"
#include "common/tensor.h"
#include "common/util.h"
#include "cudnn_ref/cudnn_backend.h"
#include "test_support.h"

namespace mbv2 {
namespace {

using test::upload;

using test::data_path;
using test::default_spec;
using test::default_weights;

const std::vector<std::string> kVariants = {"cudnn-nhwc", "cudnn-nchw"};

std::unique_ptr<Backend> create_backend(const std::string& name) {
  BackendRegistry registry;
  register_cudnn_backends(registry);
  const BackendInfo* info = registry.find(name);
  if (!info) throw std::runtime_error("no backend " + name);
  return info->create();
}

// Backends prepared once per process and shared by the tests that need the same one.
struct Prepared {
  std::unique_ptr<Backend> backend;
  double prepare_s = 0.0;
};

Prepared& prepared(const std::string& name, int batch, Precision precision = Precision::kFP32) {
  // Deliberately leaked: destroying cuDNN handles and device buffers after the CUDA runtime
  // has shut down at exit is not safe.
  static auto* cache = new std::map<std::tuple<std::string, int, int>, Prepared>();
  Prepared& p = (*cache)[{name, batch, int(precision)}];
  if (!p.backend) {
    p.backend = create_backend(name);
    const auto start = std::chrono::steady_clock::now();
    p.backend->prepare(default_spec(), default_weights(), {batch, precision});
    p.prepare_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[ prepare  ] " << name << " batch " << batch << " " << to_string(precision)
              << ": " << p.prepare_s << " s; " << p.backend->describe_forward() << "\n";
  }
  return p;
}

HostTensor download(const DeviceBuffer<float>& d, Shape4 shape, Layout layout) {
  HostTensor t(shape, layout);
  d.download(t.data.data(), t.data.size());
  return t;
}

// The CPU reference over a seeded random input, every activation kept (NHWC), per batch.
struct ReferenceData {
  HostTensor input;  // NHWC
  ReferenceRun run;
};

const ReferenceData& reference_for_batch(int batch) {
  static std::map<int, ReferenceData> cache;
  auto it = cache.find(batch);
  if (it != cache.end()) return it->second;
  ReferenceData d;
  d.input = random_tensor(default_spec().input_shape(batch), Layout::kNHWC, 1000 + batch);
  d.run = reference_forward(default_spec(), default_weights(), d.input, true, Layout::kNHWC);
  return cache.emplace(batch, std::move(d)).first->second;
}

std::string variant_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

// --- every layer against the CPU reference -------------------------------------------------

class CudnnLayers : public ::testing::TestWithParam<std::tuple<std::string, int>> {};

TEST_P(CudnnLayers, EveryLayerMatchesTheCpuReference) {
  MBV2_SKIP_WITHOUT_GPU();
  const auto& [name, batch] = GetParam();
  Backend& be = *prepared(name, batch).backend;
  const ModelSpec& spec = default_spec();
  const Layout lay = be.layout();
  const ReferenceData& ref = reference_for_batch(batch);
  CudaStream stream;
  for (const Layer& l : spec.layers) {
    const LayerDescription d = be.describe(l.index);
    ASSERT_TRUE(d.support.supported) << "layer " << l.index << " " << l.describe() << ": "
                                     << d.support.reason;
    // Realistic inputs: the reference's own activations, in the backend's layout.
    const HostTensor& in_nhwc =
        l.input_from < 0 ? ref.input : ref.run.activations[size_t(l.input_from)];
    DeviceBuffer<float> x = upload(to_layout(in_nhwc, lay));
    DeviceBuffer<float> z;
    if (l.has_residual()) z = upload(to_layout(ref.run.activations[size_t(l.residual_from)], lay));
    const Shape4 os = l.output_shape(batch);
    DeviceBuffer<float> y(static_cast<size_t>(os.numel()));
    fill_nan(y.get(), y.size(), stream.get());
    be.run_layer(l.index, x.get(), z.get(), y.get(), stream.get());
    stream.synchronize();
    const HostTensor out = download(y, os, lay);
    const Agreement a = compare(out, ref.run.activations[size_t(l.index)],
                                layer_tolerance(Precision::kFP32));
    EXPECT_TRUE(a.pass) << name << " batch " << batch << " layer " << l.index << " ("
                        << l.describe() << ") ran " << d.kernel << ": " << a.reason
                        << " (rel-L2 " << a.rel_l2 << ", max abs " << a.max_abs << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, CudnnLayers,
    ::testing::Combine(::testing::ValuesIn(kVariants), ::testing::Values(1, 3, 32)),
    [](const ::testing::TestParamInfo<std::tuple<std::string, int>>& p) {
      std::string n = std::get<0>(p.param) + "_batch" + std::to_string(std::get<1>(p.param));
      for (char& c : n)
        if (c == '-') c = '_';
      return n;
    });

// --- whole network -----------------------------------------------------------------------------

class CudnnNetwork : public ::testing::TestWithParam<std::string> {};

TEST_P(CudnnNetwork, CoffeeLogitsMatchPyTorchGolden) {
  MBV2_SKIP_WITHOUT_GPU();
  Backend& be = *prepared(GetParam(), 1).backend;
  const HostTensor input = read_npy_tensor(data_path("coffee_input.npy"), {1, 3, 224, 224});
  const NpyArray golden = read_npy(data_path("coffee_logits.npy"));
  const int classes = default_spec().num_classes;
  ASSERT_EQ(golden.values.size(), size_t(classes));

  CudaStream stream;
  DeviceBuffer<float> x = upload(to_layout(input, be.layout()));
  DeviceBuffer<float> logits(static_cast<size_t>(classes));
  fill_nan(logits.get(), logits.size(), stream.get());
  be.forward(x.get(), logits.get(), stream.get());
  stream.synchronize();
  const std::vector<float> out = logits.download();

  const Agreement a =
      compare(out.data(), golden.values.data(), out.size(), network_tolerance(Precision::kFP32));
  EXPECT_TRUE(a.pass) << a.reason;
  EXPECT_LE(a.rel_l2, 1e-4);
  const std::vector<float> golden_f(golden.values.begin(), golden.values.end());
  EXPECT_EQ(top_k(out.data(), classes, 5), top_k(golden_f.data(), classes, 5));
}

TEST_P(CudnnNetwork, Batch3MatchesCpuReference) {
  MBV2_SKIP_WITHOUT_GPU();
  Backend& be = *prepared(GetParam(), 3).backend;
  const ReferenceData& ref = reference_for_batch(3);
  const int classes = default_spec().num_classes;
  CudaStream stream;
  DeviceBuffer<float> x = upload(to_layout(ref.input, be.layout()));
  DeviceBuffer<float> logits(static_cast<size_t>(3 * classes));
  fill_nan(logits.get(), logits.size(), stream.get());
  be.forward(x.get(), logits.get(), stream.get());
  stream.synchronize();
  const std::vector<float> out = logits.download();
  const Agreement a = compare(out.data(), ref.run.logits_f64.data(), out.size(),
                              network_tolerance(Precision::kFP32));
  EXPECT_TRUE(a.pass) << a.reason;
  for (int n = 0; n < 3; ++n)
    EXPECT_EQ(top_k(out.data() + n * classes, classes, 5),
              top_k(ref.run.logits.data.data() + n * classes, classes, 5))
        << "image " << n;
}

// Replays of one captured graph are bit-identical to each other and to repeated stream
// runs; a captured forward() may differ from the stream run only by FP32 rounding (cuDNN
// and cuBLAS may pick other kernels or reduction orders under capture), never by more.
TEST_P(CudnnNetwork, CudaGraphReplayGivesTheSameLogits) {
  MBV2_SKIP_WITHOUT_GPU();
  Backend& be = *prepared(GetParam(), 1).backend;
  const int classes = default_spec().num_classes;
  const HostTensor input = random_tensor(default_spec().input_shape(1), be.layout(), 77);
  CudaStream stream;
  DeviceBuffer<float> x = upload(input);
  DeviceBuffer<float> eager(static_cast<size_t>(classes));
  DeviceBuffer<float> replayed(static_cast<size_t>(classes));
  auto run_eager = [&] {
    fill_nan(eager.get(), eager.size(), stream.get());
    be.forward(x.get(), eager.get(), stream.get());
    stream.synchronize();
    return eager.download();
  };
  const std::vector<float> a = run_eager();
  const std::vector<float> a2 = run_eager();
  EXPECT_EQ(std::memcmp(a.data(), a2.data(), a.size() * sizeof(float)), 0)
      << "two stream runs differ";

  CudaGraph graph;
  graph.capture(stream.get(), [&](cudaStream_t s) { be.forward(x.get(), replayed.get(), s); });
  std::vector<float> first;
  for (int replay = 0; replay < 3; ++replay) {
    fill_nan(replayed.get(), replayed.size(), stream.get());
    graph.launch(stream.get());
    stream.synchronize();
    const std::vector<float> b = replayed.download();
    if (replay == 0) first = b;
    EXPECT_EQ(std::memcmp(first.data(), b.data(), b.size() * sizeof(float)), 0)
        << "replay " << replay << " differs from replay 0";
    const Agreement d = compare(b.data(), a.data(), b.size(), {1e-6, 1e-5});
    EXPECT_TRUE(d.pass) << "replay " << replay << " vs stream run: " << d.reason;
    std::printf("[ replay   ] %s: graph vs stream max abs %.3g, rel-L2 %.3g%s\n",
                GetParam().c_str(), d.max_abs, d.rel_l2, d.max_abs == 0.0 ? " (bit-identical)" : "");
    EXPECT_EQ(top_k(b.data(), classes, 5), top_k(a.data(), classes, 5));
  }
  for (float v : a) ASSERT_TRUE(std::isfinite(v));
}

TEST_P(CudnnNetwork, Batch256PreparesAndComputesEveryImage) {
  MBV2_SKIP_WITHOUT_GPU();
  constexpr int kBatch = 256;
  Prepared& p = prepared(GetParam(), kBatch);
  Backend& be = *p.backend;
  for (const Layer& l : default_spec().layers)
    ASSERT_TRUE(be.describe(l.index).support.supported) << be.describe(l.index).support.reason;
  RecordProperty("prepare_seconds", std::to_string(p.prepare_s));
  EXPECT_LT(p.prepare_s, 60.0) << "engine search at batch 256 should take seconds, not minutes";

  const int classes = default_spec().num_classes;
  const HostTensor input = random_tensor(default_spec().input_shape(kBatch), Layout::kNHWC, 256);
  CudaStream stream;
  DeviceBuffer<float> x = upload(to_layout(input, be.layout()));
  DeviceBuffer<float> logits(static_cast<size_t>(kBatch) * size_t(classes));
  fill_nan(logits.get(), logits.size(), stream.get());
  be.forward(x.get(), logits.get(), stream.get());
  stream.synchronize();
  const std::vector<float> out = logits.download();
  // The first and last images against the CPU reference (each image is independent).
  const HostTensor pair = concat_batch({slice_batch(input, 0, 1), slice_batch(input, kBatch - 1, 1)});
  const ReferenceRun ref = reference_forward(default_spec(), default_weights(), pair);
  for (int k = 0; k < 2; ++k) {
    const int image = k == 0 ? 0 : kBatch - 1;
    const Agreement a = compare(out.data() + size_t(image) * classes,
                                ref.logits_f64.data() + size_t(k) * classes, size_t(classes),
                                network_tolerance(Precision::kFP32));
    EXPECT_TRUE(a.pass) << "image " << image << ": " << a.reason;
  }
  for (float v : out) ASSERT_TRUE(std::isfinite(v)) << "every image's logits must be written";
}

INSTANTIATE_TEST_SUITE_P(Variants, CudnnNetwork, ::testing::ValuesIn(kVariants), variant_name);

// --- reporting, precision, bad input ---------------------------------------------------------

TEST(CudnnDescribe, EveryLayerSaysWhatRan) {
  MBV2_SKIP_WITHOUT_GPU();
  Backend& be = *prepared("cudnn-nhwc", 1).backend;
  for (const Layer& l : default_spec().layers) {
    const LayerDescription d = be.describe(l.index);
    EXPECT_TRUE(d.support.supported);
    EXPECT_FALSE(d.kernel.empty()) << l.index;
    if (l.is_conv()) {
      EXPECT_NE(d.details.find("path "), std::string::npos) << d.details;
      EXPECT_NE(d.details.find("fastest median"), std::string::npos) << d.details;
      EXPECT_NE(d.details.find("candidates timed"), std::string::npos) << d.details;
    }
  }
  EXPECT_NE(be.describe(53).kernel.find("cublasLt"), std::string::npos);
  EXPECT_NE(be.describe_forward().find("convolutions"), std::string::npos);
}

// Number after "filtered by numerical notes " in a layer's details.
int filtered_count(const std::string& details) {
  std::smatch m;
  static const std::regex re("filtered by numerical notes ([0-9]+)");
  return std::regex_search(details, m, re) ? std::stoi(m[1]) : -1;
}

TEST(CudnnStrictFp32, NoChosenEngineUsesTensorCores) {
  MBV2_SKIP_WITHOUT_GPU();
  Backend& fp32 = *prepared("cudnn-nhwc", 1, Precision::kFP32).backend;
  Backend& tf32 = *prepared("cudnn-nhwc", 1, Precision::kTF32).backend;
  int tensor_core_layers = 0;
  for (const Layer& l : default_spec().layers) {
    if (!l.is_conv()) continue;
    const LayerDescription strict = fp32.describe(l.index);
    EXPECT_EQ(strict.details.find("TENSOR_CORE"), std::string::npos)
        << "layer " << l.index << ": " << strict.details;
    EXPECT_EQ(strict.details.find("DOWN_CONVERT_INPUTS"), std::string::npos) << strict.details;
    // Where TF32 chose a tensor-core engine, such engines exist for this layer, so the
    // strict run must have seen and filtered them.
    const LayerDescription relaxed = tf32.describe(l.index);
    if (relaxed.details.find(" TENSOR_CORE") != std::string::npos) {
      ++tensor_core_layers;
      EXPECT_GT(filtered_count(strict.details), 0) << "layer " << l.index << ": " << strict.details;
    }
  }
  RecordProperty("tf32_tensor_core_layers", tensor_core_layers);
  EXPECT_EQ(fp32.describe(53).details.find("FAST_TF32"), std::string::npos);
  EXPECT_NE(tf32.describe(53).details.find("FAST_TF32"), std::string::npos);
}

TEST(CudnnTf32, CoffeeTop1SurvivesTf32) {
  MBV2_SKIP_WITHOUT_GPU();
  Backend& be = *prepared("cudnn-nhwc", 1, Precision::kTF32).backend;
  const HostTensor input = read_npy_tensor(data_path("coffee_input.npy"), {1, 3, 224, 224});
  const NpyArray golden = read_npy(data_path("coffee_logits.npy"));
  CudaStream stream;
  DeviceBuffer<float> x = upload(to_layout(input, be.layout()));
  DeviceBuffer<float> logits(golden.values.size());
  fill_nan(logits.get(), logits.size(), stream.get());
  be.forward(x.get(), logits.get(), stream.get());
  stream.synchronize();
  const std::vector<float> out = logits.download();
  const Agreement a =
      compare(out.data(), golden.values.data(), out.size(), network_tolerance(Precision::kTF32));
  EXPECT_TRUE(a.pass) << a.reason;
  const std::vector<float> golden_f(golden.values.begin(), golden.values.end());
  EXPECT_EQ(top_k(out.data(), int(out.size()), 1), top_k(golden_f.data(), int(out.size()), 1));
}

TEST(CudnnNotSupported, ALayerCudnnCannotRunIsReportedAndTheRestStillWork) {
  MBV2_SKIP_WITHOUT_GPU();
  // A small model with one convolution made inconsistent (groups do not divide channels).
  ModelSpec spec = mobilenet_v2(1.0, 32, 10);
  ModelWeights weights = synthetic_weights(spec, 5);
  Layer& bad = spec.layers[1];
  ASSERT_TRUE(bad.is_depthwise());
  bad.groups = 5;
  weights.layers[1] = synthetic_layer_weights(bad, 6);
  std::unique_ptr<Backend> be = create_backend("cudnn-nhwc");
  ASSERT_NO_THROW(be->prepare(spec, weights, {1, Precision::kFP32}));
  EXPECT_FALSE(be->describe(1).support.supported);
  EXPECT_FALSE(be->describe(1).support.reason.empty());
  EXPECT_TRUE(be->describe(0).support.supported) << be->describe(0).support.reason;
  EXPECT_TRUE(be->describe(2).support.supported) << be->describe(2).support.reason;

  CudaStream stream;
  DeviceBuffer<float> x(static_cast<size_t>(spec.layers[1].input_shape(1).numel()));
  DeviceBuffer<float> y(static_cast<size_t>(spec.layers[1].output_shape(1).numel()));
  EXPECT_THROW(be->run_layer(1, x.get(), nullptr, y.get(), stream.get()), NotSupportedError);
  DeviceBuffer<float> in(static_cast<size_t>(spec.input_shape(1).numel()));
  DeviceBuffer<float> logits(10);
  EXPECT_THROW(be->forward(in.get(), logits.get(), stream.get()), NotSupportedError);

  // Layer 0 still runs and matches the reference.
  const HostTensor input = random_tensor(spec.input_shape(1), Layout::kNHWC, 9);
  DeviceBuffer<float> x0 = upload(input);
  DeviceBuffer<float> y0(static_cast<size_t>(spec.layers[0].output_shape(1).numel()));
  fill_nan(y0.get(), y0.size(), stream.get());
  be->run_layer(0, x0.get(), nullptr, y0.get(), stream.get());
  stream.synchronize();
  const HostTensor want = reference_layer(spec.layers[0], weights.layers[0], input, nullptr,
                                          Layout::kNHWC);
  const Agreement a = compare(download(y0, spec.layers[0].output_shape(1), Layout::kNHWC), want,
                              layer_tolerance(Precision::kFP32));
  EXPECT_TRUE(a.pass) << a.reason;
}

TEST(CudnnNotSupported, Fp16IsNotSupportedBeforeAndAfterPrepare) {
  MBV2_SKIP_WITHOUT_GPU();
  std::unique_ptr<Backend> be = create_backend("cudnn-nchw");
  const Support s = be->supports(default_spec().layers[0], {1, Precision::kFP16});
  EXPECT_FALSE(s.supported);
  EXPECT_NE(s.reason.find("fp16"), std::string::npos);
  ASSERT_NO_THROW(be->prepare(default_spec(), default_weights(), {1, Precision::kFP16}));
  EXPECT_FALSE(be->describe(0).support.supported);
  CudaStream stream;
  DeviceBuffer<float> buf(1 << 20);
  EXPECT_THROW(be->forward(buf.get(), buf.get(), stream.get()), NotSupportedError);
}

TEST(CudnnBadInput, OneClearErrorNeverACrash) {
  MBV2_SKIP_WITHOUT_GPU();
  Backend& be = *prepared("cudnn-nhwc", 1).backend;
  CudaStream stream;
  DeviceBuffer<float> buf(size_t(1) << 22);
  EXPECT_THROW(be.run_layer(-1, buf.get(), nullptr, buf.get(), stream.get()), InputError);
  EXPECT_THROW(be.run_layer(54, buf.get(), nullptr, buf.get(), stream.get()), InputError);
  EXPECT_THROW(be.run_layer(0, nullptr, nullptr, buf.get(), stream.get()), InputError);
  EXPECT_THROW(be.run_layer(0, buf.get() + 1, nullptr, buf.get(), stream.get()), InputError);
  const Layer& res = default_spec().layers[8];
  ASSERT_TRUE(res.has_residual());
  EXPECT_THROW(be.run_layer(8, buf.get(), nullptr, buf.get(), stream.get()), InputError);
  EXPECT_THROW(be.forward(nullptr, buf.get(), stream.get()), InputError);
}

}  // namespace
}  // namespace mbv2
