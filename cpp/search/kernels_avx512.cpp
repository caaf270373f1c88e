// AVX-512 (F/BW/DQ/VL) kernels; the table also takes the VNNI and BF16
// pieces, compiled in their own files, where the CPU has them.
#include "avx512_policies.h"

namespace faceindex::search {
namespace {

// vpmaddwd + vpaddd: the i8 dot step without VNNI.
struct MaddDot {
  static __m512i add(__m512i acc, __m512i x, __m512i q) { return _mm512_add_epi32(acc, _mm512_madd_epi16(x, q)); }
};

void scan_f32(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_float<F32Rows>(r, q, sink, ctx);
}

void scan_f16(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_float<F16Rows>(r, q, sink, ctx);
}

void scan_i8(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_i8_with<MaddDot>(r, q, sink, ctx);
}

void f32_to_f16(const float* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) out[i] = uint16_t(_cvtss_sh(in[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void f16_to_f32(const uint16_t* in, float* out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
  for (; i < n; ++i) out[i] = _cvtsh_ss(in[i]);
}

}  // namespace

Kernels kernels_avx512(bool vnni, bool bf16) {
  Kernels table{"avx512", "avx512", scan_f32, scan_f16, scan_i8, nullptr, nullptr, nullptr, f32_to_f16, f16_to_f32};
  if (vnni) {
    table.scan_i8 = scan_i8_avx512vnni;
    table.screen_i8 = screen_i8_avx512vnni;
  }
  if (bf16) {
    table.screen_f32 = screen_f32_avx512bf16;
    table.screen_f16 = screen_f16_avx512bf16;
  }
  table.features = vnni && bf16 ? "avx512+vnni+bf16" : vnni ? "avx512+vnni" : bf16 ? "avx512+bf16" : "avx512";
  return table;
}

}  // namespace faceindex::search
