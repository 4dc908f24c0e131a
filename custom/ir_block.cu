// A whole inverted-residual block (expand 1x1 + ReLU6 -> depthwise 3x3 + ReLU6 -> project
// 1x1 + bias [+ residual]) in one kernel, for forward() at small batch.
//
// Why: at batch 1 the 14x14 and 7x7 stages are 3 launches per block of ~1-2 µs of work each,
// and every launch boundary costs ~3-4 µs on the H200 even with PDL (custom/NOTES.md). One
// kernel per block removes two of the three boundaries and never writes the expanded or
// depthwise tensors anywhere.
//
// Versions:
//   v1  One thread-block cluster per (image, band of `rows` output rows); block s of the
//       cluster owns a slice of hidden channels. Per block: (1) before the PDL wait, cp.async
//       the slice's expand / depthwise (and, when they fit, projection) weights into shared
//       memory; (2) after it, the band's input rows plus the 3x3 halo; (3) expand GEMM of
//       those rows x the slice (halo rows recomputed by the neighbouring band, rows outside
//       the image set to 0 = the depthwise zero padding); (4) depthwise of the band; (5)
//       partial projection over the slice's channels into shared memory; (6) cluster barrier,
//       then each block adds 1/slices of the output tile from all blocks' partials in rank
//       order (deterministic, no atomics, no workspace), adds bias and residual, stores.
//       All three GEMMs are one register-tiled shared-memory loop (TM pixels x 4 channels
//       per thread, float4 along K and N).
//   v2  512 threads (256 left 8 warps per SM latency bound: 241 vs 208 µs unfused at batch
//       1); rows of X / E / D padded by 4 floats (4.6-way bank conflicts); TM chosen by a
//       shared-memory-pipe-aware estimate (TM 1 cost 5 loads per 16 FMAs); the fewest rows
//       per band that fit one wave; clusters of 16 blocks (non-portable) from 384 hidden
//       channels. Tried and reverted: splitting K over 2-8 lanes per tile with a shuffle
//       tree (more instructions, 4-way conflicts; every fused block 1-3 µs slower).
//   v2.1 push reduction: peers store their partials into the owner's shared memory after an
//       early cluster-barrier arrive; one cluster barrier, local loads (H200 b1: 174.5 vs
//       181 µs with the pull). Pull and a 64-register build (210 µs) removed after measuring.
//   v2.2 projection bias staged with the weights and the residual read from the staged input
//       rows (shared memory, not L2); griddepcontrol.launch_dependents at the kernel's start
//       (the next kernel's blocks take the idle SMs and stage their weights there). H200 b1:
//       168.3 vs 170.4 µs, same session. Measured slower and not kept (custom/NOTES.md,
//       session 5): copies issued by rows of chunks, fewer divisions in the depthwise loop,
//       256-thread blocks (189 µs), half-grid kernels so that the next one stays resident
//       (184 µs).
//   v2.3 asynchronous cluster reduction: the partial projections go to their owner with
//       st.async, each counted on the owner's mbarrier (complete_tx), and the owner waits for
//       the bytes it expects instead of a cluster barrier (cluster.sync() put a MEMBAR.ALL.GPU
//       and a wait for the slowest peer on every block). H200 b1: 166.1 vs 168.4 µs, same
//       session, interleaved, three times each.
//   v2.4 the residual is only ever the block's own input (the backend fuses no other block;
//       the L2 residual path, run by no test, is gone); slice geometry computed once.
//       Tried and removed (code in commit 402c00f): a K-split GEMM, 8x8 tiles per group of
//       8 lanes, lane s taking k = s, s + 8, ..., reduce-scattered with shuffles (half the
//       shared-memory wavefronts per FMA of the 4x4 tiles, twice the threads). H200 b1:
//       expand only 168.8, projection only 170.2, both 172.6 vs 166.0 µs without.
//   v2.5 the projection weights issued after the input rows and waited for only before the
//       projection (a second instantiation of the kernel; default since session 7,
//       MBV2_CUSTOM_BLOCK_LATE_WP=0 runs the first). H200 b1: 164.7 vs 165.0 µs, three
//       rounds; session 7: 164.53 / 164.56 / 164.66 vs 165.05 / 164.94 / 164.89.
//       Measured slower and removed: register double-buffered GEMM loops (166.3 vs 164.7 µs;
//       code in commit 6e90050).
//   v2.6 GEMM lane layout as a template parameter (smem_gemm.cuh v2: rows, 2 x 2 quads, or
//       quads below TM 4) and the TM estimate at 2 cycles per shared load (more TM 2 picks).
//       H200 b1 (with the tile blocks' quads and the stem's 2 px/thread): 153.2 vs 158.3 µs.
//   v2.7 planner: TM 2 for both GEMMs wherever the thread tiles fit one round of 512 threads
//       (every batch-1 block), else the estimate. H200 b1, session 9 run A (same machine,
//       interleaved): main 152.44 / 152.34 / 152.31 µs, main with TM 2 forced 150.90 / 151.01 /
//       151.07; with the tile kernel's K-split floor and the smem_gemm refactor 151.00 /
//       150.96 / 150.84.
//   v2.8 a kernel compiled for TM 2 in both GEMMs (kTm = 2), run wherever the plan has TM 2 /
//       2 in a quads layout (every batch-1 block): 52 KB of SASS instead of 76-98 KB. Why: a
//       K-split build (session 10, reverted) whose kernel had grown from 98 to 132 KB measured
//       152.7 vs 150.8 µs with the split turned off, i.e. with the same arithmetic; Nsight
//       Compute put "no instruction" (instruction-cache) stalls at 31% of its cycles.
//       Predicted -1..-2 µs at b1; measured (H200, session 10, 5 interleaved rounds, with
//       the unrolled K-remainder loop gone and tile_block v1.6): 145.58 µs, 146.18 with the
//       tile kernel's general build, 148.07 with this kernel's, 148.74 with neither, 151.10
//       for main before the change.
//   v2.9 the thread-strided loops (weight and input staging, zero fill, depthwise, store; 1-5
//       iterations per thread at batch 1) not unrolled (`#pragma unroll 1`): nvcc unrolled
//       them 4 times, 20 of the fixed kernel's 52 KB of SASS (now 32 KB). With tile_block
//       v1.7, H200 b1 (session 10, 5 interleaved rounds against main's build): 141.02 vs
//       145.87 µs; the weight-issue and input-load phases 0.1-0.4 µs shorter per block.
//   v2.10 the fixed-TM kernel only for channel counts that are multiples of 4, without the
//       scalar staging and store paths: 30.5 KB. With tile_block v1.8, H200 b1: 139.90 vs
//       141.40 µs (session 10, 5 interleaved rounds).
//   Tried and reverted: 64-register kernels (__launch_bounds__(512, 2)) so that the next
//       kernel's blocks start beside this one's under PDL and fetch their weights early.
//       They did start early (PDL waits of 6-15 µs), but every phase slowed: b1 184.5 vs
//       151.1 µs; with the tile kernel capped too, 200.7 (session 9 run B).
//   Phase trace (MBV2_CUSTOM_TRACE=1, tools/mbv2_ir_trace): a separate instantiation of the
//       kernel stamps clock64 at 9 points (the first trace, commit e9ca430, was a runtime
//       branch in the one kernel and moved the untraced kernel's time).
//   Tried and reverted (commit 5263da6 has the code): chains of consecutive blocks in one
//       persistent kernel with a grid barrier between blocks. H200 batch 1: 180 vs 171 µs
//       (one kernel per block with PDL is cheaper than the barrier; custom/NOTES.md).
#include "custom/ir_block.h"

#include <cooperative_groups.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <stdexcept>

#include "common/util.h"
#include "custom/cp_async.cuh"
#include "custom/kernel_common.cuh"
#include "custom/pointwise_conv.h"
#include "custom/smem_gemm.cuh"

namespace mbv2::custom {

namespace {

// Float offsets of the kernel's shared-memory arrays (all multiples of 4 floats).
struct IrSmem {
  int x, we, be, wd, bd, pb, e, d, wp, p, mbar, total;
};

__host__ __device__ inline IrSmem ir_smem_layout(int in_rows, int w, int cin4, int cs, int q,
                                                 int cout4, bool stage_project, int slices) {
  IrSmem s;
  int o = 0;
  // Rows of X, E and D are padded by 4 floats: threads of a warp reading float4s of
  // neighbouring pixels then hit different banks (the first H200 profile showed 4.6-way
  // conflicts on 23% of the shared loads without it).
  s.x = o, o += in_rows * w * (cin4 + 4);  // input rows of the band [in_rows * W][cin4 + 4]
  s.we = o, o += cin4 * cs;           // expand weights of the slice [cin4][cs]
  s.be = o, o += cs;                  // expand bias
  s.wd = o, o += 9 * cs;              // depthwise taps              [9][cs]
  s.bd = o, o += cs;                  // depthwise bias
  s.pb = o, o += cout4;               // projection bias
  s.e = o, o += in_rows * w * (cs + 4);  // expanded rows            [in_rows * W][cs + 4]
  s.d = o, o += q * (cs + 4);            // depthwise outputs        [rows * OW][cs + 4]
  s.wp = o, o += stage_project ? cs * cout4 : 0;  // projection weights [cs][cout4]
  // Partial projections: pull, this block's own [rows * OW][cout4]; push, what every block
  // of the cluster sends for the 1/slices of the tile this block finishes ([slices][per]
  // float4, per = ceil(rows * OW * cout4 / 4 / slices)); the larger of the two.
  s.p = o, o += 4 * slices * ((q * cout4 / 4 + slices - 1) / slices);
  s.mbar = o, o += 4;  // the mbarrier (8 bytes) the partials arrive on
  s.total = o;
  return s;
}

struct IrParams {
  IrBlockArgs a;
  int h, w, cin, ch, oh, ow, cout, stride, pad;
  int rows, in_rows, bands, slice_ch, tm_expand, tm_project;
  int cin4, ldh, ldo;
  int stage_project, expand_relu6, dw_relu6, project_relu6, vec_out, residual;
  IrSmem sm;
};


// Phase trace (the kTrace instantiation only; IrBlockArgs::trace): kernel_common.cuh.
template <bool kTrace>
__device__ __forceinline__ void ir_trace(const IrParams& p, int k) {
  if constexpr (kTrace) trace_stamp(p.a.trace, kIrTraceWords, k, kIrTracePoints - 1);
}

// Asynchronous cluster reduction: peers store their partials with st.async into the owner's
// shared memory, each store counting its bytes on the owner's mbarrier; the owner waits for
// the bytes it expects instead of a cluster barrier (no MEMBAR.ALL.GPU, no wait for blocks
// that have nothing to send it).
__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init_cluster_visible(unsigned bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(bar) : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}
__device__ __forceinline__ unsigned map_rank(unsigned addr, int rank) {
  unsigned out = addr;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(out) : "r"(addr), "r"(rank));
#endif
  return out;
}
__device__ __forceinline__ void st_async4(unsigned remote, float4 v, unsigned remote_bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("st.async.shared::cluster.mbarrier::complete_tx::bytes.v4.f32 [%0], {%1, %2, %3, %4}, [%5];"
               ::"r"(remote), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w), "r"(remote_bar) : "memory");
#endif
}
__device__ __forceinline__ void mbar_expect(unsigned bar, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(bytes) : "memory");
#endif
}
__device__ __forceinline__ void mbar_wait_phase0_cluster(unsigned bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  unsigned done = 0;
  while (!done) {
    asm volatile(
        "{\n .reg .pred p;\n"
        " mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 p, [%1], 0;\n"
        " selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done) : "r"(bar) : "memory");
  }
#endif
}

// The kernel's shared-memory arrays, resolved once from the layout, and this block's slice
// of the hidden channels.
struct IrBlockCtx {
  float *x, *we, *be, *wd, *bd, *pb, *e, *d, *wp, *p, *mbar;
  int cs, cq, oq;  // slice channels (multiple of 4), their quads, output quads
  int c0;          // first hidden channel of the slice
  __device__ IrBlockCtx(const IrParams& p, float* smem)
      : x(smem + p.sm.x), we(smem + p.sm.we), be(smem + p.sm.be), wd(smem + p.sm.wd),
        bd(smem + p.sm.bd), pb(smem + p.sm.pb), e(smem + p.sm.e), d(smem + p.sm.d),
        wp(smem + p.sm.wp), p(smem + p.sm.p), mbar(smem + p.sm.mbar), cs(p.slice_ch),
        cq(p.slice_ch / 4), oq(p.ldo / 4), c0(int(blockIdx.z) * p.slice_ch) {}
};

// The slice's projection weights [cs][ldo] (rows past Ch zero-filled).
__device__ __forceinline__ void ir_stage_project_weights(const IrParams& p, const IrBlockCtx& c) {
#pragma unroll 1
  for (int f = threadIdx.x; f < c.cs * c.oq; f += kIrBlockThreads) {
    const int r = f / c.oq, j = (f % c.oq) * 4;
    const bool v = c.c0 + r < p.ch;
    cp_async16(c.wp + r * p.ldo + j, v ? p.a.project_w + size_t(c.c0 + r) * p.ldo + j : p.a.project_w, v);
  }
}

// (1) The slice's weights and biases: constant, so fetched before waiting for the previous
// kernel. Columns past padded4(Ch) and rows past Cin / Ch are zero-filled: zero weights make
// the padded hidden channels exactly 0 all the way through. kLateWp: the projection weights
// are left for ir_compute, which issues them after the input rows as a group of their own
// and waits for them only before the projection (they then load during the expand and the
// depthwise instead of ahead of the input).
template <bool kLateWp, bool kTrace>
__device__ __forceinline__ void ir_stage_weights(const IrParams& p, const IrBlockCtx& c) {
  constexpr int T = kIrBlockThreads;
  const int tid = threadIdx.x;
#pragma unroll 1
  for (int f = tid; f < p.cin4 * c.cq; f += T) {
    const int k = f / c.cq, j = (f % c.cq) * 4;
    const bool v = k < p.cin && c.c0 + j < p.ldh;
    cp_async16(c.we + k * c.cs + j, v ? p.a.expand_w + size_t(k) * p.ldh + c.c0 + j : p.a.expand_w, v);
  }
#pragma unroll 1
  for (int f = tid; f < 11 * c.cq; f += T) {  // 9 taps, then the two biases
    const int row = f / c.cq, j = (f % c.cq) * 4;
    const bool v = c.c0 + j < p.ldh;
    const float* src = row < 9 ? p.a.dw_w + size_t(row) * p.ldh : (row == 9 ? p.a.dw_b : p.a.expand_b);
    float* dst = row < 9 ? c.wd + row * c.cs : (row == 9 ? c.bd : c.be);
    cp_async16(dst + j, v ? src + c.c0 + j : src, v);
  }
  if (!kLateWp && p.stage_project) ir_stage_project_weights(p, c);
  // The projection bias too: the store phase then reads only shared memory (H200 batch 1,
  // with the residual from the staged input: 169.5 vs 171.0 µs).
#pragma unroll 1
  for (int q = tid; q < c.oq; q += T) cp_async16(c.pb + 4 * q, p.a.project_b + 4 * q, true);
  cp_async_commit();
  // Push reduction: peers store into this block's shared memory in step 5, which is legal only
  // once every block of the cluster runs; arrive now, wait just before the first remote store.
  __cluster_barrier_arrive_relaxed();
  ir_trace<kTrace>(p, 1);
}

// (2)-(6): everything after the wait.
template <bool kLateWp, bool kTrace, int kLayout, int kTm>
__device__ __forceinline__ void ir_compute(const IrParams& p, const IrBlockCtx& c) {
  namespace cg = cooperative_groups;
  constexpr int T = kIrBlockThreads;
  const int tid = threadIdx.x;
  const int band = int(blockIdx.x) % p.bands, img = int(blockIdx.x) / p.bands;
  const int cq = c.cq, oq = c.oq;
  const int ldx = p.cin4 + 4, lde = c.cs + 4;  // padded rows of X and of E / D

  // (2) The band's input rows that lie inside the image.
  const int oh0 = band * p.rows;
  const int ih0 = oh0 * p.stride - p.pad;
  const int r_lo = max(0, -ih0), r_hi = min(p.in_rows, p.h - ih0);
  const int npix = max(0, r_hi - r_lo) * p.w;
  const float* x_img = p.a.x + size_t(img) * p.h * p.w * p.cin;
  const float* x_band = x_img + (size_t(ih0 + r_lo) * p.w) * p.cin;  // rows are contiguous
  float* xs_band = c.x + r_lo * p.w * ldx;
  // The fixed-TM kernel runs only on vector shapes (plan_ir_block, launch_ir_block): its
  // scalar staging and store paths are not compiled (v2.10).
  constexpr bool kVec = kTm > 0;
  if (kVec || p.cin % 4 == 0) {
    const int kq = p.cin / 4;
#pragma unroll 1
    for (int f = tid; f < npix * kq; f += T) {
      const int pix = f / kq, j = (f % kq) * 4;
      cp_async16(xs_band + pix * ldx + j, x_band + size_t(pix) * p.cin + j, true);
    }
  } else {
#pragma unroll 1
    for (int f = tid; f < npix * p.cin4; f += T) {
      const int pix = f / p.cin4, k = f % p.cin4;
      xs_band[pix * ldx + k] = k < p.cin ? x_band[size_t(pix) * p.cin + k] : 0.0f;
    }
  }
  cp_async_commit();
  if constexpr (kLateWp) {  // the last group: waited for only before the projection
    if (p.stage_project) ir_stage_project_weights(p, c);
    cp_async_commit();
  }
  // Expanded rows outside the image are the depthwise zero padding.
#pragma unroll 1
  for (int f = tid; f < p.in_rows * p.w * cq; f += T) {
    const int pix = f / cq, r = pix / p.w;
    if (r < r_lo || r >= r_hi) st4(c.e + pix * lde + (f % cq) * 4, make_float4(0.f, 0.f, 0.f, 0.f));
  }
  if constexpr (kLateWp)
    cp_async_wait<1>();
  else
    cp_async_wait<0>();
  __syncthreads();
  ir_trace<kTrace>(p, 3);

  // (3) Expand: E = act(X * We + be) for the valid rows.
  {
    float* es_band = c.e + r_lo * p.w * lde;
    const bool act = p.expand_relu6;
    const float* be = c.be;
    smem_gemm<kIrBlockThreads, kLayout, kTm>(p.tm_expand, xs_band, ldx, c.we, c.cs, npix, cq, p.cin,
            [&](int m, int q, float4 v) {
              v = add4(v, f4(be + 4 * q));
              st4(es_band + m * lde + 4 * q, act ? relu6_4(v) : v);
            });
  }
  __syncthreads();
  ir_trace<kTrace>(p, 4);

  // (4) Depthwise 3x3 of the band's output rows.
  const int rows_valid = min(p.rows, p.oh - oh0);
  const int qv = rows_valid * p.ow;
#pragma unroll 1
  for (int f = tid; f < qv * cq; f += T) {
    const int ch = (f % cq) * 4, q = f / cq;
    const int lr = q / p.ow, ow = q % p.ow;
    float4 acc = f4(c.bd + ch);
#pragma unroll
    for (int i = 0; i < 3; ++i) {
      const float* erow = c.e + (lr * p.stride + i) * p.w * lde;
#pragma unroll
      for (int j = 0; j < 3; ++j) {
        const int iw = ow * p.stride - p.pad + j;
        if (unsigned(iw) >= unsigned(p.w)) continue;
        const float4 e = f4(erow + iw * lde + ch), wt = f4(c.wd + (i * 3 + j) * c.cs + ch);
        acc.x = fmaf(e.x, wt.x, acc.x), acc.y = fmaf(e.y, wt.y, acc.y);
        acc.z = fmaf(e.z, wt.z, acc.z), acc.w = fmaf(e.w, wt.w, acc.w);
      }
    }
    st4(c.d + q * lde + ch, p.dw_relu6 ? relu6_4(acc) : acc);
  }
  if constexpr (kLateWp) cp_async_wait<0>();  // the projection weights
  __syncthreads();
  ir_trace<kTrace>(p, 5);

  // (5) Partial projection over this slice's channels, and (6) the sum of the partials
  // across the cluster in rank order (deterministic, no atomics, no workspace); then bias,
  // residual, activation, store. Block `rank` finishes elements [rank * per, (rank+1) * per)
  // of the band's qv x oq float4 outputs.
  cg::cluster_group cluster = cg::this_cluster();
  const int slices = int(cluster.num_blocks()), rank = int(cluster.block_rank());
  const int total = qv * oq;
  const int per = (total + slices - 1) / slices;
  float4* const P4 = reinterpret_cast<float4*>(c.p);
  const unsigned bar = smem_addr(c.mbar);
  {
    const int kv = max(0, min(c.cs, p.ch - c.c0));
    const float* B = p.stage_project ? c.wp : p.a.project_w + size_t(kv > 0 ? c.c0 : 0) * p.ldo;
    // Every partial goes straight to its owner's shared memory, slot [rank][e - owner*per],
    // as an asynchronous store counted on the owner's mbarrier; then only local loads.
    __cluster_barrier_wait();
    const unsigned p4 = smem_addr(P4);
    smem_gemm<kIrBlockThreads, kLayout, kTm>(p.tm_project, c.d, lde, B, p.ldo, qv, oq, kv, [&](int m, int q, float4 v) {
      const int e = m * oq + q, owner = e / per;
      const unsigned slot = p4 + 16u * unsigned(rank * per + (e - owner * per));
      st_async4(map_rank(slot, owner), v, map_rank(bar, owner));
    });
  }
  // Every rank sends this block its `end` partials: wait for those bytes. Threads with
  // nothing to add leave at once; the block stays until the waiting ones are done, so no
  // peer writes into a block that has left.
  if constexpr (kTrace) {
    __syncthreads();  // (trace only) every thread's partials sent
    ir_trace<kTrace>(p, 6);
  }
  const int end = min(per, total - rank * per);
  if (tid >= end) {
    if (tid == 0) ir_trace<kTrace>(p, 7), ir_trace<kTrace>(p, 8);  // nothing to finish
    return;
  }
  if (tid == 0) mbar_expect(bar, unsigned(slices) * unsigned(end) * 16u);
  mbar_wait_phase0_cluster(bar);
  ir_trace<kTrace>(p, 7);
#pragma unroll 1
  for (int i = tid; i < end; i += T) {
    const int e = rank * per + i;
    float4 v = P4[i];
    for (int s = 1; s < slices; ++s) v = add4(v, P4[s * per + i]);
    const int q = e / oq, o = (e % oq) * 4;
    const int lr = q / p.ow, ow = q - lr * p.ow;
    const size_t base = ((size_t(img) * p.oh + oh0 + lr) * p.ow + ow) * p.cout + o;
    // Bias from shared memory; the residual is the block's own input (stride 1, same shape:
    // the planner refuses any other), read from the staged input rows (output row lr is
    // staged row lr + 1).
    v = add4(v, f4(c.pb + o));
    const float* xr = p.residual ? c.x + ((lr + 1) * p.w + ow) * ldx + o : nullptr;
    if (kVec || p.vec_out) {
      if (xr) v = add4(v, f4(xr));
      st4(p.a.out + base, p.project_relu6 ? relu6_4(v) : v);
    } else {
      const float vals[4] = {v.x, v.y, v.z, v.w};
      for (int j = 0; j < 4 && o + j < p.cout; ++j) {
        const float y = xr ? vals[j] + xr[j] : vals[j];
        p.a.out[base + j] = p.project_relu6 ? relu6(y) : y;
      }
    }
  }
  ir_trace<kTrace>(p, 8);  // thread 0's outputs stored
}

template <bool kLateWp, bool kTrace, int kLayout, int kTm>
__global__ void __launch_bounds__(kIrBlockThreads, 1) ir_block_kernel(const IrParams p) {
  extern __shared__ __align__(16) float smem[];
  // The next kernel may launch at once: its blocks take the SMs this grid leaves idle and
  // stage their weights there, then wait in pdl_wait() for this grid to complete (H200
  // batch 1: 169.8 vs 171.0 µs against the trigger after the projection).
  pdl_launch_dependents();
  const IrBlockCtx c(p, smem);
  // Before the cluster arrive in ir_stage_weights: peers store to it only after the wait.
  if (threadIdx.x == 0) mbar_init_cluster_visible(smem_addr(c.mbar));
  ir_trace<kTrace>(p, 0);
  ir_stage_weights<kLateWp, kTrace>(p, c);
  pdl_wait();
  ir_trace<kTrace>(p, 2);
  ir_compute<kLateWp, kTrace, kLayout, kTm>(p, c);
}

// The instantiation a plan runs, with or without the phase trace.
template <int kLayout, int kTm>
auto ir_block_kernel_for(bool late_wp, bool trace) {
  if (trace)
    return late_wp ? ir_block_kernel<true, true, kLayout, kTm> : ir_block_kernel<false, true, kLayout, kTm>;
  return late_wp ? ir_block_kernel<true, false, kLayout, kTm> : ir_block_kernel<false, false, kLayout, kTm>;
}
// Every instantiation, chosen by its four switches (launch and configure_ir_block). TM 2
// fixed: one kernel for the quads layouts (pairs and mixed take quads at TM 2).
auto ir_block_kernel_for(int gemm_layout, bool late_wp, bool trace, bool fixed_tm2) {
  if (fixed_tm2) return ir_block_kernel_for<kGemmPairs, 2>(late_wp, trace);
  if (gemm_layout == kGemmPairs) return ir_block_kernel_for<kGemmPairs, 0>(late_wp, trace);
  if (gemm_layout == kGemmMixed) return ir_block_kernel_for<kGemmMixed, 0>(late_wp, trace);
  return ir_block_kernel_for<kGemmRows, 0>(late_wp, trace);
}
auto ir_block_kernel_for(const IrBlockPlan& plan, bool trace) {
  return ir_block_kernel_for(plan.gemm_layout, plan.late_project_weights, trace, plan.fixed_tm);
}

// Rows per thread tile: smem_gemm.cuh's pipe-aware estimate for 512 threads.
// TM 2 wherever its thread tiles fit in one round of the block's threads (every GEMM of the
// batch-1 plan; H200, b1 graph, forced TM 2 / 2: 151.3 vs 152.6 µs with the estimate's picks
// of 2 or 4, TM 1 slower still), else the estimate.
int pick_tm(int m, int nq, int k, int lds_cycles) {
  if (int64_t((m + 1) / 2) * nq <= kIrBlockThreads) return 2;
  return pick_smem_tm(m, nq, k, kIrBlockThreads, lds_cycles);
}

IrSmem layout_of(const IrBlockShape& s, const IrBlockPlan& p) {
  return ir_smem_layout(p.in_rows, s.w, padded4(s.cin), p.slice_ch, p.rows * s.ow, padded4(s.cout),
                        p.stage_project, p.slices);
}

}  // namespace

std::string IrBlockPlan::str(int batch) const {
  std::ostringstream s;
  if (!ok) return "ir_block<none: " + reason + ">";
  s << "ir_block<rows " << rows << ", " << slices << " x " << slice_ch << " ch, tm " << tm_expand
    << "/" << tm_project << (gemm_layout == 1 ? " pairs" : gemm_layout == 2 ? " mixed" : "") << ", wp "
    << (stage_project ? (late_project_weights ? "smem late" : "smem") : "L2") << (fixed_tm ? ", fixed tm" : "")
    << "> ["
    << int64_t(bands) * batch * slices << " blocks, " << smem_bytes << " B]";
  return s.str();
}

std::string ir_block_shape_problem(const IrBlockShape& s) {
  if (s.n < 1 || s.h < 1 || s.w < 1 || s.cin < 1 || s.ch < 1 || s.cout < 1 || s.oh < 1 || s.ow < 1)
    return "empty shape";
  if (s.stride < 1 || s.pad < 0 || s.pad > 2 || (s.h + 2 * s.pad - 3) / s.stride + 1 != s.oh ||
      (s.w + 2 * s.pad - 3) / s.stride + 1 != s.ow || s.h + 2 * s.pad < 3 || s.w + 2 * s.pad < 3)
    return "not a 3x3 depthwise shape";
  if (!s.expand && s.ch != s.cin) return "no expand layer but hidden channels != input channels";
  if (s.residual && (s.stride != 1 || s.pad != 1 || s.h != s.oh || s.w != s.ow || s.cin != s.cout))
    return "a residual that is not the block's own input";
  if (int64_t(s.n) * s.oh * s.ow * s.cout >= (int64_t(1) << 31) ||
      int64_t(s.n) * s.h * s.w * s.cin >= (int64_t(1) << 31))
    return "more than 2^31 elements";
  return "";
}

void check_ir_block_args(const IrBlockArgs& a, bool expand, const char* kernel) {
  if (!a.x || (expand && (!a.expand_w || !a.expand_b)) || !a.dw_w || !a.dw_b || !a.project_w ||
      !a.project_b || !a.out)
    throw InputError(std::string(kernel) + ": null pointer");
  if (!aligned16(a.x) || !aligned16(a.expand_w) || !aligned16(a.dw_w) || !aligned16(a.project_w) ||
      !aligned16(a.expand_b) || !aligned16(a.dw_b) || !aligned16(a.project_b))
    throw std::logic_error(std::string(kernel) + ": inputs and weights must be 16-byte aligned");
}

IrBlockPlan plan_ir_block(const IrBlockShape& s, int sm_count, size_t smem_limit, int max_slices,
                          const IrBlockForce& force) {
  IrBlockPlan p;
  auto refuse = [&](const std::string& why) {
    p = IrBlockPlan();
    p.reason = why;
    return p;
  };
  if (const std::string why = ir_block_shape_problem(s); !why.empty()) return refuse(why);
  if (!s.expand) return refuse("no expand layer (the tile kernel runs such blocks)");
  if (s.ch < 5) return refuse("fewer than 5 hidden channels to split over a cluster");

  max_slices = std::clamp(max_slices, 2, kIrBlockMaxSlices);
  // Default cluster size: 16-channel slices up to 8 blocks; 16 blocks from 384 hidden
  // channels on (the H200 measured 16 faster there: 9.3 vs 10.0 µs at 384, 12.8 vs 16.4 at 960;
  // slower below, where 16 blocks per cluster forced taller bands).
  int slices = force.slices > 0 ? force.slices : (s.ch >= 384 ? 16 : std::min(8, (s.ch + 15) / 16));
  slices = std::clamp(slices, 2, max_slices);
  p.slice_ch = padded4((s.ch + slices - 1) / slices);
  p.slices = (s.ch + p.slice_ch - 1) / p.slice_ch;
  if (p.slices < 2 || p.slices > max_slices) return refuse("no cluster split of the hidden channels");

  // Rows per band: the fewest that fit the grid in one wave of one block per SM (512
  // threads x ~113 registers allow one), since every extra row per band shortens the
  // recomputed halo but lengthens the block; when no count fits one wave (large batch), as
  // many as shared memory allows. Staged projection weights when they fit.
  int best_rows = 0;
  bool best_stage = false;
  for (int rows = 1; rows <= s.oh; ++rows) {
    const int in_rows = (rows - 1) * s.stride + 3;
    bool fits = false, stage = false;
    for (bool st : {true, false}) {
      const IrSmem m = ir_smem_layout(in_rows, s.w, padded4(s.cin), p.slice_ch, rows * s.ow,
                                      padded4(s.cout), st, p.slices);
      if (size_t(m.total) * sizeof(float) <= smem_limit) {
        fits = true, stage = st;
        break;
      }
    }
    if (!fits) break;
    best_rows = rows, best_stage = stage;
    const int bands = (s.oh + rows - 1) / rows;
    if (force.rows > 0 ? rows >= force.rows : int64_t(bands) * s.n * p.slices <= sm_count) break;
  }
  if (best_rows == 0) return refuse("one output row does not fit in shared memory");
  p.rows = best_rows;
  p.stage_project = best_stage;
  p.in_rows = (p.rows - 1) * s.stride + 3;
  p.bands = (s.oh + p.rows - 1) / p.rows;
  if (int64_t(p.bands) * s.n > 0x7fffffff) return refuse("grid too large");
  auto tm_or = [](int forced, int picked) { return forced >= 4 ? 4 : forced >= 2 ? 2 : forced == 1 ? 1 : picked; };
  p.tm_expand = tm_or(force.tm_expand, pick_tm(p.in_rows * s.w, p.slice_ch / 4, s.cin, force.tm_lds_cycles));
  p.tm_project = tm_or(force.tm_project, pick_tm(p.rows * s.ow, padded4(s.cout) / 4, p.slice_ch, force.tm_lds_cycles));
  p.gemm_layout = force.gemm_layout;
  p.late_project_weights = force.late_project_weights;
  p.fixed_tm = force.fixed_tm && p.tm_expand == 2 && p.tm_project == 2 && gemm_pairs_at(p.gemm_layout, 2) &&
               s.cin % 4 == 0 && s.cout % 4 == 0;
  p.smem_bytes = size_t(layout_of(s, p).total) * sizeof(float);
  p.ok = true;
  return p;
}

bool ir_block_auto_fuses(const IrBlockShape& s) {
  return int64_t(s.n) * s.h * s.w <= 56 * 56;
}

void configure_ir_block(size_t smem_bytes) {
  for (int layout : {kGemmRows, kGemmPairs, kGemmMixed})
    for (bool late_wp : {false, true})
      for (bool trace : {false, true})
        for (bool fixed_tm : {false, true}) {
          const auto kernel = ir_block_kernel_for(layout, late_wp, trace, fixed_tm);
          MBV2_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               int(std::max<size_t>(smem_bytes, 48 * 1024))));
          MBV2_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
        }
}

int ir_block_max_active_clusters(const IrBlockPlan& plan) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(1u, 1u, unsigned(plan.slices));
  config.blockDim = dim3(kIrBlockThreads);
  config.dynamicSmemBytes = plan.smem_bytes;
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeClusterDimension;
  attribute.val.clusterDim.x = 1;
  attribute.val.clusterDim.y = 1;
  attribute.val.clusterDim.z = unsigned(plan.slices);
  config.attrs = &attribute;
  config.numAttrs = 1;
  int clusters = 0;
  MBV2_CUDA_CHECK(cudaOccupancyMaxActiveClusters(
      &clusters, ir_block_kernel_for(plan, false), &config));
  return clusters;
}

namespace {

IrParams make_params(const IrBlockShape& s, const IrBlockPlan& plan, const IrBlockArgs& a) {
  if (!plan.ok) throw std::logic_error("ir_block: launch of a refused plan (" + plan.reason + ")");
  check_ir_block_args(a, true, "ir_block");
  IrParams p;
  p.a = a;
  p.h = s.h, p.w = s.w, p.cin = s.cin, p.ch = s.ch, p.oh = s.oh, p.ow = s.ow, p.cout = s.cout;
  p.stride = s.stride, p.pad = s.pad;
  p.rows = plan.rows, p.in_rows = plan.in_rows, p.bands = plan.bands, p.slice_ch = plan.slice_ch;
  p.tm_expand = plan.tm_expand, p.tm_project = plan.tm_project;
  p.cin4 = padded4(s.cin), p.ldh = padded4(s.ch), p.ldo = padded4(s.cout);
  p.stage_project = plan.stage_project;
  p.expand_relu6 = s.expand_relu6, p.dw_relu6 = s.dw_relu6, p.project_relu6 = s.project_relu6;
  p.residual = s.residual;  // the block's own input; plan_ir_block refuses any other
  p.vec_out = s.cout % 4 == 0 && aligned16(a.out);
  p.sm = layout_of(s, plan);
  if (size_t(p.sm.total) * sizeof(float) != plan.smem_bytes)
    throw std::logic_error("ir_block: plan does not match the shape");
  return p;
}

}  // namespace

void launch_ir_block(const IrBlockShape& s, const IrBlockPlan& plan, const IrBlockArgs& a,
                     cudaStream_t stream, bool pdl) {
  const IrParams p = make_params(s, plan, a);
  const dim3 grid(unsigned(plan.bands * s.n), 1u, unsigned(plan.slices));
  // The fixed-TM kernel stores float4s only: an output that is not 16-byte aligned takes the
  // general kernel.
  const auto kernel = ir_block_kernel_for(plan.gemm_layout, plan.late_project_weights, a.trace != nullptr,
                                          plan.fixed_tm && p.vec_out);
  launch_kernel_cluster(kernel, grid, dim3(kIrBlockThreads),
                        plan.smem_bytes, stream, pdl, unsigned(plan.slices), p);
}

}  // namespace mbv2::custom
