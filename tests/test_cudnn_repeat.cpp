// Repeated runs of the cuDNN backends: every call of run_layer() and forward() must give
// the reference's answer, not only the first one (the harness verifies one call and then
// times thousands).
#include <gtest/gtest.h>


#include <cstdio>
#include <cstring>
#include <memory>

#include "bench/builtin_backends.h"
#include "common/device_memory.h"
#include "common/metrics.h"
#include "common/npy.h"
#include "common/reference.h"
#include "test_support.h"

namespace mbv2 {
namespace {

class CudnnRepeat : public ::testing::TestWithParam<std::string> {};

TEST_P(CudnnRepeat, EveryForwardCallMatchesTheGoldenLogits) {
  MBV2_SKIP_WITHOUT_GPU();
  const BackendRegistry registry = builtin_backends();
  std::unique_ptr<Backend> be = registry.find(GetParam())->create();
  be->prepare(test::default_spec(), test::default_weights(), {1, Precision::kFP32});
  const HostTensor x = read_npy_tensor(test::data_path("coffee_input.npy"), {1, 3, 224, 224});
  const NpyArray golden = read_npy(test::data_path("coffee_logits_f64.npy"));
  DeviceBuffer<float> dx(x.data.size()), logits(1000);
  dx.upload(to_layout(x, be->layout()).data);
  CudaStream stream;
  for (int call = 0; call < 4; ++call) {
    fill_nan(logits.get(), logits.size(), stream.get());
    be->forward(dx.get(), logits.get(), stream.get());
    stream.synchronize();
    const std::vector<float> out = logits.download();
    const Agreement a = compare(out.data(), golden.values.data(), 1000, network_tolerance(Precision::kFP32));
    std::printf("[ forward  ] %s call %d: rel-L2 %.3g\n", GetParam().c_str(), call, a.rel_l2);
    EXPECT_TRUE(a.pass) << "call " << call << ": " << a.reason;
  }
}

TEST_P(CudnnRepeat, EveryForwardCallOnRandomInputMatchesTheReference) {
  // Uniform [-1, 1] noise instead of a photo: the same case the graph-replay test uses.
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec& spec = test::default_spec();
  const BackendRegistry registry = builtin_backends();
  std::unique_ptr<Backend> be = registry.find(GetParam())->create();
  be->prepare(spec, test::default_weights(), {1, Precision::kFP32});
  const HostTensor x = random_tensor(spec.input_shape(1), Layout::kNCHW, 77);
  const ReferenceRun ref = reference_forward(spec, test::default_weights(), x);
  DeviceBuffer<float> dx(x.data.size()), logits(1000);
  dx.upload(to_layout(x, be->layout()).data);
  CudaStream stream;
  for (int call = 0; call < 4; ++call) {
    fill_nan(logits.get(), logits.size(), stream.get());
    be->forward(dx.get(), logits.get(), stream.get());
    stream.synchronize();
    const std::vector<float> out = logits.download();
    const Agreement a =
        compare(out.data(), ref.logits_f64.data(), 1000, network_tolerance(Precision::kFP32));
    std::printf("[ forward  ] %s random call %d: rel-L2 %.3g\n", GetParam().c_str(), call, a.rel_l2);
    EXPECT_TRUE(a.pass) << "call " << call << ": " << a.reason;
  }
}

TEST_P(CudnnRepeat, EveryRunLayerCallMatchesTheReference) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec& spec = test::default_spec();
  const BackendRegistry registry = builtin_backends();
  std::unique_ptr<Backend> be = registry.find(GetParam())->create();
  be->prepare(spec, test::default_weights(), {1, Precision::kFP32});
  const HostTensor x = read_npy_tensor(test::data_path("coffee_input.npy"), {1, 3, 224, 224});
  const ReferenceRun ref = reference_forward(spec, test::default_weights(), x, true, be->layout());
  const HostTensor input = to_layout(x, be->layout());
  CudaStream stream;
  int failures = 0;
  for (const Layer& l : spec.layers) {
    const HostTensor& in = l.input_from < 0 ? input : ref.activations[size_t(l.input_from)];
    DeviceBuffer<float> din(in.data.size()), dout(size_t(l.output_shape(1).numel())), dres;
    din.upload(in.data);
    if (l.has_residual()) {
      dres.allocate(dout.size());
      dres.upload(ref.activations[size_t(l.residual_from)].data);
    }
    for (int call = 0; call < 3; ++call) {
      fill_nan(dout.get(), dout.size(), stream.get());
      be->run_layer(l.index, din.get(), dres.get(), dout.get(), stream.get());
      stream.synchronize();
      const std::vector<float> out = dout.download();
      const Agreement a = compare(out.data(), ref.activations[size_t(l.index)].data.data(),
                                  out.size(), layer_tolerance(Precision::kFP32));
      if (!a.pass && failures++ < 20)
        ADD_FAILURE() << GetParam() << " layer " << l.index << " (" << l.name << ") call " << call
                      << ": " << a.reason << " | ran: " << be->describe(l.index).kernel << " | "
                      << be->describe(l.index).details;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, CudnnRepeat, ::testing::Values("cudnn-nhwc", "cudnn-nchw"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string n = p.param;
                           for (char& c : n) if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace mbv2
