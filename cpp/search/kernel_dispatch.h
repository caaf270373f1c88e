// Which kernel table runs: chosen once from CPUID (or FACEINDEX_SIMD), and
// switchable at run time for tests and benchmarks.
#pragma once

#include <string>

#include "kernels.h"

namespace faceindex::search {

// The table in use. Reads FACEINDEX_SIMD on first use.
const Kernels& active_kernels();

// "auto", "scalar", "avx2" or "avx512". Throws InvalidArgument for an unknown
// level or one this CPU cannot run.
void set_simd_level(const std::string& level);

// The levels this CPU can run, lowest first.
std::string supported_simd_levels();

}  // namespace faceindex::search
