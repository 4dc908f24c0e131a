// Device facts, measured ceilings and clocks. Sections: NVML loader (dlopen), static
// facts, clocks, the two ceiling measurements.
#include "common/device_info.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "common/cuda_check.h"
#include "common/device_memory.h"
#include "common/util.h"

#if defined(__has_include)
#if __has_include(<nvml.h>)
#include <nvml.h>
#define MBV2_HAVE_NVML_HEADER 1
#endif
#endif

namespace mbv2 {

// ---------------------------------------------------------------------------------------
// NVML, resolved with dlsym. Only the C ABI of the handful of entry points below is
// assumed; where the toolkit ships nvml.h we check our constants against it.

namespace {

using NvmlReturn = int;  // nvmlReturn_t, 0 = NVML_SUCCESS
struct NvmlDeviceOpaque;
using NvmlDevice = NvmlDeviceOpaque*;  // nvmlDevice_t

constexpr NvmlReturn kNvmlSuccess = 0;
constexpr int kNvmlClockSm = 1;   // NVML_CLOCK_SM
constexpr int kNvmlClockMem = 2;  // NVML_CLOCK_MEM
// Clocks-event ("throttle") reason bits.
constexpr unsigned long long kReasonSwPowerCap = 0x4ull;
constexpr unsigned long long kReasonHwSlowdown = 0x8ull;
constexpr unsigned long long kReasonSwThermal = 0x20ull;
constexpr unsigned long long kReasonHwThermal = 0x40ull;
constexpr unsigned long long kReasonHwPowerBrake = 0x80ull;
constexpr unsigned long long kSlowdownReasons =
    kReasonHwSlowdown | kReasonSwThermal | kReasonHwThermal | kReasonHwPowerBrake;

#if defined(MBV2_HAVE_NVML_HEADER)
static_assert(NVML_SUCCESS == kNvmlSuccess, "NVML ABI mismatch");
static_assert(NVML_CLOCK_SM == kNvmlClockSm && NVML_CLOCK_MEM == kNvmlClockMem, "NVML ABI mismatch");
#endif

class Nvml {
 public:
  static Nvml& instance() {
    static Nvml nvml;
    return nvml;
  }
  bool available() const { return initialized_; }

  /// The NVML handle of CUDA device `device`, matched by PCI bus id (CUDA_VISIBLE_DEVICES
  /// renumbers CUDA devices, NVML does not).
  bool handle_of(int device, NvmlDevice* out) const {
    if (!initialized_ || !get_handle_by_pci_) return false;
    const std::string bus_id = pci_bus_id(device);
    return !bus_id.empty() && get_handle_by_pci_(bus_id.c_str(), out) == kNvmlSuccess;
  }

  bool clock(NvmlDevice d, int type, unsigned int* mhz) const {
    return get_clock_ && get_clock_(d, type, mhz) == kNvmlSuccess;
  }
  bool max_clock(NvmlDevice d, int type, unsigned int* mhz) const {
    return get_max_clock_ && get_max_clock_(d, type, mhz) == kNvmlSuccess;
  }
  bool event_reasons(NvmlDevice d, unsigned long long* bits) const {
    return get_reasons_ && get_reasons_(d, bits) == kNvmlSuccess;
  }
  std::string driver_version() const {
    char buf[96] = {};
    if (!initialized_ || !get_driver_version_ ||
        get_driver_version_(buf, unsigned(sizeof(buf))) != kNvmlSuccess)
      return "";
    return buf;
  }

 private:
  Nvml() {
    lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib_) return;
    auto init = sym<NvmlReturn (*)()>("nvmlInit_v2", "nvmlInit");
    shutdown_ = sym<NvmlReturn (*)()>("nvmlShutdown");
    get_handle_by_pci_ = sym<NvmlReturn (*)(const char*, NvmlDevice*)>(
        "nvmlDeviceGetHandleByPciBusId_v2", "nvmlDeviceGetHandleByPciBusId");
    get_clock_ = sym<NvmlReturn (*)(NvmlDevice, int, unsigned int*)>("nvmlDeviceGetClockInfo");
    get_max_clock_ = sym<NvmlReturn (*)(NvmlDevice, int, unsigned int*)>("nvmlDeviceGetMaxClockInfo");
    // Renamed in newer drivers; the bits are the same.
    get_reasons_ = sym<NvmlReturn (*)(NvmlDevice, unsigned long long*)>(
        "nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons");
    get_driver_version_ = sym<NvmlReturn (*)(char*, unsigned int)>("nvmlSystemGetDriverVersion");
    initialized_ = init && init() == kNvmlSuccess;
  }
  ~Nvml() {
    if (initialized_ && shutdown_) shutdown_();
    // The library stays mapped: unloading at exit buys nothing and races other destructors.
  }
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  template <typename Fn>
  Fn sym(const char* name, const char* fallback = nullptr) {
    void* p = dlsym(lib_, name);
    if (!p && fallback) p = dlsym(lib_, fallback);
    return reinterpret_cast<Fn>(p);
  }

  void* lib_ = nullptr;
  bool initialized_ = false;
  NvmlReturn (*shutdown_)() = nullptr;
  NvmlReturn (*get_handle_by_pci_)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*get_clock_)(NvmlDevice, int, unsigned int*) = nullptr;
  NvmlReturn (*get_max_clock_)(NvmlDevice, int, unsigned int*) = nullptr;
  NvmlReturn (*get_reasons_)(NvmlDevice, unsigned long long*) = nullptr;
  NvmlReturn (*get_driver_version_)(char*, unsigned int) = nullptr;
};

std::string version_string(int v) {
  // CUDA encodes versions as 1000 * major + 10 * minor.
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

int attribute(cudaDeviceAttr attr, int device) {
  int value = 0;
  MBV2_CUDA_CHECK(cudaDeviceGetAttribute(&value, attr, device));
  return value;
}

}  // namespace

std::string nvml_driver_version() { return Nvml::instance().driver_version(); }

std::string pci_bus_id(int device) {
  char id[64] = {};
  if (cudaDeviceGetPCIBusId(id, int(sizeof(id)), device) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return id;
}

// ---------------------------------------------------------------------------------------
// Static facts.

DeviceReport query_device_facts(int device) {
  DeviceReport d;
  cudaDeviceProp prop{};
  MBV2_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  d.name = prop.name;
  d.compute_capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  d.sm_count = prop.multiProcessorCount;
  d.l2_bytes = prop.l2CacheSize;
  d.memory_bytes = int64_t(prop.totalGlobalMem);
  int driver = 0, runtime = 0;
  MBV2_CUDA_CHECK(cudaDriverGetVersion(&driver));
  MBV2_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  d.driver = version_string(driver);
  const std::string nvidia_driver = nvml_driver_version();
  if (!nvidia_driver.empty()) d.driver += " (driver " + nvidia_driver + ")";
  d.cuda_runtime = version_string(runtime);
  return d;
}

std::string gpu_slug(const std::string& device_name) {
  std::string slug;
  for (char ch : device_name) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) slug += char(std::tolower(c));
    else if (!slug.empty() && slug.back() != '-') slug += '-';
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  const std::string vendor = "nvidia-";
  if (slug.rfind(vendor, 0) == 0 && slug.size() > vendor.size()) slug = slug.substr(vendor.size());
  return slug.empty() ? "unknown-gpu" : slug;
}

// ---------------------------------------------------------------------------------------
// FP32 FMA kernel: the ceiling measurement and the load under which clocks are read.

namespace {

constexpr int kFmaChains = 8;   // independent chains per thread: hides the FMA latency
constexpr int kFmaUnroll = 16;  // FMAs per chain per loop trip: hides the loop overhead
constexpr int kFmaThreads = 256;

__global__ void fma_rate_kernel(float* sink, int trips, float mul, float add) {
  float a[kFmaChains];
#pragma unroll
  for (int c = 0; c < kFmaChains; ++c) a[c] = float(threadIdx.x) * 1e-3f + float(c);
  for (int t = 0; t < trips; ++t) {
#pragma unroll
    for (int u = 0; u < kFmaUnroll; ++u) {
#pragma unroll
      for (int c = 0; c < kFmaChains; ++c) a[c] = fmaf(a[c], mul, add);
    }
  }
  float s = 0.0f;
#pragma unroll
  for (int c = 0; c < kFmaChains; ++c) s += a[c];
  // Never true for the arguments we pass (the chains converge to 1), but the compiler
  // cannot know, so every FMA above stays.
  if (s == -1.0f) sink[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

struct FmaLaunch {
  int blocks = 0;
  DeviceBuffer<float> sink;
};

FmaLaunch make_fma_launch() {
  int device = 0;
  MBV2_CUDA_CHECK(cudaGetDevice(&device));
  int per_sm = 0;
  MBV2_CUDA_CHECK(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fma_rate_kernel, kFmaThreads, 0));
  FmaLaunch f;
  f.blocks = std::max(1, per_sm) * attribute(cudaDevAttrMultiProcessorCount, device);
  f.sink.allocate(size_t(f.blocks) * kFmaThreads);
  return f;
}

void launch_fma(const FmaLaunch& f, int trips, cudaStream_t stream) {
  fma_rate_kernel<<<f.blocks, kFmaThreads, 0, stream>>>(f.sink.get(), trips, 0.9999f, 1e-4f);
  MBV2_CUDA_CHECK_LAST();
}

double fma_flops(const FmaLaunch& f, int trips) {
  return 2.0 * kFmaChains * kFmaUnroll * double(trips) * double(f.blocks) * kFmaThreads;
}

/// Seconds of one launch of `trips` loop trips.
double time_fma(const FmaLaunch& f, int trips, cudaStream_t stream) {
  CudaEvent start, stop;
  start.record(stream);
  launch_fma(f, trips, stream);
  stop.record(stream);
  stop.synchronize();
  return double(stop.elapsed_ms_since(start)) * 1e-3;
}

/// Trips for a launch of about `target_s`, from a short calibration launch.
int fma_trips_for(const FmaLaunch& f, double target_s, cudaStream_t stream) {
  const int probe = 256;
  launch_fma(f, probe, stream);  // first launch pays module loading
  const double t = std::max(time_fma(f, probe, stream), 1e-6);
  const double trips = double(probe) * target_s / t;
  return int(std::min(std::max(trips, double(probe)), 1e8));
}

}  // namespace

double measure_fp32_gflops(cudaStream_t stream) {
  const FmaLaunch f = make_fma_launch();
  const int trips = fma_trips_for(f, 0.02, stream);
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const double s = time_fma(f, trips, stream);
    if (s > 0.0) best = std::max(best, fma_flops(f, trips) / s * 1e-9);
  }
  return best;
}

double measure_copy_bandwidth_gbps(cudaStream_t stream) {
  size_t free_bytes = 0, total_bytes = 0;
  MBV2_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  const size_t mib = size_t(1) << 20;
  // Large against any L2 (50 MiB on H100) so the copy streams through DRAM, small against
  // what is free.
  size_t bytes = std::min<size_t>(512 * mib, free_bytes / 4) / mib * mib;
  if (bytes < 16 * mib) bytes = std::max<size_t>(mib, free_bytes / 4 / mib * mib);
  DeviceBuffer<unsigned char> src(bytes), dst(bytes);
  MBV2_CUDA_CHECK(cudaMemsetAsync(src.get(), 1, bytes, stream));
  MBV2_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream));
  CudaEvent start, stop;
  double best = 0.0;
  for (int rep = 0; rep < 9; ++rep) {
    start.record(stream);
    MBV2_CUDA_CHECK(
        cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream));
    stop.record(stream);
    stop.synchronize();
    const double s = double(stop.elapsed_ms_since(start)) * 1e-3;
    if (s > 0.0) best = std::max(best, 2.0 * double(bytes) / s * 1e-9);
  }
  return best;
}

Ceilings measure_ceilings(cudaStream_t stream) {
  Ceilings c;
  c.bandwidth_gbps = measure_copy_bandwidth_gbps(stream);
  c.fp32_gflops = measure_fp32_gflops(stream);
  return c;
}

// ---------------------------------------------------------------------------------------
// Clocks.

ClockReading read_clocks(int device) {
  ClockReading r;
  const Nvml& nvml = Nvml::instance();
  NvmlDevice handle = nullptr;
  if (nvml.handle_of(device, &handle)) {
    unsigned int sm = 0, sm_max = 0, mem = 0;
    if (nvml.clock(handle, kNvmlClockSm, &sm)) {
      r.live = true;
      r.sm_mhz = int(sm);
      if (nvml.max_clock(handle, kNvmlClockSm, &sm_max)) r.sm_max_mhz = int(sm_max);
      if (nvml.clock(handle, kNvmlClockMem, &mem)) r.mem_mhz = int(mem);
      unsigned long long bits = 0;
      if (nvml.event_reasons(handle, &bits)) r.event_reasons = bits;
    }
  }
  // Without NVML: the rated clocks (kHz). They cannot show throttling, only what to expect.
  const int rated_sm = attribute(cudaDevAttrClockRate, device) / 1000;
  if (!r.live) r.sm_mhz = rated_sm;
  if (r.sm_max_mhz == 0) r.sm_max_mhz = rated_sm;
  if (r.mem_mhz == 0) r.mem_mhz = attribute(cudaDevAttrMemoryClockRate, device) / 1000;
  return r;
}

ClockReading read_clocks_under_load(int device, cudaStream_t stream) {
  if (!Nvml::instance().available()) return read_clocks(device);
  const FmaLaunch f = make_fma_launch();
  const int trips = fma_trips_for(f, 0.15, stream);
  launch_fma(f, trips, stream);
  // Read in the middle of the ~150 ms kernel, once the clocks have settled.
  std::this_thread::sleep_for(std::chrono::milliseconds(75));
  const ClockReading r = read_clocks(device);
  MBV2_CUDA_CHECK(cudaStreamSynchronize(stream));
  return r;
}

namespace {
std::string reason_names(unsigned long long bits) {
  std::string s;
  auto add = [&s](const char* name) { s += (s.empty() ? "" : ", ") + std::string(name); };
  if (bits & kReasonSwPowerCap) add("power cap");
  if (bits & kReasonHwSlowdown) add("hw slowdown");
  if (bits & kReasonSwThermal) add("sw thermal");
  if (bits & kReasonHwThermal) add("hw thermal");
  if (bits & kReasonHwPowerBrake) add("power brake");
  return s;
}
}  // namespace

Clocks summarize_clocks(const ClockReading& before, const ClockReading& after) {
  Clocks c;
  c.sm_mhz_before = before.sm_mhz;
  c.sm_mhz_after = after.sm_mhz;
  c.sm_mhz_max = std::max(before.sm_max_mhz, after.sm_max_mhz);
  c.mem_mhz = after.mem_mhz ? after.mem_mhz : before.mem_mhz;
  if (!before.live || !after.live) {
    c.throttle_note = "SM clocks are the rated clock (cudaDevAttrClockRate): NVML unavailable, "
                      "throttling not detectable";
    return c;
  }
  const bool dropped = after.sm_mhz < 0.9 * before.sm_mhz;
  const unsigned long long slow = (before.event_reasons | after.event_reasons) & kSlowdownReasons;
  c.throttled = dropped || slow != 0;
  c.throttle_note = "sm " + std::to_string(before.sm_mhz) + " -> " + std::to_string(after.sm_mhz) +
                    " MHz under load (max " + std::to_string(c.sm_mhz_max) + ")";
  const std::string reasons = reason_names(before.event_reasons | after.event_reasons);
  if (!reasons.empty()) c.throttle_note += "; clock limits seen: " + reasons;
  return c;
}

}  // namespace mbv2
