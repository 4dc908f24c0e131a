// Telling apart the failures the harness treats differently: out of memory (the batch
// does not fit: exit 2), a broken CUDA context (nothing can run any more: stop), and the
// rest (this result did not run: note it and go on).
#pragma once

#include <exception>
#include <stdexcept>
#include <string>

namespace mbv2 {

/// The CUDA context is lost (a sticky error): nothing more can run in this process.
class FatalRunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Whether an exception says an allocation failed (cudaErrorMemoryAllocation, cuDNN
/// ALLOC_FAILED, std::bad_alloc on the host).
bool is_out_of_memory(const std::exception& e);

/// Whether the CUDA context is unusable (a sticky error such as an illegal address).
/// Clears a non-sticky pending error as a side effect.
bool cuda_context_broken(std::string* why = nullptr);

/// One line: newlines and tabs turned into spaces, runs of spaces collapsed.
std::string one_line(const std::string& text);

}  // namespace mbv2
