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

// Runs forward() `calls` times on `x` and checks every call against `expected` logits.
void expect_every_forward_call(Backend& be, const HostTensor& x, const double* expected,
                               const char* what) {
  const int classes = test::default_spec().num_classes;
  DeviceBuffer<float> dx(x.data.size()), logits(size_t(x.shape.n) * classes);
  dx.upload(to_layout(x, be.layout()).data);
  CudaStream stream;
  for (int call = 0; call < 4; ++call) {
    fill_nan(logits.get(), logits.size(), stream.get());
    be.forward(dx.get(), logits.get(), stream.get());
    stream.synchronize();
    const std::vector<float> out = logits.download();
    const Agreement a = compare(out.data(), expected, out.size(), network_tolerance(Precision::kFP32));
    std::printf("[ forward  ] %s %s call %d: rel-L2 %.3g\n", be.name().c_str(), what, call, a.rel_l2);
    EXPECT_TRUE(a.pass) << what << " call " << call << ": " << a.reason;
  }
}

std::unique_ptr<Backend> prepared_backend(const std::string& name) {
  std::unique_ptr<Backend> be = builtin_backends().find(name)->create();
  be->prepare(test::default_spec(), test::default_weights(), {1, Precision::kFP32});
  return be;
}

class CudnnRepeat : public ::testing::TestWithParam<std::string> {};

TEST_P(CudnnRepeat, EveryForwardCallMatchesTheGoldenLogits) {
  MBV2_SKIP_WITHOUT_GPU();
  const std::unique_ptr<Backend> be = prepared_backend(GetParam());
  const HostTensor x = read_npy_tensor(test::data_path("coffee_input.npy"), {1, 3, 224, 224});
  const NpyArray golden = read_npy(test::data_path("coffee_logits_f64.npy"));
  expect_every_forward_call(*be, x, golden.values.data(), "coffee");
}

TEST_P(CudnnRepeat, EveryForwardCallOnRandomInputMatchesTheReference) {
  // Uniform [-1, 1] noise instead of a photo: the case the graph-replay test uses.
  MBV2_SKIP_WITHOUT_GPU();
  const std::unique_ptr<Backend> be = prepared_backend(GetParam());
  const HostTensor x = random_tensor(test::default_spec().input_shape(1), Layout::kNCHW, 77);
  const ReferenceRun ref = reference_forward(test::default_spec(), test::default_weights(), x);
  expect_every_forward_call(*be, x, ref.logits_f64.data(), "random");
}

TEST_P(CudnnRepeat, EveryRunLayerCallMatchesTheReference) {
  MBV2_SKIP_WITHOUT_GPU();
  const ModelSpec& spec = test::default_spec();
  const std::unique_ptr<Backend> be = prepared_backend(GetParam());
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
