// What an engine configuration is, in report-friendly form: engine id, where it came from,
// knob choices, numerical and behaviour notes; and the strict-FP32 filter over those notes.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/tensor.h"

namespace mbv2::cudnn {

enum class ConfigSource { kModeA, kModeB, kFallback, kSweep, kKnobVariant };
/// "mode_a", "mode_b", "fallback", "sweep", "knob_variant".
const char* to_string(ConfigSource source);

struct KnobChoice {
  int64_t type = 0;  ///< cudnnBackendKnobType_t
  int64_t value = 0;
  bool operator==(const KnobChoice& o) const { return type == o.type && value == o.value; }
};

/// What an engine configuration is, in report-friendly form.
struct EngineInfo {
  int64_t engine_id = -1;
  ConfigSource source = ConfigSource::kModeA;
  int rank = 0;  ///< position in its source's list (0 = the source's first choice)
  std::vector<KnobChoice> knobs;      ///< sorted by type; empty = the engine's defaults
  std::vector<int> numerical_notes;   ///< cudnnBackendNumericalNote_t values
  std::vector<int> behavior_notes;    ///< cudnnBackendBehaviorNote_t values

  bool has_numerical_note(cudnnBackendNumericalNote_t note) const;
  bool has_behavior_note(cudnnBackendBehaviorNote_t note) const;
  /// "engine 7 (mode_a #2)".
  std::string label() const;
  /// "TILE_SIZE=3 STAGES=4" or "default".
  std::string knobs_text() const;
  /// "numerical: FFT; behaviour: RUNTIME_COMPILATION" or "numerical: none; behaviour: none".
  std::string notes_text() const;
  /// Identity for de-duplication: engine id and knob choices.
  std::string key() const;
};

/// Knob and note names ("TILE_SIZE", "TENSOR_CORE", ...); unknown values print as numbers.
std::string knob_name(int64_t type);
std::string numerical_note_name(int note);
std::string behavior_note_name(int note);

/// Strict FP32 rejects engines noted TENSOR_CORE (which includes every TF32 engine) and
/// DOWN_CONVERT_INPUTS; TF32 runs allow tensor cores but still never down-convert to
/// FP16/BF16. NONDETERMINISTIC engines are always rejected: a stream run and a CUDA-graph
/// replay must give bit-identical results. Returns false with the reason in `why`.
bool engine_allowed(const EngineInfo& info, Precision precision, std::string* why);

}  // namespace mbv2::cudnn
