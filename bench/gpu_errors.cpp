#include "bench/gpu_errors.h"

#include <cuda_runtime_api.h>

#include <new>

#include "common/cuda_check.h"

namespace mbv2 {

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e)) return true;
  if (const auto* cuda = dynamic_cast<const CudaError*>(&e))
    return cuda->code() == cudaErrorMemoryAllocation;
  const std::string what = e.what();
  return what.find("cudaErrorMemoryAllocation") != std::string::npos ||
         what.find("ALLOC_FAILED") != std::string::npos ||
         what.find("out of memory") != std::string::npos;
}

bool cuda_context_broken(std::string* why) {
  cudaError_t err = cudaDeviceSynchronize();
  if (err == cudaSuccess) err = cudaGetLastError();
  if (err == cudaSuccess) return false;
  cudaGetLastError();  // a non-sticky error clears here ...
  const cudaError_t again = cudaDeviceSynchronize();  // ... a sticky one comes back
  if (again == cudaSuccess) return false;
  if (why) *why = std::string(cudaGetErrorName(again)) + " (" + cudaGetErrorString(again) + ")";
  return true;
}

std::string one_line(const std::string& text) {
  std::string out;
  for (char c : text) {
    const char d = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    if (d == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += d;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace mbv2
