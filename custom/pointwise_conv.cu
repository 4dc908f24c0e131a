// Pointwise 1x1 convolution (and the classifier) as a tiled SIMT FP32 GEMM:
// C[M][N] = A[M][K] * W[N][K]^T, M = batch * H * W pixels, K = in channels, N = out channels.
//
// Versions:
//   v1  one kernel template over the tile table of gemm_plan.h (128x128 t8x8 ... 32x32 t4x4),
//       BK = 8, float4 global loads of A (K % 4 == 0, aligned) and of the transposed
//       weights, register-prefetch double buffering (one __syncthreads per k step),
//       fused epilogue (bias, ReLU6, residual) with float4 stores, scalar fallback for odd
//       K / N or unaligned pointers, deterministic split-K (semaphore fix-up) so that the
//       7x7 and 14x14 layers fill 132 SMs at batch 1.
//   v2  pointwise_gemm_v2_kernel: a 4-stage cp.async pipeline (BK = 16, three k-tiles in
//       flight, one __syncthreads per k-tile) for K % 4 == 0 and an aligned A; v1 stays
//       for the rest (and on request: plan.kernel, MBV2_CUSTOM_PW_KERNEL). A stays m-major
//       in shared memory (cp.async cannot transpose): rows of 16 + 4 floats, so the 8
//       consecutive rows a warp reads at once fall in 8 distinct bank quads; each thread
//       owns interleaved rows (m = i * kThreadsM + ty) and reads one float4 of 4 k values
//       per row, then 4 k-rows of B: (TM + TN) float4 shared loads per 4 TM TN FMAs, the
//       same ratio as v1 without v1's transposing scalar stores or register staging.
//       Eight more tiles (gemm_plan.h) fit the projection widths exactly.
//   v3  v2 split-K by 2..8 as a thread-block cluster: partial tiles are added through
//       distributed shared memory (cluster_splitk_store) instead of an L2 workspace,
//       fence, atomic and serial re-reads. The weight (B) stages of the pipeline's
//       prologue are issued before the PDL wait: weights never depend on the previous
//       kernel, so their latency hides behind its tail.
#include "custom/pointwise_conv.h"

#include "common/util.h"
#include "custom/cp_async.cuh"
#include "custom/gemm_core.cuh"

namespace mbv2::custom {

// ----------------------------------------------------------------------------
// kernel

struct GemmParams {
  const float* a;   // [M][K]
  const float* wt;  // [K][ldb]
  int K, ldb;
  int k_tiles_per_split;
  EpilogueParams ep;
  SplitKParams sk;
};

// Grid: x = M tiles, y = N tiles, z = K splits. kVecA: float4 loads of A. kSplitK: the
// fix-up is compiled in only where it is used (it costs the 8x8 tile a few spilled registers).
template <class S, bool kVecA, bool kSplitK>
__global__ void __launch_bounds__(S::kThreads, S::kMinBlocks) pointwise_gemm_kernel(const GemmParams p) {
  constexpr int BM = S::kBM, BN = S::kBN, BK = kGemmBK, T = S::kThreads;
  static_assert(BK == 8, "A staging assumes two float4 per row and k step");
  // A: float4 (row, k-quad) pairs or single floats per k step, spread over the threads.
  constexpr int kAItems = kVecA ? BM * BK / 4 : BM * BK;
  constexpr int kALoads = (kAItems + T - 1) / T;
  constexpr int kBItems = BK * BN / 4;
  constexpr int kBLoads = (kBItems + T - 1) / T;

  __shared__ __align__(16) float As[2][BK][S::kApad];
  __shared__ __align__(16) float Bs[2][BK][BN];

  const int tid = threadIdx.x;
  const int tx = tid % S::kThreadsN, ty = tid / S::kThreadsN;
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN, split = blockIdx.z;
  const int M = p.ep.M, K = p.K;
  const int k_tiles = (K + BK - 1) / BK;
  const int kt_begin = split * p.k_tiles_per_split;
  const int kt_end = min(k_tiles, kt_begin + p.k_tiles_per_split);

  float4 a_vec[kVecA ? kALoads : 1];
  float a_scalar[kVecA ? 1 : kALoads];
  float4 b_reg[kBLoads];

  auto load_tile = [&](int kt) {
    const int k0 = kt * BK;
#pragma unroll
    for (int l = 0; l < kALoads; ++l) {
      const int f = tid + l * T;
      if constexpr (kVecA) {
        const int row = f >> 1, k = k0 + (f & 1) * 4;
        const int m = m0 + row;
        a_vec[l] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (f < kAItems && m < M && k < K)  // K % 4 == 0: the float4 is wholly in or out
          a_vec[l] = __ldg(reinterpret_cast<const float4*>(p.a + size_t(m) * K + k));
      } else {
        const int row = f / BK, k = k0 + f % BK;
        const int m = m0 + row;
        a_scalar[l] = (f < kAItems && m < M && k < K) ? __ldg(p.a + size_t(m) * K + k) : 0.0f;
      }
    }
#pragma unroll
    for (int l = 0; l < kBLoads; ++l) {
      const int f = tid + l * T;
      const int kr = f / (BN / 4), n = n0 + (f % (BN / 4)) * 4;
      const int k = k0 + kr;
      b_reg[l] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (f < kBItems && k < K && n < p.ldb)  // ldb % 4 == 0, padding columns are zero
        b_reg[l] = __ldg(reinterpret_cast<const float4*>(p.wt + size_t(k) * p.ldb + n));
    }
  };
  auto store_tile_smem = [&](int buf) {
#pragma unroll
    for (int l = 0; l < kALoads; ++l) {
      const int f = tid + l * T;
      if (f >= kAItems) continue;
      if constexpr (kVecA) {
        const int row = f >> 1, kq = (f & 1) * 4;
        As[buf][kq + 0][row] = a_vec[l].x;
        As[buf][kq + 1][row] = a_vec[l].y;
        As[buf][kq + 2][row] = a_vec[l].z;
        As[buf][kq + 3][row] = a_vec[l].w;
      } else {
        As[buf][f % BK][f / BK] = a_scalar[l];
      }
    }
#pragma unroll
    for (int l = 0; l < kBLoads; ++l) {
      const int f = tid + l * T;
      if (f >= kBItems) continue;
      *reinterpret_cast<float4*>(&Bs[buf][f / (BN / 4)][(f % (BN / 4)) * 4]) = b_reg[l];
    }
  };

  pdl_wait();
  float acc[S::kTM][S::kTN] = {};
  if (kt_begin < kt_end) {
    load_tile(kt_begin);
    store_tile_smem(0);
    __syncthreads();
    for (int kt = kt_begin; kt < kt_end; ++kt) {
      const int cur = (kt - kt_begin) & 1;
      const bool more = kt + 1 < kt_end;
      if (more) load_tile(kt + 1);  // global loads in flight during the FMAs below
#pragma unroll
      for (int k = 0; k < BK; ++k) fma_step<S>(&As[cur][k][0], &Bs[cur][k][0], tx, ty, acc);
      // The other buffer was last read before the previous iteration's barrier.
      if (more) store_tile_smem(cur ^ 1);
      __syncthreads();
    }
  }
  pdl_launch_dependents();
  if constexpr (kSplitK) {
    if (!splitk_fixup<S>(acc, p.sk, blockIdx.y * gridDim.x + blockIdx.x, split)) return;
  }
  store_tile<S>(acc, m0, n0, tx, ty, p.ep);
}

// ----------------------------------------------------------------------------
// v2 kernel: cp.async pipeline

template <class S>
struct V2Layout {
  static constexpr int kBK = kGemmBKV2;
  static constexpr int kAPitch = kBK + 4;  // 80-byte rows: 8 consecutive rows, 8 bank quads
  static constexpr int kAFloats = S::kBM * kAPitch;
  static constexpr int kBFloats = kBK * S::kBN;
  static constexpr int kStageFloats = kAFloats + kBFloats;
  static constexpr int kAChunks = S::kBM * kBK / 4;  // 16-byte copies of A per stage
  static constexpr int kBChunks = kBK * S::kBN / 4;
  static constexpr int kALoads = (kAChunks + S::kThreads - 1) / S::kThreads;
  static constexpr int kBLoads = (kBChunks + S::kThreads - 1) / S::kThreads;
  static constexpr size_t kSmemBytes = size_t(kGemmStages) * kStageFloats * sizeof(float);
  static_assert(kBK % 4 == 0 && S::kBN % 4 == 0, "16-byte chunks");
  static_assert(kSmemBytes == size_t(gemm_v2_smem_bytes(S::kBM, S::kBN)), "gemm_plan.h agrees");
};

// How a v2 launch reduces its K splits: not at all, through the L2 workspace (splitk_fixup),
// or inside a thread-block cluster of all the splits (cluster_splitk_store).
enum SplitMode : int { kSplitNone = 0, kSplitGlobal = 1, kSplitCluster = 2 };

// Grid: x = M tiles, y = N tiles, z = K splits (k_tiles_per_split in units of 16).
// Pipeline: tiles kt_begin + s go to stage s % kGemmStages. Before computing tile i a
// thread waits for its own copies of tile i (all but kGemmStages - 2 newer groups), then
// the barrier makes every thread's copies visible and guarantees everyone finished tile
// i - 1, whose stage is the one refilled (with tile i + kGemmStages - 1) right after it.
// Every iteration commits exactly one group (possibly empty) so the counting holds.
template <class S, int kSplit>
__global__ void __launch_bounds__(S::kThreads, S::kMinBlocks)
    pointwise_gemm_v2_kernel(const GemmParams p) {
  using L = V2Layout<S>;
  static_assert(L::kSmemBytes >= size_t(S::kBM) * S::kBN * sizeof(float),
                "the cluster reduction parks a whole tile in the pipeline's shared memory");
  constexpr int BK = L::kBK, BN = S::kBN, T = S::kThreads, kStages = kGemmStages;
  extern __shared__ __align__(16) float smem[];

  const int tid = threadIdx.x;
  const int tx = tid % S::kThreadsN, ty = tid / S::kThreadsN;
  const int m0 = blockIdx.x * S::kBM, n0 = blockIdx.y * BN, split = blockIdx.z;
  const int M = p.ep.M, K = p.K;
  const int k_tiles = (K + BK - 1) / BK;
  const int kt_begin = split * p.k_tiles_per_split;
  const int kt_end = min(k_tiles, kt_begin + p.k_tiles_per_split);
  const int n_tiles = kt_end > kt_begin ? kt_end - kt_begin : 0;

  // This thread's A copies: row f / 4, k-quad f % 4 of each stage; the row part of the
  // source address is fixed for the whole K loop.
  const float* a_src[L::kALoads];
  int a_dst[L::kALoads];
  int a_kq[L::kALoads];
  bool a_row_ok[L::kALoads];
#pragma unroll
  for (int l = 0; l < L::kALoads; ++l) {
    const int f = tid + l * T;
    const int row = f >> 2, kq = (f & 3) * 4;
    const int m = m0 + row;
    a_row_ok[l] = f < L::kAChunks && m < M;
    a_src[l] = p.a + (a_row_ok[l] ? size_t(m) * K + kq : 0);
    a_dst[l] = row * L::kAPitch + kq;
    a_kq[l] = kq;
  }

  auto load_a = [&](int kt, int stage) {
    float* As = smem + stage * L::kStageFloats;
    const int k0 = kt * BK;
#pragma unroll
    for (int l = 0; l < L::kALoads; ++l) {
      if (L::kAChunks % T != 0 && tid + l * T >= L::kAChunks) continue;
      const bool ok = a_row_ok[l] && k0 + a_kq[l] < K;  // K % 4 == 0: whole chunk in or out
      cp_async16(As + a_dst[l], ok ? a_src[l] + k0 : p.a, ok);
    }
  };
  auto load_b = [&](int kt, int stage) {
    float* Bs = smem + stage * L::kStageFloats + L::kAFloats;
    const int k0 = kt * BK;
#pragma unroll
    for (int l = 0; l < L::kBLoads; ++l) {
      const int f = tid + l * T;
      if (L::kBChunks % T != 0 && f >= L::kBChunks) continue;
      const int kr = f / (BN / 4), col = (f % (BN / 4)) * 4;
      const int k = k0 + kr, n = n0 + col;
      const bool ok = k < K && n < p.ldb;  // ldb % 4 == 0, padding columns are zero
      cp_async16(Bs + kr * BN + col, ok ? p.wt + size_t(k) * p.ldb + n : p.wt, ok);
    }
  };

  // Prologue. The weight stages go first, before the PDL wait (they do not depend on the
  // previous kernel); they join commit group 0, which completes no later than the groups
  // the main loop waits for, so the group counting below still holds.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s)
    if (s < n_tiles) load_b(kt_begin + s, s);
  pdl_wait();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < n_tiles) load_a(kt_begin + s, s);
    cp_async_commit();
  }

  float acc[S::kTM][S::kTN] = {};
#pragma unroll 1
  for (int i = 0; i < n_tiles; ++i) {
    cp_async_wait<kStages - 2>();
    __syncthreads();
    const int next = i + kStages - 1;
    if (next < n_tiles) {
      load_a(kt_begin + next, next % kStages);
      load_b(kt_begin + next, next % kStages);
    }
    cp_async_commit();

    const float* As = smem + (i % kStages) * L::kStageFloats;
    const float* Bs = As + L::kAFloats;
#pragma unroll
    for (int kq = 0; kq < BK / 4; ++kq) {
      float a[S::kTM][4];
#pragma unroll
      for (int r = 0; r < S::kTM; ++r) {
        const float4 v = *reinterpret_cast<const float4*>(
            As + (r * S::kThreadsM + ty) * L::kAPitch + kq * 4);
        a[r][0] = v.x, a[r][1] = v.y, a[r][2] = v.z, a[r][3] = v.w;
      }
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        float b[S::kTN];
#pragma unroll
        for (int fj = 0; fj < S::kFragN; ++fj) {
          const float4 v = *reinterpret_cast<const float4*>(
              Bs + (kq * 4 + kk) * BN + fj * S::kFragStrideN + tx * 4);
          b[fj * 4 + 0] = v.x, b[fj * 4 + 1] = v.y, b[fj * 4 + 2] = v.z, b[fj * 4 + 3] = v.w;
        }
#pragma unroll
        for (int r = 0; r < S::kTM; ++r)
#pragma unroll
          for (int c = 0; c < S::kTN; ++c) acc[r][c] = fmaf(a[r][kk], b[c], acc[r][c]);
      }
    }
  }
  cp_async_wait<0>();  // only empty groups are left; nothing may outlive the block
  pdl_launch_dependents();
  if constexpr (kSplit == kSplitCluster) {
    __syncthreads();  // every thread is done reading the pipeline's stages
    cluster_splitk_store<S>(acc, smem, m0, n0, p.ep);
    return;
  }
  if constexpr (kSplit == kSplitGlobal) {
    if (!splitk_fixup<S>(acc, p.sk, blockIdx.y * gridDim.x + blockIdx.x, split)) return;
  }
  store_tile<S, true>(acc, m0, n0, tx, ty, p.ep);
}

// ----------------------------------------------------------------------------
// launcher

// Raises the v2 kernel's dynamic shared memory limit once per instantiation (first from
// prepare, outside graph capture; later calls are no-ops).
template <class S, int kSplit>
void configure_v2() {
  static const bool configured = [] {
    MBV2_CUDA_CHECK(cudaFuncSetAttribute(pointwise_gemm_v2_kernel<S, kSplit>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(V2Layout<S>::kSmemBytes)));
    return true;
  }();
  (void)configured;
}

template <class S>
struct ConfigurePointwise {
  static void run(int mode) {
    if (mode == kSplitCluster)
      configure_v2<S, kSplitCluster>();
    else if (mode == kSplitGlobal)
      configure_v2<S, kSplitGlobal>();
    else
      configure_v2<S, kSplitNone>();
  }
};

int split_mode(const GemmPlan& plan) {
  if (plan.splits <= 1) return kSplitNone;
  return plan.cluster ? kSplitCluster : kSplitGlobal;
}

template <class S>
struct LaunchPointwise {
  static void run(const GemmPlan& plan, const GemmParams& params, bool vec_a, cudaStream_t stream,
                  bool pdl) {
    const dim3 grid(unsigned(plan.tiles_m), unsigned(plan.tiles_n), unsigned(plan.splits));
    const dim3 block(S::kThreads);
    const bool split = plan.splits > 1;
    if (plan.kernel == GemmKernel::kV2 && vec_a) {
      const size_t smem = V2Layout<S>::kSmemBytes;
      switch (split_mode(plan)) {
        case kSplitCluster:
          configure_v2<S, kSplitCluster>();
          launch_kernel_cluster(pointwise_gemm_v2_kernel<S, kSplitCluster>, grid, block, smem,
                                stream, pdl, unsigned(plan.splits), params);
          return;
        case kSplitGlobal:
          configure_v2<S, kSplitGlobal>();
          launch_kernel(pointwise_gemm_v2_kernel<S, kSplitGlobal>, grid, block, smem, stream, pdl,
                        params);
          return;
        default:
          configure_v2<S, kSplitNone>();
          launch_kernel(pointwise_gemm_v2_kernel<S, kSplitNone>, grid, block, smem, stream, pdl,
                        params);
          return;
      }
    }
    // v1 (also the fallback of a v2 plan whose A turned out unaligned: same K ranges,
    // two v1 k-tiles per v2 k-tile; a cluster plan's splits then go through the global
    // workspace, which launch_pointwise() requires for every split plan).
    GemmParams p1 = params;
    if (plan.kernel == GemmKernel::kV2) p1.k_tiles_per_split *= kGemmBKV2 / kGemmBK;
    if (vec_a && split)
      launch_kernel(pointwise_gemm_kernel<S, true, true>, grid, block, 0, stream, pdl, p1);
    else if (vec_a)
      launch_kernel(pointwise_gemm_kernel<S, true, false>, grid, block, 0, stream, pdl, p1);
    else if (split)
      launch_kernel(pointwise_gemm_kernel<S, false, true>, grid, block, 0, stream, pdl, p1);
    else
      launch_kernel(pointwise_gemm_kernel<S, false, false>, grid, block, 0, stream, pdl, p1);
  }
};

std::vector<float> pack_weights_kn(const std::vector<float>& w, int n, int k) {
  if (w.size() != size_t(n) * size_t(k)) throw InputError("pack_weights_kn: weight size mismatch");
  const int ldb = padded4(n);
  std::vector<float> out(size_t(k) * size_t(ldb), 0.0f);
  for (int o = 0; o < n; ++o)
    for (int i = 0; i < k; ++i) out[size_t(i) * ldb + o] = w[size_t(o) * k + i];
  return out;
}

std::vector<float> pad_bias(const std::vector<float>& b, int n) {
  std::vector<float> out(size_t(padded4(n)), 0.0f);
  for (size_t i = 0; i < b.size() && i < size_t(n); ++i) out[i] = b[i];
  return out;
}

void configure_pointwise(const GemmPlan& plan) {
  if (plan.kernel != GemmKernel::kV2) return;
  if (plan.tile < 0 || plan.tile >= kGemmTileCount)
    throw std::logic_error("pointwise: plan names no tile");
  dispatch_tile<ConfigurePointwise>(plan.tile, split_mode(plan));
}

bool pointwise_vector_a(const PointwiseArgs& args) {
  return args.k % 4 == 0 && aligned16(args.a);
}

void launch_pointwise(const GemmPlan& plan, const PointwiseArgs& args, cudaStream_t stream,
                      bool pdl) {
  if (args.m <= 0 || args.n <= 0 || args.k <= 0) throw InputError("pointwise: empty problem");
  if (!args.a || !args.wt || !args.bias || !args.out)
    throw InputError("pointwise: null input, weight, bias or output pointer");
  if (plan.tile < 0 || plan.tile >= kGemmTileCount)
    throw std::logic_error("pointwise: plan names no tile");
  const GemmTile& t = kGemmTiles[plan.tile];
  const int granule = plan.kernel == GemmKernel::kV2 ? kGemmBKV2 : kGemmBK;
  if (plan.tiles_m != ceil_div(args.m, t.bm) || plan.tiles_n != ceil_div(args.n, t.bn) ||
      plan.granule != granule || plan.splits < 1 || plan.granules_per_split < 1 ||
      int64_t(plan.splits) * plan.granules_per_split < ceil_div(args.k, granule))
    throw std::logic_error("pointwise: plan does not match the problem");
  if (plan.splits > 1 && (!args.workspace || !args.counters))
    throw std::logic_error("pointwise: split-K plan without workspace");

  GemmParams p;
  p.a = args.a;
  p.wt = args.wt;
  p.K = args.k;
  p.ldb = padded4(args.n);
  p.k_tiles_per_split = plan.granules_per_split;
  p.ep.bias = args.bias;
  p.ep.residual = args.residual;
  p.ep.out = args.out;
  p.ep.M = args.m;
  p.ep.N = args.n;
  p.ep.relu6 = args.relu6 ? 1 : 0;
  p.ep.vec = (args.n % 4 == 0 && aligned16(args.out) &&
              (args.residual == nullptr || aligned16(args.residual)))
                 ? 1
                 : 0;
  p.sk.workspace = args.workspace;
  p.sk.counters = args.counters;
  p.sk.splits = plan.splits;
  dispatch_tile<LaunchPointwise>(plan.tile, plan, p, pointwise_vector_a(args), stream, pdl);
}

}  // namespace mbv2::custom
