#include "cudnn_ref/engine_info.h"

#include <algorithm>
#include <sstream>

namespace mbv2::cudnn {

// ---------------------------------------------------------------------------------------
// Names. Tables indexed by enum value (stable in cuDNN's ABI), so deprecated enumerators
// are never named in code and newer values print as numbers.

namespace {
const char* const kKnobNames[] = {
    "SPLIT_K",      "SWIZZLE",     "TILE_SIZE",       "USE_TEX",     "EDGE",
    "KBLOCK",       "LDGA",        "LDGB",            "CHUNK_K",     "SPLIT_H",
    "WINO_TILE",    "MULTIPLY",    "SPLIT_K_BUF",     "TILEK",       "STAGES",
    "REDUCTION_MODE", "CTA_SPLIT_K_MODE", "SPLIT_K_SLC", "IDX_MODE", "SLICED",
    "SPLIT_RS",     "SINGLEBUFFER", "LDGC",           "SPECFILT",    "KERNEL_CFG",
    "WORKSPACE",    "TILE_CGA",    "TILE_CGA_M",      "TILE_CGA_N",  "BLOCK_SIZE",
    "OCCUPANCY",    "ARRAY_SIZE_PER_THREAD", "NUM_C_PER_BLOCK", "SPLIT_COLS", "TILE_ROWS",
    "TILE_COLS",    "LOAD_SIZE",   "CTA_COUNT",       "STREAM_K",    "SPLIT_P_SLC",
    "TILE_M",       "TILE_N",      "WARP_SPEC_CFG",   "SWAP_AB"};
const char* const kNumericalNoteNames[] = {
    "TENSOR_CORE",   "DOWN_CONVERT_INPUTS", "REDUCED_PRECISION_REDUCTION", "FFT",
    "NONDETERMINISTIC", "WINOGRAD",         "WINOGRAD_TILE_4x4",           "WINOGRAD_TILE_6x6",
    "WINOGRAD_TILE_13x13", "STRICT_NAN_PROP"};
const char* const kBehaviorNoteNames[] = {
    "RUNTIME_COMPILATION", "REQUIRES_FILTER_INT8x32_REORDER", "REQUIRES_BIAS_INT8x32_REORDER",
    "SUPPORTS_CUDA_GRAPH_NATIVE_API", "CUBLASLT_DEPENDENCY"};

template <size_t N>
std::string name_or_number(const char* const (&table)[N], int64_t value, const char* prefix) {
  if (value >= 0 && size_t(value) < N) return table[value];
  return std::string(prefix) + std::to_string(value);
}
}  // namespace

std::string knob_name(int64_t type) { return name_or_number(kKnobNames, type, "KNOB_"); }
std::string numerical_note_name(int note) {
  return name_or_number(kNumericalNoteNames, note, "NUMERICAL_NOTE_");
}
std::string behavior_note_name(int note) {
  return name_or_number(kBehaviorNoteNames, note, "BEHAVIOR_NOTE_");
}

const char* to_string(ConfigSource source) {
  switch (source) {
    case ConfigSource::kModeA: return "mode_a";
    case ConfigSource::kModeB: return "mode_b";
    case ConfigSource::kFallback: return "fallback";
    case ConfigSource::kSweep: return "sweep";
    case ConfigSource::kKnobVariant: return "knob_variant";
  }
  return "?";
}

bool EngineInfo::has_numerical_note(cudnnBackendNumericalNote_t note) const {
  return std::find(numerical_notes.begin(), numerical_notes.end(), int(note)) !=
         numerical_notes.end();
}

bool EngineInfo::has_behavior_note(cudnnBackendBehaviorNote_t note) const {
  return std::find(behavior_notes.begin(), behavior_notes.end(), int(note)) !=
         behavior_notes.end();
}

std::string EngineInfo::label() const {
  return "engine " + std::to_string(engine_id) + " (" + to_string(source) + " #" +
         std::to_string(rank) + ")";
}

std::string EngineInfo::knobs_text() const {
  if (knobs.empty()) return "default";
  std::ostringstream s;
  for (size_t i = 0; i < knobs.size(); ++i)
    s << (i ? " " : "") << knob_name(knobs[i].type) << "=" << knobs[i].value;
  return s.str();
}

std::string EngineInfo::notes_text() const {
  std::ostringstream s;
  s << "numerical:";
  if (numerical_notes.empty()) s << " none";
  for (int n : numerical_notes) s << " " << numerical_note_name(n);
  s << "; behaviour:";
  if (behavior_notes.empty()) s << " none";
  for (int n : behavior_notes) s << " " << behavior_note_name(n);
  return s.str();
}

std::string EngineInfo::key() const {
  std::ostringstream s;
  s << engine_id << ":";
  for (const KnobChoice& k : knobs) s << k.type << "=" << k.value << ",";
  return s.str();
}

bool engine_allowed(const EngineInfo& info, Precision precision, std::string* why) {
  if (info.has_numerical_note(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)) {
    if (why) *why = "down-converts FP32 inputs";
    return false;
  }
  if (precision != Precision::kTF32 && info.has_numerical_note(CUDNN_NUMERICAL_NOTE_TENSOR_CORE)) {
    if (why) *why = "uses tensor cores (TF32), not strict FP32";
    return false;
  }
  if (info.has_numerical_note(CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC)) {
    if (why) *why = "nondeterministic: repeated runs would not be bit-identical";
    return false;
  }
  return true;
}

}  // namespace mbv2::cudnn
