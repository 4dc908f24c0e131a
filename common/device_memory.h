// RAII owners for device resources: buffers, streams, events, CUDA graphs.
// Copying is deleted; moving transfers ownership.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common/cuda_check.h"

namespace mbv2 {

/// Typed device allocation. Allocation failure throws CudaError (cudaErrorMemoryAllocation).
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count) { allocate(count); }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)),
                                           count_(std::exchange(o.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }

  void allocate(size_t count) {
    reset();
    if (count == 0) return;
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, count * sizeof(T));
    if (err != cudaSuccess) {
      cudaGetLastError();  // an allocation failure must not surface later at a launch check
      detail::throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
    }
    ptr_ = static_cast<T*>(p);
    count_ = count;
  }
  void reset() {
    if (ptr_) MBV2_CUDA_CHECK_NOTHROW(cudaFree(ptr_));
    ptr_ = nullptr;
    count_ = 0;
  }

  T* get() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  bool empty() const { return count_ == 0; }

  /// Complete on return, for every stream: cudaMemcpy from pageable memory may return
  /// before its DMA reaches the device, and kernels on a cudaStreamNonBlocking stream do not
  /// wait for the legacy stream, so without the synchronize they can read a half-copied
  /// buffer (seen on the H200: the first cuDNN forward() after an upload differed).
  void upload(const T* host, size_t count) {
    if (count > count_) throw std::out_of_range("DeviceBuffer::upload: too many elements");
    MBV2_CUDA_CHECK(cudaMemcpy(ptr_, host, count * sizeof(T), cudaMemcpyHostToDevice));
    MBV2_CUDA_CHECK(cudaDeviceSynchronize());
  }
  void upload(const std::vector<T>& host) { upload(host.data(), host.size()); }
  /// Waits for all device work first: the legacy-stream copy would not wait for kernels
  /// still writing the buffer on a non-blocking stream.
  std::vector<T> download() const {
    std::vector<T> host(count_);
    if (count_) download(host.data(), count_);
    return host;
  }
  void download(T* host, size_t count) const {
    if (count > count_) throw std::out_of_range("DeviceBuffer::download: too many elements");
    MBV2_CUDA_CHECK(cudaDeviceSynchronize());
    MBV2_CUDA_CHECK(cudaMemcpy(host, ptr_, count * sizeof(T), cudaMemcpyDeviceToHost));
  }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

class CudaStream {
 public:
  CudaStream() { MBV2_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~CudaStream() {
    if (s_) MBV2_CUDA_CHECK_NOTHROW(cudaStreamDestroy(s_));
  }
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  cudaStream_t get() const { return s_; }
  void synchronize() const { MBV2_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class CudaEvent {
 public:
  CudaEvent() { MBV2_CUDA_CHECK(cudaEventCreate(&e_)); }
  ~CudaEvent() {
    if (e_) MBV2_CUDA_CHECK_NOTHROW(cudaEventDestroy(e_));
  }
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  cudaEvent_t get() const { return e_; }
  void record(cudaStream_t s) { MBV2_CUDA_CHECK(cudaEventRecord(e_, s)); }
  void synchronize() const { MBV2_CUDA_CHECK(cudaEventSynchronize(e_)); }
  /// Milliseconds between `start` and this event (both recorded and complete).
  float elapsed_ms_since(const CudaEvent& start) const {
    float ms = 0.0f;
    MBV2_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
    return ms;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

/// An instantiated CUDA graph captured from a stream.
class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph() { reset(); }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  /// Captures whatever `record(stream)` enqueues on `stream`, then instantiates it.
  template <typename F>
  void capture(cudaStream_t stream, F&& record) {
    reset();
    MBV2_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      record(stream);
    } catch (...) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(stream, &broken);
      if (broken) cudaGraphDestroy(broken);
      cudaGetLastError();
      throw;
    }
    MBV2_CUDA_CHECK(cudaStreamEndCapture(stream, &graph_));
    MBV2_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  }
  void launch(cudaStream_t stream) const { MBV2_CUDA_CHECK(cudaGraphLaunch(exec_, stream)); }
  bool ready() const { return exec_ != nullptr; }
  void reset() {
    if (exec_) MBV2_CUDA_CHECK_NOTHROW(cudaGraphExecDestroy(exec_));
    if (graph_) MBV2_CUDA_CHECK_NOTHROW(cudaGraphDestroy(graph_));
    exec_ = nullptr;
    graph_ = nullptr;
  }

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

/// Whether a usable CUDA device is present; `reason` says why not.
bool cuda_device_available(std::string* reason = nullptr);

/// Fills `count` floats at `ptr` with quiet NaN (poisoning before verification).
void fill_nan(float* ptr, size_t count, cudaStream_t stream);

}  // namespace mbv2
