// The CUDA devices visible at run time (only in a CUDA build).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace faceindex::cuda {

struct Device {
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  size_t memory_bytes = 0;
};

// Empty when no driver or no GPU is present; `why_none` then says which.
std::vector<Device> visible_devices(std::string* why_none);

}  // namespace faceindex::cuda
