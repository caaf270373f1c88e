// AVX2 + FMA + F16C kernels. A panel row (16 lanes) is two YMM registers;
// each lane accumulates its dot product in dimension order with FMA, so the
// scores equal the AVX-512 kernels' to the bit.
#include <immintrin.h>

#include "kernels.h"

namespace faceindex::search {
namespace {

// Lanes [0, lanes) of a panel exist.
inline unsigned valid_mask(size_t lanes) { return lanes >= 16 ? 0xffffu : (1u << lanes) - 1u; }

inline void emit(const __m256 s[2], float threshold, unsigned valid, int query, size_t row0,
                 CandidateSink sink, void* ctx) {
  const __m256 t = _mm256_set1_ps(threshold);
  unsigned mask = unsigned(_mm256_movemask_ps(_mm256_cmp_ps(s[0], t, _CMP_GE_OQ))) |
                  (unsigned(_mm256_movemask_ps(_mm256_cmp_ps(s[1], t, _CMP_GE_OQ))) << 8);
  mask &= valid;
  if (!mask) return;
  alignas(32) float lanes[16];
  _mm256_store_ps(lanes, s[0]);
  _mm256_store_ps(lanes + 8, s[1]);
  while (mask) {
    const int l = __builtin_ctz(mask);
    mask &= mask - 1;
    sink(ctx, query, row0 + l, lanes[l]);
  }
}

// Loads one panel row (16 lanes of dimension d) as two f32 registers.
struct F32Rows {
  static void load(const uint8_t* panel, int d, __m256 out[2]) {
    const float* x = reinterpret_cast<const float*>(panel) + size_t(d) * 16;
    out[0] = _mm256_loadu_ps(x);
    out[1] = _mm256_loadu_ps(x + 8);
  }
};

struct F16Rows {
  static void load(const uint8_t* panel, int d, __m256 out[2]) {
    const __m128i* x = reinterpret_cast<const __m128i*>(panel + size_t(d) * 32);
    out[0] = _mm256_cvtph_ps(_mm_loadu_si128(x));
    out[1] = _mm256_cvtph_ps(_mm_loadu_si128(x + 1));
  }
};

// NQ queries x NP panels: 2 * NQ * NP accumulators.
template <class Rows, int NQ, int NP>
void float_block(const PanelRange& r, const QueryBlock& q, size_t p0, int j0, CandidateSink sink, void* ctx) {
  __m256 acc[NQ][NP][2];
#pragma GCC unroll 16
  for (int j = 0; j < NQ; ++j)
#pragma GCC unroll 16
    for (int p = 0; p < NP; ++p) acc[j][p][0] = acc[j][p][1] = _mm256_setzero_ps();
  const float* qv[NQ];
  for (int j = 0; j < NQ; ++j) qv[j] = q.q_f32 + size_t(j0 + j) * q.dim;
  const uint8_t* panel[NP];
  for (int p = 0; p < NP; ++p) panel[p] = r.panels + (p0 + p) * r.panel_bytes;
  for (int d = 0; d < q.dim; ++d) {
    __m256 x[NP][2];
#pragma GCC unroll 16
    for (int p = 0; p < NP; ++p) Rows::load(panel[p], d, x[p]);
#pragma GCC unroll 16
    for (int j = 0; j < NQ; ++j) {
      const __m256 qb = _mm256_broadcast_ss(qv[j] + d);
#pragma GCC unroll 16
      for (int p = 0; p < NP; ++p) {
        acc[j][p][0] = _mm256_fmadd_ps(x[p][0], qb, acc[j][p][0]);
        acc[j][p][1] = _mm256_fmadd_ps(x[p][1], qb, acc[j][p][1]);
      }
    }
  }
  const __m256 bias_factor = _mm256_set1_ps(q.bias_factor);
  for (int p = 0; p < NP; ++p) {
    const size_t row0 = (p0 + p) * 16;
    const unsigned valid = valid_mask(r.n_rows - row0);
    const __m256 bias[2] = {_mm256_mul_ps(bias_factor, _mm256_loadu_ps(r.sqnorm + row0)),
                            _mm256_mul_ps(bias_factor, _mm256_loadu_ps(r.sqnorm + row0 + 8))};
    for (int j = 0; j < NQ; ++j) {
      const __m256 s[2] = {_mm256_sub_ps(acc[j][p][0], bias[0]), _mm256_sub_ps(acc[j][p][1], bias[1])};
      emit(s, q.thresholds[j0 + j], valid, j0 + j, r.first_row + row0, sink, ctx);
    }
  }
}

// i8 codes in dimension pairs: a pair row is 16 lanes x 2 bytes.
template <int NQ>
void i8_block(const PanelRange& r, const QueryBlock& q, size_t p0, int j0, CandidateSink sink, void* ctx) {
  const int pairs = (q.dim + 1) / 2;
  __m256i acc[NQ][2];
  for (int j = 0; j < NQ; ++j) acc[j][0] = acc[j][1] = _mm256_setzero_si256();
  const uint32_t* qv[NQ];
  for (int j = 0; j < NQ; ++j) qv[j] = q.q_i16x2 + size_t(j0 + j) * pairs;
  const uint8_t* panel = r.panels + p0 * r.panel_bytes;
  for (int k = 0; k < pairs; ++k) {
    const __m128i* row = reinterpret_cast<const __m128i*>(panel + size_t(k) * 32);
    const __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(row));
    const __m256i x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(row + 1));
#pragma GCC unroll 16
    for (int j = 0; j < NQ; ++j) {
      const __m256i qp = _mm256_set1_epi32(int32_t(qv[j][k]));
      acc[j][0] = _mm256_add_epi32(acc[j][0], _mm256_madd_epi16(x0, qp));
      acc[j][1] = _mm256_add_epi32(acc[j][1], _mm256_madd_epi16(x1, qp));
    }
  }
  const size_t row0 = p0 * 16;
  const unsigned valid = valid_mask(r.n_rows - row0);
  const __m256 bias_factor = _mm256_set1_ps(q.bias_factor);
  const __m256 scale[2] = {_mm256_loadu_ps(r.scale + row0), _mm256_loadu_ps(r.scale + row0 + 8)};
  const __m256 bias[2] = {_mm256_mul_ps(bias_factor, _mm256_loadu_ps(r.sqnorm + row0)),
                          _mm256_mul_ps(bias_factor, _mm256_loadu_ps(r.sqnorm + row0 + 8))};
  for (int j = 0; j < NQ; ++j) {
    const __m256 qs = _mm256_set1_ps(q.q_scale[j0 + j]);
    const __m256 s[2] = {
        _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[j][0]), _mm256_mul_ps(scale[0], qs)), bias[0]),
        _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[j][1]), _mm256_mul_ps(scale[1], qs)), bias[1])};
    emit(s, q.thresholds[j0 + j], valid, j0 + j, r.first_row + row0, sink, ctx);
  }
}

// Query groups of 4, 2, 1 (16 YMM registers: 8 accumulators + 2 rows + 1 query).
template <class Rows>
void scan_float(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  if (q.n == 1) {
    size_t p = 0;
    for (; p + 2 <= r.n_panels; p += 2) float_block<Rows, 1, 2>(r, q, p, 0, sink, ctx);
    for (; p < r.n_panels; ++p) float_block<Rows, 1, 1>(r, q, p, 0, sink, ctx);
    return;
  }
  for (size_t p = 0; p < r.n_panels; ++p) {
    int j = 0;
    for (; j + 4 <= q.n; j += 4) float_block<Rows, 4, 1>(r, q, p, j, sink, ctx);
    for (; j + 2 <= q.n; j += 2) float_block<Rows, 2, 1>(r, q, p, j, sink, ctx);
    for (; j < q.n; ++j) float_block<Rows, 1, 1>(r, q, p, j, sink, ctx);
  }
}

void scan_f32(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_float<F32Rows>(r, q, sink, ctx);
}

void scan_f16(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_float<F16Rows>(r, q, sink, ctx);
}

void scan_i8(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  for (size_t p = 0; p < r.n_panels; ++p) {
    int j = 0;
    for (; j + 4 <= q.n; j += 4) i8_block<4>(r, q, p, j, sink, ctx);
    for (; j < q.n; ++j) i8_block<1>(r, q, p, j, sink, ctx);
  }
}

void f32_to_f16(const float* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) out[i] = uint16_t(_cvtss_sh(in[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

void f16_to_f32(const uint16_t* in, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  for (; i < n; ++i) out[i] = _cvtsh_ss(in[i]);
}

}  // namespace

const Kernels& kernels_avx2() {
  static const Kernels table{"avx2", "avx2+fma+f16c", scan_f32, scan_f16, scan_i8, nullptr, nullptr, nullptr,
                             f32_to_f16, f16_to_f32};
  return table;
}

}  // namespace faceindex::search
