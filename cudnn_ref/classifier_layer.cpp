#include "cudnn_ref/classifier_layer.h"

#include <cstdio>
#include <vector>

#include "common/cuda_check.h"
#include "cudnn_ref/candidate_timer.h"

namespace mbv2::cudnn {

namespace {
const float kOne = 1.0f;
const float kZero = 0.0f;

// "algo 21 tile 18 splitK 1 stages 9": what cuBLASLt picked, for describe().
std::string algo_text(const cublasLtMatmulAlgo_t& algo) {
  int32_t id = -1, split_k = 1;
  uint32_t tile = 0, stages = 0;
  size_t written = 0;
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile),
                                       &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split_k,
                                       sizeof(split_k), &written);
  cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages,
                                       sizeof(stages), &written);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "algo %d tile %u splitK %d stages %u", id, tile, split_k,
                stages);
  return buf;
}

LtLayout make_layout(uint64_t rows, uint64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t l = nullptr;
  MBV2_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, CUDA_R_32F, rows, cols, ld));
  return LtLayout(l);
}
}  // namespace

ClassifierLayer::ClassifierLayer(const Layer& layer, int batch, Precision precision)
    : layer_(layer), batch_(batch), precision_(precision) {
  const cublasComputeType_t compute =
      precision == Precision::kTF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  cublasLtMatmulDesc_t d = nullptr;
  MBV2_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d, compute, CUDA_R_32F));
  desc_ = LtMatmulDesc(d);
  // Column-major view: W [out][in] row-major is an in x out matrix, used transposed;
  // x [N][in] is in x N; logits [N][out] is out x N. So D = W^T-view * x, bias per row.
  const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
  MBV2_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &transa,
                                                   sizeof(transa)));
  MBV2_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &transb,
                                                   sizeof(transb)));
  MBV2_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                   sizeof(epilogue)));
  a_layout_ = make_layout(uint64_t(layer_.in_c), uint64_t(layer_.out_c), layer_.in_c);
  b_layout_ = make_layout(uint64_t(layer_.in_c), uint64_t(batch_), layer_.in_c);
  d_layout_ = make_layout(uint64_t(layer_.out_c), uint64_t(batch_), layer_.out_c);
}

void ClassifierLayer::upload(const LayerWeights& weights) {
  weight_.allocate(weights.weight.size());
  weight_.upload(weights.weight);
  bias_.allocate(weights.bias.size());
  bias_.upload(weights.bias);
  const float* bias = bias_.get();
  MBV2_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                   &bias, sizeof(bias)));
}

cublasStatus_t ClassifierLayer::matmul(cublasLtHandle_t lt, const cublasLtMatmulAlgo_t& algo,
                                       const float* x, float* y, cudaStream_t stream) const {
  return cublasLtMatmul(lt, desc_.get(), &kOne, weight_.get(), a_layout_.get(), x,
                        b_layout_.get(), &kZero, y, d_layout_.get(), y, d_layout_.get(), &algo,
                        workspace_.get(), workspace_.size(), stream);
}

bool ClassifierLayer::search(SearchContext& ctx, cublasLtHandle_t lt, const float* x, float* y,
                             std::string* why) {
  if (workspace_.size() < kWorkspaceBytes) workspace_.allocate(kWorkspaceBytes);
  cublasLtMatmulPreference_t p = nullptr;
  MBV2_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&p));
  LtPreference pref(p);
  const uint64_t max_ws = kWorkspaceBytes;
  MBV2_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                         &max_ws, sizeof(max_ws)));
  // run_layer() buffers come from cudaMalloc, but the interface promises only 16 bytes.
  const uint32_t align = 16;
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    MBV2_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p, attr, &align, sizeof(align)));

  constexpr int kRequested = 32;
  std::vector<cublasLtMatmulHeuristicResult_t> results(kRequested);
  int returned = 0;
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(lt, desc_.get(), a_layout_.get(), b_layout_.get(),
                                     d_layout_.get(), d_layout_.get(), p, kRequested,
                                     results.data(), &returned);
  if (hs != CUBLAS_STATUS_SUCCESS || returned <= 0) {
    if (why) *why = std::string("cublasLtMatmulAlgoGetHeuristic found no algorithm: ") +
                    cublasGetStatusString(hs);
    return false;
  }

  const cudaStream_t s = ctx.stream();
  const size_t n = size_t(batch_) * size_t(layer_.out_c);
  float* ref = ctx.reference(n);
  bool have_ref = false;
  double best_us = 0.0;
  int timed = 0, failed = 0, rejected = 0;
  std::string best_text, problems;
  for (int i = 0; i < returned; ++i) {
    const cublasLtMatmulHeuristicResult_t& r = results[size_t(i)];
    if (r.state != CUBLAS_STATUS_SUCCESS || r.workspaceSize > kWorkspaceBytes) continue;
    const cublasLtMatmulAlgo_t algo = r.algo;
    auto run = [this, lt, algo, x, y](cudaStream_t stream) {
      MBV2_CUBLAS_CHECK(matmul(lt, algo, x, y, stream));
    };
    const TimingResult t = time_candidate(run, s, chosen_ ? best_us : 0.0, ctx.timing);
    ++timed;
    if (!t.ok) {
      ++failed;
      if (problems.empty()) problems = t.error;
      continue;
    }
    if (t.pruned || (chosen_ && t.median_us >= best_us)) continue;
    fill_nan(y, n, s);
    run(s);
    if (!have_ref)
      CUDA_CHECK(cudaMemcpyAsync(ref, y, n * sizeof(float), cudaMemcpyDeviceToDevice, s));
    const DeviceAgreement a =
        ctx.checker().compare_and_clobber(y, ref, int64_t(n), ctx.check_tolerance(), s);
    if (!a.pass) {
      ++rejected;
      continue;
    }
    have_ref = true;
    chosen_ = true;
    algo_ = algo;
    best_us = t.median_us;
    char line[200];
    std::snprintf(line, sizeof(line), "heuristic #%d, %s, workspace %zu B, waves %.2f, median %.2f us",
                  i, algo_text(algo).c_str(), r.workspaceSize, double(r.wavesCount), t.median_us);
    best_text = line;
    kernel_ = "cublasLtMatmul EPILOGUE_BIAS " + algo_text(algo) + " (heuristic #" +
              std::to_string(i) + ")";
  }
  char counts[160];
  std::snprintf(counts, sizeof(counts),
                "%d heuristic results, %d timed, %d failed, %d rejected by output check", returned,
                timed, failed, rejected);
  details_ = std::string(precision_ == Precision::kTF32 ? "CUBLAS_COMPUTE_32F_FAST_TF32"
                                                        : "CUBLAS_COMPUTE_32F") +
             "; " + (best_text.empty() ? std::string("none chosen") : best_text) + "; " + counts;
  if (!chosen_) {
    if (why) *why = "no cuBLASLt algorithm could run " + layer_.describe() + ": " + details_ +
                    (problems.empty() ? "" : "; " + problems);
    return false;
  }
  return true;
}

void ClassifierLayer::run(cublasLtHandle_t lt, const float* x, float* y,
                          cudaStream_t stream) const {
  MBV2_CUBLAS_CHECK(matmul(lt, algo_, x, y, stream));
}

LayerDescription ClassifierLayer::describe() const {
  LayerDescription d;
  if (!chosen_) {
    d.support = Support::no(details_.empty() ? "not prepared" : details_);
    return d;
  }
  d.kernel = kernel_;
  d.details = details_;
  d.fused_epilogue = true;  // bias in the matmul epilogue
  d.workspace_bytes = workspace_.size();
  return d;
}

}  // namespace mbv2::cudnn
