#include "custom/custom_options.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <tuple>

#include "common/util.h"
#include "custom/gemm_plan.h"

namespace mbv2 {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

bool env_flag(const char* name, bool fallback) {
  const char* v = env(name);
  if (!v) return fallback;
  const std::string s(v);
  if (s == "1" || s == "on" || s == "true") return true;
  if (s == "0" || s == "off" || s == "false") return false;
  throw InputError(std::string(name) + "='" + s + "': expected 0 or 1");
}

/// An integer variable in [lo, hi], or `fallback` when unset; throws InputError naming it.
int env_int(const char* name, int lo, int hi, int fallback) {
  const char* s = env(name);
  if (!s) return fallback;
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (!end || *end != '\0' || v < lo || v > hi)
    throw InputError(std::string(name) + "='" + s + "': expected " + std::to_string(lo) + ".." +
                     std::to_string(hi));
  return int(v);
}

}  // namespace

CustomOptions CustomOptions::from_env() {
  CustomOptions o;
  o.fusion = env_flag("MBV2_CUSTOM_FUSION", o.fusion);
  o.pdl = env_flag("MBV2_CUSTOM_PDL", o.pdl);
  o.trace = env_flag("MBV2_CUSTOM_TRACE", o.trace);
  if (const char* v = env("MBV2_CUSTOM_BLOCK_FUSION")) {
    const std::string s(v);
    if (s == "auto")
      o.block_fusion = -1;
    else
      o.block_fusion = env_flag("MBV2_CUSTOM_BLOCK_FUSION", false) ? 1 : 0;
  }
  o.pw_cluster = env_flag("MBV2_CUSTOM_PW_CLUSTER", o.pw_cluster);
  if (const char* k = env("MBV2_CUSTOM_PW_KERNEL")) {
    const std::string v(k);
    if (v == "v1" || v == "1")
      o.pw_kernel = 1;
    else if (v == "v2" || v == "2")
      o.pw_kernel = 2;
    else if (v == "auto" || v == "0")
      o.pw_kernel = 0;
    else
      throw InputError("MBV2_CUSTOM_PW_KERNEL='" + v + "': expected v1, v2 or auto");
  }
  if (const char* t = env("MBV2_CUSTOM_PW_TILE")) {
    o.pw_tile = t;
    if (o.pw_tile != "auto" && custom::find_tile(o.pw_tile) < 0)
      throw InputError("MBV2_CUSTOM_PW_TILE='" + o.pw_tile + "': expected auto or one of " +
                       custom::tile_names());
    if (o.pw_tile == "auto") o.pw_tile.clear();
  }
  o.block_slices = env_int("MBV2_CUSTOM_BLOCK_SLICES", 0, 16, o.block_slices);
  if (o.block_slices == 1)  // a cluster of one block has nothing to split
    throw InputError("MBV2_CUSTOM_BLOCK_SLICES='1': expected 0 or 2..16");
  o.pw_splitk = env_int("MBV2_CUSTOM_PW_SPLITK", 0, 64, o.pw_splitk);
  o.block_rows = env_int("MBV2_CUSTOM_BLOCK_ROWS", 0, 4096, o.block_rows);
  if (const char* v = env("MBV2_CUSTOM_BLOCK_TM")) {
    const std::string s(v);
    auto tm = [](char c) { return c == '0' || c == '1' || c == '2' || c == '4'; };
    if (s.size() != 3 || !tm(s[0]) || s[1] != ',' || !tm(s[2]))
      throw InputError("MBV2_CUSTOM_BLOCK_TM='" + s + "': expected E,P with each 0 (planner), 1, 2 or 4");
    o.block_tm_expand = s[0] - '0', o.block_tm_project = s[2] - '0';
  }
  o.block_fixed_tm = env_flag("MBV2_CUSTOM_BLOCK_FIXED_TM", o.block_fixed_tm);
  o.tile_fixed_tm = env_flag("MBV2_CUSTOM_TILE_FIXED_TM", o.tile_fixed_tm);
  o.block_late_wp = env_flag("MBV2_CUSTOM_BLOCK_LATE_WP", o.block_late_wp);
  o.conv_pool = env_flag("MBV2_CUSTOM_CONV_POOL", o.conv_pool);
  o.tile_dw_project = env_flag("MBV2_CUSTOM_TILE_DW_PROJECT", o.tile_dw_project);
  o.tile_ksplit = env_int("MBV2_CUSTOM_TILE_KSPLIT", 0, 16, o.tile_ksplit);
  for (auto [name, layout, lds] : {std::tuple{"MBV2_CUSTOM_BLOCK_GEMM", &o.block_gemm_layout, &o.block_tm_lds},
                                    std::tuple{"MBV2_CUSTOM_TILE_GEMM", &o.tile_gemm_layout, &o.tile_tm_lds}}) {
    if (const char* v = env(name)) {
      const std::string s(v);
      const std::string kind = s.empty() ? s : s.substr(0, s.size() - 1);
      const int l = kind == "rows" ? 0 : kind == "pairs" ? 1 : kind == "mixed" ? 2 : -1;
      if (l < 0 || (s.back() != '2' && s.back() != '4'))
        throw InputError(std::string(name) + "='" + s + "': expected rows, pairs or mixed, then 4 or 2 (e.g. mixed2)");
      *layout = l;
      *lds = s.back() - '0';
    }
  }
  o.stem_ppt = env_int("MBV2_CUSTOM_STEM_PPT", 0, 4, o.stem_ppt);
  if (o.stem_ppt == 3) throw InputError("MBV2_CUSTOM_STEM_PPT='3': expected 0 (planner), 1, 2 or 4");
  o.tile_block_px = env_int("MBV2_CUSTOM_TILE_BLOCK", 0, 112 * 112, o.tile_block_px);
  if (const char* v = env("MBV2_CUSTOM_TILE_BLOCK_TILE")) {
    const std::string s(v);
    int th = 0, tw = 0;
    char x = 0, extra = 0;
    if (s == "auto") {
      o.tile_block_th = o.tile_block_tw = 0;
    } else if (std::sscanf(s.c_str(), "%d%c%d%c", &th, &x, &tw, &extra) == 3 && x == 'x' && th >= 1 &&
               th <= 4096 && tw >= 1 && tw <= 4096) {
      o.tile_block_th = th, o.tile_block_tw = tw;
    } else {
      throw InputError("MBV2_CUSTOM_TILE_BLOCK_TILE='" + s + "': expected auto or THxTW (e.g. 4x7)");
    }
  }
  return o;
}

std::string CustomOptions::str() const {
  std::ostringstream s;
  s << "fusion=" << (fusion ? 1 : 0) << " block_fusion="
    << (block_fusion < 0 ? std::string("auto") : std::to_string(block_fusion))
    << " block_slices=" << (block_slices ? std::to_string(block_slices) : std::string("auto"));
  if (block_rows) s << " block_rows=" << block_rows;
  if (block_tm_expand || block_tm_project) s << " block_tm=" << block_tm_expand << "," << block_tm_project;
  if (!block_fixed_tm) s << " block_fixed_tm=0";
  if (!block_late_wp) s << " block_late_wp=0";
  if (!tile_fixed_tm) s << " tile_fixed_tm=0";
  s << " tile_block=" << tile_block_px;
  if (tile_block_th) s << " tile_block_tile=" << tile_block_th << "x" << tile_block_tw;
  if (tile_ksplit) s << " tile_ksplit=" << tile_ksplit;
  auto gemm = [](int layout, int lds) {
    return std::string(layout == 1 ? "pairs" : layout == 2 ? "mixed" : "rows") + std::to_string(lds);
  };
  s << " block_gemm=" << gemm(block_gemm_layout, block_tm_lds) << " tile_gemm=" << gemm(tile_gemm_layout, tile_tm_lds);
  if (stem_ppt) s << " stem_ppt=" << stem_ppt;
  if (!tile_dw_project) s << " tile_dw_project=0";
  if (conv_pool) s << " conv_pool=1";
  if (trace) s << " trace=1";
  s << " pdl=" << (pdl ? 1 : 0)
    << " pw_kernel=" << (pw_kernel ? "v" + std::to_string(pw_kernel) : std::string("auto"))
    << " pw_tile=" << (pw_tile.empty() ? "auto" : pw_tile)
    << " pw_splitk=" << (pw_splitk ? std::to_string(pw_splitk) : std::string("auto"))
    << " pw_cluster=" << (pw_cluster ? 1 : 0);
  return s.str();
}

}  // namespace mbv2
