// The tile/split-K cost model. Numbers are H100 SXM figures measured in this workplace
// (132 SMs, ~52 TFLOP/s FP32 FMA, ~3.0 TB/s copy bandwidth, 50 MB L2); the model only has
// to rank candidates, and MBV2_CUSTOM_PW_TILE / MBV2_CUSTOM_PW_SPLITK override it.
#include "custom/gemm_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "common/util.h"

namespace mbv2::custom {

namespace {

constexpr double kFmaPerClockPerSm = 128.0;
constexpr double kClockHz = 1.54e9;  // 52 TFLOP/s / (132 SMs * 256 FLOP/clock)
constexpr double kDramBytesPerSecond = 2.8e12;
constexpr double kL2BytesPerSecond = 7.0e12;
constexpr double kL2ResidentBytes = 30e6;  // what stays in the 50 MB L2 across N tiles

// Share of peak FMA issue a busy SM reaches: more outputs per thread means fewer shared
// memory loads per FMA.
double tile_efficiency(const GemmTile& t) {
  const int per_thread = t.tm * t.tn;
  return per_thread >= 64 ? 0.80 : per_thread >= 32 ? 0.70 : 0.55;
}

// Blocks of this tile that fit on one SM (registers bound them, not shared memory).
int resident_blocks(const GemmTile& t) { return std::max(1, 512 / t.threads()); }

double estimate_seconds(const GemmPlanRequest& r, const GemmTile& t, int granule, int splits,
                        int granules_per_split) {
  const double tm = double(ceil_div<int64_t>(r.m, t.bm));
  const double tn = double(ceil_div(r.n, t.bn));
  const double blocks = tm * tn * splits;
  const double k_per = std::min<double>(r.k, double(granules_per_split) * granule);
  const double per_sm = std::ceil(blocks / r.sm_count);
  const double resident = std::min<double>(per_sm, resident_blocks(t));
  const double warps = resident * t.threads() / 32.0;
  // One warp issues about half an instruction per clock; 8 warps keep 4 schedulers busy.
  const double rate = kFmaPerClockPerSm * kClockHz * tile_efficiency(t) * std::min(1.0, warps / 8.0);
  double fma_per_block = double(t.bm) * t.bn * k_per;
  if (r.fused_depthwise) fma_per_block += double(t.bm) * k_per * 9.0 * 2.0;  // producer + loads
  const double t_compute = per_sm * fma_per_block / rate;

  double a_bytes = double(r.m) * r.k * 4.0;
  if (r.fused_depthwise) a_bytes *= double(r.depthwise_stride) * r.depthwise_stride;
  const double a_traffic = a_bytes <= kL2ResidentBytes ? a_bytes : a_bytes * tn;
  const double bytes =
      a_traffic + double(r.k) * r.n * 4.0 + double(r.m) * r.n * 4.0 * (r.residual ? 2.0 : 1.0);
  const double t_mem = bytes / kDramBytesPerSecond;

  // One block's K loop is a serial chain: a main-loop stage costs ~40 ns, a fused chunk
  // (depthwise loads + 32..48 k steps) ~250 ns.
  const double t_serial = granules_per_split * (r.fused_depthwise ? 0.25e-6 : 0.04e-6);
  double seconds = std::max({t_compute, t_mem, t_serial});
  if (splits > 1) {
    // Partial tiles go through L2 twice; the last block of each tile adds them up in
    // rounds of four splits.
    seconds += 2.0 * blocks * t.bm * t.bn * 4.0 / kL2BytesPerSecond;
    seconds += (std::ceil((splits - 1) / 4.0) + 1.0) * 0.3e-6;
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

int find_tile(const std::string& name) {
  for (int i = 0; i < kGemmTileCount; ++i) {
    const GemmTile& t = kGemmTiles[i];
    if (name == std::to_string(t.bm) + "x" + std::to_string(t.bn)) return i;
  }
  return -1;
}

size_t GemmPlan::workspace_floats() const {
  if (splits <= 1) return 0;
  const GemmTile& t = kGemmTiles[tile];
  return size_t(tiles_m) * size_t(tiles_n) * size_t(splits) * size_t(t.bm) * size_t(t.bn);
}

int GemmPlan::counters() const { return splits > 1 ? tiles_m * tiles_n : 0; }

std::string GemmPlan::str() const {
  std::ostringstream s;
  s << tile_name(tile) << " splitk=" << splits;
  return s.str();
}

GemmPlan plan_gemm(const GemmPlanRequest& r) {
  if (r.m <= 0 || r.n <= 0 || r.k <= 0) throw InputError("GEMM plan: empty problem");
  const int forced = r.force_tile.empty() ? -1 : find_tile(r.force_tile);
  static const int kSplitCandidates[] = {1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 48, 64};

  GemmPlan best;
  double best_seconds = std::numeric_limits<double>::infinity();
  for (int ti = 0; ti < kGemmTileCount; ++ti) {
    if (forced >= 0 && ti != forced) continue;
    // The 8x8 tile spills registers once the depthwise producer is added: fused only on request.
    if (r.fused_depthwise && ti == 0 && forced != 0) continue;
    const GemmTile& t = kGemmTiles[ti];
    const int granule = r.fused_depthwise ? fused_chunk_channels(t.bm, t.bn) : kGemmBK;
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
      p.splits = splits;
      p.granules_per_split = per;
      p.granule = granule;
      p.tiles_m = int(tiles_m);
      p.tiles_n = tiles_n;
      if (splits > 1 && p.workspace_floats() > r.max_workspace_floats) continue;
      const double seconds = estimate_seconds(r, t, granule, splits, per);
      if (seconds < best_seconds) {
        best_seconds = seconds;
        p.est_us = seconds * 1e6;
        best = p;
      }
    }
  }
  if (!std::isfinite(best_seconds)) {
    // Only reachable when every candidate was refused (forced tile with a split-K that
    // does not fit the workspace): fall back to that tile without split-K.
    const int ti = forced >= 0 ? forced : 0;
    const GemmTile& t = kGemmTiles[ti];
    best.tile = ti;
    best.granule = r.fused_depthwise ? fused_chunk_channels(t.bm, t.bn) : kGemmBK;
    best.splits = 1;
    best.granules_per_split = ceil_div(r.k, best.granule);
    best.tiles_m = int(ceil_div<int64_t>(r.m, t.bm));
    best.tiles_n = ceil_div(r.n, t.bn);
    best.est_us = estimate_seconds(r, t, best.granule, 1, best.granules_per_split) * 1e6;
  }
  return best;
}

}  // namespace mbv2::custom
