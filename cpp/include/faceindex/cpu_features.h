// What the running CPU (and the OS, for the wide register state) supports.
#pragma once

namespace faceindex {

struct CpuFeatures {
  bool avx2 = false;        // AVX2 + FMA + F16C, with OS support for YMM state
  bool avx512 = false;      // AVX-512 F/BW/DQ/VL, with OS support for ZMM state
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
  bool avx512_fp16 = false;
};

// Read once (CPUID + XGETBV), then cached.
const CpuFeatures& cpu_features();

}  // namespace faceindex
