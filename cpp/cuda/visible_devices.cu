// Host-side device query; cudart is linked statically, so on a machine with
// no driver this reports why instead of failing to load.
#include <cuda_runtime.h>

#include "faceindex/cuda_devices.h"

namespace faceindex::cuda {

std::vector<Device> visible_devices(std::string* why_none) {
  std::vector<Device> devices;
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why_none) *why_none = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error
    return devices;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    devices.push_back(Device{prop.name, prop.major, prop.minor, prop.totalGlobalMem});
  }
  if (devices.empty() && why_none) *why_none = "no CUDA device present";
  return devices;
}

}  // namespace faceindex::cuda
