#include "kernel_dispatch.h"

#include <atomic>
#include <cstdlib>

#include "faceindex/cpu_features.h"
#include "faceindex/errors.h"

namespace faceindex::search {
namespace {

const Kernels& avx512_table() {
  static const Kernels table = kernels_avx512(cpu_features().avx512_vnni, cpu_features().avx512_bf16);
  return table;
}

const Kernels* best_table() {
  const CpuFeatures& cpu = cpu_features();
  if (cpu.avx512) return &avx512_table();
  if (cpu.avx2) return &kernels_avx2();
  return &kernels_scalar();
}

const Kernels* table_for(const std::string& level) {
  const CpuFeatures& cpu = cpu_features();
  if (level == "auto" || level.empty()) return best_table();
  if (level == "scalar") return &kernels_scalar();
  if (level == "avx2") {
    if (!cpu.avx2) throw InvalidArgument("SIMD level avx2 needs AVX2, FMA and F16C, which this CPU lacks");
    return &kernels_avx2();
  }
  if (level == "avx512") {
    if (!cpu.avx512) throw InvalidArgument("SIMD level avx512 needs AVX-512 F/BW/DQ/VL, which this CPU lacks");
    return &avx512_table();
  }
  throw InvalidArgument("unknown SIMD level '" + level + "': use auto, scalar, avx2 or avx512");
}

std::atomic<const Kernels*> g_active{nullptr};

}  // namespace

const Kernels& active_kernels() {
  const Kernels* k = g_active.load(std::memory_order_acquire);
  if (!k) {
    const char* env = std::getenv("FACEINDEX_SIMD");
    try {
      k = table_for(env ? env : "auto");
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(std::string("FACEINDEX_SIMD: ") + e.what());
    }
    g_active.store(k, std::memory_order_release);
  }
  return *k;
}

void set_simd_level(const std::string& level) { g_active.store(table_for(level), std::memory_order_release); }

std::string supported_simd_levels() {
  std::string s = "scalar";
  if (cpu_features().avx2) s += ",avx2";
  if (cpu_features().avx512) s += ",avx512";
  return s;
}

// bf16 screens: a pair row and a norm per panel; the i8 screen: a quad row and
// two sums per panel. Either fits.
size_t screen_scratch_bytes(int dim) {
  const size_t bf16 = size_t((dim + 1) / 2) * 64 + 64;
  const size_t i8 = size_t((dim + 3) / 4) * 64 + 128;
  return bf16 > i8 ? bf16 : i8;
}

}  // namespace faceindex::search
