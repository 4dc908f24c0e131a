// Which CPU the timing thread is pinned to. The host's enqueue time (host_timing) depends
// on the CPU, and so did the end-to-end stream rows while they were sampled unblocked:
// taking whatever CPU the thread happened to be on made two runs of the same code time on
// different CPUs (CPU 2 in one H200 run, CPU 15 in the next, whose batch-1 cudnn-nchw
// stream rows differed by 12.9%). The choice is now a function of the machine only: the
// highest-numbered CPU the process may use among the GPU's NUMA-local CPUs (low-numbered
// CPUs take most housekeeping interrupts).
#pragma once

#include <string>
#include <vector>

namespace mbv2 {

/// Linux cpulist syntax, "0-3,8,10-11" -> {0, 1, 2, 3, 8, 10, 11} (sorted, unique);
/// malformed parts are skipped.
std::vector<int> parse_cpu_list(const std::string& text);

/// The highest CPU of `allowed` that is also in `gpu_local`, else the highest of `allowed`;
/// -1 when `allowed` is empty.
int choose_timing_cpu(const std::vector<int>& allowed, const std::vector<int>& gpu_local);

/// Pins the calling thread to choose_timing_cpu(its current affinity, the local_cpulist of
/// the PCI device `pci_bus_id` in sysfs, e.g. "0000:1B:00.0"). Returns the CPU, or -1 where
/// that is not possible (then the thread stays as it was).
int pin_thread_near_gpu(const std::string& pci_bus_id);

}  // namespace mbv2
