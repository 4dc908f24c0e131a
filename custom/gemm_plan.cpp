// The tile/split-K cost model. Numbers are H100 SXM figures measured in this workplace
// (132 SMs, 65.3 TFLOP/s FP32 FMA at 1.98 GHz, ~3.0 TB/s copy bandwidth, 50 MB L2); the
// model only has to rank candidates, and MBV2_CUSTOM_PW_KERNEL / _PW_TILE / _PW_SPLITK
// override it.
//
// Versions:
//   v1  FMA issue rate, DRAM bytes, wave quantisation, split-K reduction tail.
//   v2  two GEMM kernels; register / shared-memory residency per tile; a per-block serial
//       chain (first-load latency + one latency per k-tile for v1, a third of one for the
//       4-stage v2 pipeline) that dominates at batch 1; split-K fix-up in rounds of
//       several partials (v1 underestimated batch-1 split-K by ~3x: 12.3 us measured for
//       7x7x960->160 against ~3 us predicted).
//   v3  cluster split-K: two cluster barriers and one round of distributed-shared-memory
//       loads replace the fence, atomic and L2 rounds of the global fix-up.
#include "custom/gemm_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <vector>

#include "common/util.h"

namespace mbv2::custom {

namespace {

constexpr double kFmaPerClockPerSm = 128.0;
constexpr double kClockHz = 1.93e9;  // 65.3 TFLOP/s / (132 SMs * 256 FLOP/clock)
constexpr double kDramBytesPerSecond = 2.9e12;
constexpr double kL2BytesPerSecond = 7.0e12;
constexpr double kL2ResidentBytes = 30e6;  // what stays in the 50 MB L2 across N tiles
constexpr double kLaunchToDataSeconds = 0.8e-6;  // block start, first loads, epilogue
constexpr double kLoadLatencySeconds = 0.5e-6;   // one k-tile's global loads under load

// Share of peak FMA issue a busy SM reaches: more outputs per thread means fewer shared
// memory loads per FMA; v2 also drops v1's shared-memory stores and second barrier.
double tile_efficiency(const GemmTile& t, GemmKernel kernel) {
  const int per_thread = t.tm * t.tn;
  if (kernel == GemmKernel::kV2) return per_thread >= 64 ? 0.85 : per_thread >= 32 ? 0.78 : 0.62;
  return per_thread >= 64 ? 0.80 : per_thread >= 32 ? 0.70 : 0.55;
}

// Blocks of this tile that fit on one SM: registers (the launch bounds' budget), threads,
// and for v2 the pipeline's dynamic shared memory.
int resident_blocks(const GemmTile& t, GemmKernel kernel) {
  const int per_thread = t.tm * t.tn;
  const int regs = per_thread >= 64 ? 128 : per_thread >= 32 ? 96 : 64;
  int blocks = std::min(65536 / (t.threads() * regs), 2048 / t.threads());
  if (kernel == GemmKernel::kV2)
    blocks = std::min(blocks, 233472 / (gemm_v2_smem_bytes(t.bm, t.bn) + 1024));
  return std::max(1, std::min(blocks, 32));
}

double estimate_seconds(const GemmPlanRequest& r, const GemmTile& t, GemmKernel kernel, int granule,
                        int splits, int granules_per_split, bool cluster) {
  const double tm = double(ceil_div<int64_t>(r.m, t.bm));
  const double tn = double(ceil_div(r.n, t.bn));
  const double blocks = tm * tn * splits;
  const double k_per = std::min<double>(r.k, double(granules_per_split) * granule);
  const double per_sm = std::ceil(blocks / r.sm_count);
  const int fit = resident_blocks(t, kernel);
  const double resident = std::min<double>(per_sm, fit);
  const double warps = resident * t.threads() / 32.0;
  // One warp issues about half an instruction per clock; 8 warps keep 4 schedulers busy.
  const double rate =
      kFmaPerClockPerSm * kClockHz * tile_efficiency(t, kernel) * std::min(1.0, warps / 8.0);
  double fma_per_block = double(t.bm) * t.bn * k_per;
  if (r.fused_depthwise) fma_per_block += double(t.bm) * k_per * 9.0 * 2.0;  // producer + loads
  const double t_compute = per_sm * fma_per_block / rate;

  double a_bytes = double(r.m) * r.k * 4.0;
  if (r.fused_depthwise) a_bytes *= double(r.depthwise_stride) * r.depthwise_stride;
  const double a_traffic = a_bytes <= kL2ResidentBytes ? a_bytes : a_bytes * tn;
  const double bytes =
      a_traffic + double(r.k) * r.n * 4.0 + double(r.m) * r.n * 4.0 * (r.residual ? 2.0 : 1.0);
  const double t_mem = bytes / kDramBytesPerSecond;

  // One block's K loop is a serial chain; the resident blocks of a wave run it side by
  // side. v1 keeps one k-tile in flight (a load latency per k-tile, partly hidden by the
  // FMAs); v2 keeps kGemmStages - 1 in flight; a fused chunk (depthwise loads + 32..48 k
  // steps) costs ~0.6 us.
  double per_granule = 0.5 * kLoadLatencySeconds;
  if (kernel == GemmKernel::kV2) per_granule = kLoadLatencySeconds / (kGemmStages - 1);
  if (r.fused_depthwise) per_granule = 0.6e-6;
  const double waves = std::ceil(per_sm / fit);
  const double t_serial = waves * (kLaunchToDataSeconds + granules_per_split * per_granule);
  double seconds = std::max({t_compute, t_mem, t_serial});
  if (splits > 1 && cluster) {
    // Partials stay on chip: write to shared memory, cluster barrier, each block sums its
    // 1/splits of the tile from every peer (one DSMEM round trip), second barrier.
    seconds += 0.8e-6;  // H200, batch 1: 0.5-1.2 us gained over the global fix-up
  } else if (splits > 1) {
    // Partial tiles go through L2 twice; the last block of each tile re-reads them in
    // rounds (gemm_core.cuh: splitk_rounds partials per round), one L2 latency each,
    // after a fence + atomic.
    const int quads = t.tm * t.tn / 4;
    const int per_round = std::max(1, 8 / quads);
    seconds += 2.0 * blocks * t.bm * t.bn * 4.0 / kL2BytesPerSecond;
    seconds += 0.6e-6 + std::ceil(double(splits) / per_round) * 0.25e-6;
  }
  return seconds;
}

}  // namespace

std::string tile_name(int tile) {
  const GemmTile& t = kGemmTiles[tile];
  std::ostringstream s;
  s << t.bm << "x" << t.bn << " t" << t.tm << "x" << t.tn;
  return s.str();
}

std::string tile_names() {
  std::string s;
  for (int i = 0; i < kGemmTileCount; ++i)
    s += (i ? " " : "") + std::to_string(kGemmTiles[i].bm) + "x" + std::to_string(kGemmTiles[i].bn);
  return s;
}

int find_tile(const std::string& name) {
  for (int i = 0; i < kGemmTileCount; ++i) {
    const GemmTile& t = kGemmTiles[i];
    if (name == std::to_string(t.bm) + "x" + std::to_string(t.bn)) return i;
  }
  return -1;
}

size_t GemmPlan::workspace_floats() const {
  // Cluster plans keep it too: an unaligned A sends them to the v1 kernel, which reduces
  // through the workspace.
  if (splits <= 1) return 0;
  const GemmTile& t = kGemmTiles[tile];
  return size_t(tiles_m) * size_t(tiles_n) * size_t(splits) * size_t(t.bm) * size_t(t.bn);
}

int GemmPlan::counters() const { return splits > 1 ? tiles_m * tiles_n : 0; }

std::string GemmPlan::str() const {
  std::ostringstream s;
  s << (kernel == GemmKernel::kV2 ? "v2 " : "v1 ") << tile_name(tile) << " splitk=" << splits;
  if (cluster) s << " cluster";
  return s.str();
}

GemmPlan plan_gemm(const GemmPlanRequest& r) {
  if (r.m <= 0 || r.n <= 0 || r.k <= 0) throw InputError("GEMM plan: empty problem");
  const int forced = r.force_tile.empty() ? -1 : find_tile(r.force_tile);
  static const int kSplitCandidates[] = {1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64};
  // The fused kernel is its own main loop (plan.kernel stays v1); a plain GEMM may use v2
  // when A can be copied in 16-byte pieces.
  std::vector<GemmKernel> kernels;
  if (r.fused_depthwise) {
    kernels = {GemmKernel::kV1};
  } else {
    if (r.vector_a && r.force_kernel != 1) kernels.push_back(GemmKernel::kV2);
    if (r.force_kernel != 2 || !r.vector_a) kernels.push_back(GemmKernel::kV1);
  }

  GemmPlan best;
  double best_seconds = std::numeric_limits<double>::infinity();
  for (GemmKernel kernel : kernels) {
    for (int ti = 0; ti < kGemmTileCount; ++ti) {
      if (forced >= 0 && ti != forced) continue;
      const GemmTile& t = kGemmTiles[ti];
      if (r.fused_depthwise && !t.fused_ok()) continue;
      // The 8x8 tile spills registers once the depthwise producer is added: fused only on request.
      if (r.fused_depthwise && ti == 0 && forced != 0) continue;
      const int granule = r.fused_depthwise         ? fused_chunk_channels(t.bm, t.bn)
                          : kernel == GemmKernel::kV2 ? kGemmBKV2
                                                      : kGemmBK;
      const int granules = ceil_div(r.k, granule);
      const int64_t tiles_m = ceil_div<int64_t>(r.m, t.bm);
      const int tiles_n = ceil_div(r.n, t.bn);
      if (tiles_m > std::numeric_limits<int>::max() || tiles_n > 65535) continue;
      for (int candidate : kSplitCandidates) {
        int want = r.force_splits > 0 ? r.force_splits : candidate;
        if (r.force_splits > 0 && candidate != 1) break;  // one forced value only
        want = std::min(std::min(want, granules), 65535);
        const int per = ceil_div(granules, want);
        const int splits = ceil_div(granules, per);  // no empty splits
        GemmPlan p;
        p.tile = ti;
        p.kernel = kernel;
        p.splits = splits;
        p.granules_per_split = per;
        p.granule = granule;
        p.tiles_m = int(tiles_m);
        p.tiles_n = tiles_n;
        // Clusters only for the 4x4 thread tiles: on the H200 every 8x4 / 8x8 cluster plan
        // measured slower than the plan it replaced (batch-1 14x14 expands 4.9 -> 5.6 us,
        // batch-256 classifier 27 -> 42 us), every 4x4 one faster.
        p.cluster = kernel == GemmKernel::kV2 && r.cluster && splits > 1 &&
                    splits <= kMaxClusterSplits && !r.fused_depthwise && t.tm * t.tn <= 16;
        if (splits > 1 && p.workspace_floats() > r.max_workspace_floats) continue;
        const double seconds = estimate_seconds(r, t, kernel, granule, splits, per, p.cluster);
        if (seconds < best_seconds) {
          best_seconds = seconds;
          p.est_us = seconds * 1e6;
          best = p;
        }
      }
    }
  }
  if (!std::isfinite(best_seconds)) {
    // Reachable when every candidate was refused (a forced tile with a split-K that does
    // not fit the workspace, or a forced tile the fused kernel cannot run): fall back to
    // that tile (or tile 1) without split-K.
    int ti = forced >= 0 ? forced : 0;
    if (r.fused_depthwise && !kGemmTiles[ti].fused_ok()) ti = 1;
    const GemmTile& t = kGemmTiles[ti];
    best.tile = ti;
    best.kernel = kernels.front();
    best.granule = r.fused_depthwise             ? fused_chunk_channels(t.bm, t.bn)
                   : best.kernel == GemmKernel::kV2 ? kGemmBKV2
                                                    : kGemmBK;
    best.splits = 1;
    best.granules_per_split = ceil_div(r.k, best.granule);
    best.tiles_m = int(ceil_div<int64_t>(r.m, t.bm));
    best.tiles_n = ceil_div(r.n, t.bn);
    best.est_us =
        estimate_seconds(r, t, best.kernel, best.granule, 1, best.granules_per_split, false) * 1e6;
  }
  return best;
}

}  // namespace mbv2::custom
