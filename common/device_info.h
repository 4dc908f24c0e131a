// What a benchmark run records about its GPU: static facts (name, compute capability,
// SMs, L2, memory, driver and runtime versions), ceilings measured on the spot
// (device-to-device copy bandwidth, FP32 FMA rate) and SM clocks read through NVML.
//
// NVML is loaded with dlopen at run time, never linked, so a binary that uses this file
// still starts on a machine without a GPU driver (and says "no CUDA device" there).
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "common/report.h"

namespace mbv2 {

/// Name, compute capability, SMs, L2, memory, driver and runtime versions of `device`.
/// Leaves cudnn, clocks and ceilings empty for the caller to fill.
DeviceReport query_device_facts(int device);

/// One reading of the clocks of a device.
struct ClockReading {
  int sm_mhz = 0;      ///< current SM clock (NVML), or the rated clock (fallback)
  int sm_max_mhz = 0;  ///< maximum SM clock
  int mem_mhz = 0;     ///< current memory clock (NVML), or the rated one (fallback)
  unsigned long long event_reasons = 0;  ///< NVML clocks-event (throttle) reason bits
  bool live = false;   ///< true when read from NVML; false: cudaDevAttrClockRate fallback
};

/// Reads the clocks of `device` now: through NVML when libnvidia-ml.so.1 loads, else the
/// rated clocks from cudaDevAttrClockRate / cudaDevAttrMemoryClockRate.
ClockReading read_clocks(int device);

/// Reads the clocks while an FP32 FMA kernel keeps the GPU busy (an idle GPU parks its
/// clocks low, which says nothing about the clocks the benchmarks ran at).
ClockReading read_clocks_under_load(int device, cudaStream_t stream);

/// Before/after/max, and `throttled` when the SM clock fell more than 10% from before to
/// after or NVML reports a hardware, thermal or power-brake slowdown.
Clocks summarize_clocks(const ClockReading& before, const ClockReading& after);

/// Device-to-device cudaMemcpyAsync bandwidth in GB/s (1e9 B/s), counting bytes read plus
/// bytes written; the best of several copies of a buffer far larger than L2.
double measure_copy_bandwidth_gbps(cudaStream_t stream);

/// FP32 FMA throughput in GFLOP/s (2 FLOPs per FMA) from a kernel of many independent FMA
/// chains on every SM; the best of several runs of about 20 ms.
double measure_fp32_gflops(cudaStream_t stream);

/// Both ceilings.
Ceilings measure_ceilings(cudaStream_t stream);

/// The NVIDIA driver version ("580.65.06") from NVML, or "" when NVML is not available.
std::string nvml_driver_version();

/// "0000:1B:00.0", the PCI bus id of CUDA device `device`; "" when the runtime cannot say.
std::string pci_bus_id(int device);

/// Lower-case model slug for file names: "NVIDIA H100 80GB HBM3" -> "h100-80gb-hbm3".
std::string gpu_slug(const std::string& device_name);

}  // namespace mbv2
