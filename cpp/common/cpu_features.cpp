#include "faceindex/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <cstdint>

namespace faceindex {
namespace {

#if defined(__x86_64__) || defined(__i386__)
bool cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
  return __get_cpuid_count(leaf, subleaf, &regs[0], &regs[1], &regs[2], &regs[3]) != 0;
}

// XGETBV without -mxsave on the baseline build.
uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned r1[4] = {0, 0, 0, 0};
  unsigned r7[4] = {0, 0, 0, 0};
  unsigned r7_1[4] = {0, 0, 0, 0};
  if (!cpuid(1, 0, r1)) return f;
  const bool osxsave = (r1[2] >> 27) & 1;
  if (!osxsave) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;            // SSE + AVX state
  const bool zmm_state = ymm_state && (xcr0 & 0xe0) == 0xe0;  // opmask + ZMM hi
  const bool fma = (r1[2] >> 12) & 1;
  const bool f16c = (r1[2] >> 29) & 1;
  const bool avx = (r1[2] >> 28) & 1;
  if (!cpuid(7, 0, r7)) return f;
  cpuid(7, 1, r7_1);
  const unsigned ebx = r7[1], ecx = r7[2], edx = r7[3];
  const bool avx2 = (ebx >> 5) & 1;
  f.avx2 = ymm_state && avx && avx2 && fma && f16c;
  const bool avx512f = (ebx >> 16) & 1, avx512dq = (ebx >> 17) & 1;
  const bool avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;
  f.avx512 = f.avx2 && zmm_state && avx512f && avx512dq && avx512bw && avx512vl;
  f.avx512_vnni = f.avx512 && ((ecx >> 11) & 1);
  f.avx512_bf16 = f.avx512 && ((r7_1[0] >> 5) & 1);
  f.avx512_fp16 = f.avx512 && ((edx >> 23) & 1);
  return f;
}
#else
CpuFeatures detect() { return CpuFeatures{}; }
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace faceindex
