// AVX2 + FMA + F16C kernels: the policies for the register-blocked skeleton
// and the table. A panel row (16 lanes) is two YMM registers; each lane
// accumulates its dot product in dimension order with FMA, so the scores
// equal the AVX-512 kernels' to the bit.
#include <immintrin.h>

#include "block_tiling.h"
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

// A panel row, 16 lanes in two YMM registers: f32, or int32 (i8 products).
// (Two structs: a vector type as a template argument loses its attributes.)
struct F32x16 {
  __m256 lo, hi;
};

struct I32x16 {
  __m256i lo, hi;
};

struct F32Rows {
  static F32x16 load(const uint8_t* panel, int d) {
    const float* x = reinterpret_cast<const float*>(panel) + size_t(d) * 16;
    return {_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8)};
  }
};

struct F16Rows {
  static F32x16 load(const uint8_t* panel, int d) {
    const __m128i* x = reinterpret_cast<const __m128i*>(panel + size_t(d) * 32);
    return {_mm256_cvtph_ps(_mm_loadu_si128(x)), _mm256_cvtph_ps(_mm_loadu_si128(x + 1))};
  }
};

// f32 (or f16 widened) rows, one dimension a step, FMA.
template <class Rows>
struct FloatStep {
  const PanelRange& r;
  const QueryBlock& q;

  int steps() const { return q.dim; }
  const uint8_t* panel(size_t p) const { return r.panels + p * r.panel_bytes; }
  const float* query(int j) const { return q.q_f32 + size_t(j) * q.dim; }
  static F32x16 zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static F32x16 load(const uint8_t* panel, int d) { return Rows::load(panel, d); }
  static __m256 broadcast(const float* qv, int d) { return _mm256_broadcast_ss(qv + d); }
  static F32x16 madd(F32x16 acc, F32x16 x, __m256 qb) {
    return {_mm256_fmadd_ps(x.lo, qb, acc.lo), _mm256_fmadd_ps(x.hi, qb, acc.hi)};
  }
};

// i8 codes in dimension pairs (a pair row: 16 lanes x 2 bytes), widened to
// int16; vpmaddwd adds each pair's two products.
struct I8PairStep {
  const PanelRange& r;
  const QueryBlock& q;
  int pairs;

  I8PairStep(const PanelRange& r, const QueryBlock& q) : r(r), q(q), pairs((q.dim + 1) / 2) {}
  int steps() const { return pairs; }
  const uint8_t* panel(size_t p) const { return r.panels + p * r.panel_bytes; }
  const uint32_t* query(int j) const { return q.q_i16x2 + size_t(j) * pairs; }
  static I32x16 zero() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
  static I32x16 load(const uint8_t* panel, int k) {
    const __m128i* row = reinterpret_cast<const __m128i*>(panel + size_t(k) * 32);
    return {_mm256_cvtepi8_epi16(_mm_loadu_si128(row)), _mm256_cvtepi8_epi16(_mm_loadu_si128(row + 1))};
  }
  static __m256i broadcast(const uint32_t* qv, int k) { return _mm256_set1_epi32(int32_t(qv[k])); }
  static I32x16 madd(I32x16 acc, I32x16 x, __m256i qp) {
    return {_mm256_add_epi32(acc.lo, _mm256_madd_epi16(x.lo, qp)),
            _mm256_add_epi32(acc.hi, _mm256_madd_epi16(x.hi, qp))};
  }
};

// Exact f32 scores: the dot product less the l2 bias, reported where it
// reaches the query's threshold.
struct ExactFloat {
  const PanelRange& r;
  const QueryBlock& q;
  CandidateSink sink;
  void* ctx;

  struct Panel {
    size_t row0;
    unsigned valid;
    __m256 bias[2];
  };
  Panel panel(size_t index) const {
    const size_t row0 = index * 16;
    const __m256 bias_factor = _mm256_set1_ps(q.bias_factor);
    return {row0, valid_mask(r.n_rows - row0),
            {_mm256_mul_ps(bias_factor, _mm256_loadu_ps(r.sqnorm + row0)),
             _mm256_mul_ps(bias_factor, _mm256_loadu_ps(r.sqnorm + row0 + 8))}};
  }
  void operator()(const Panel& s, const F32x16& acc, int query) const {
    const __m256 score[2] = {_mm256_sub_ps(acc.lo, s.bias[0]), _mm256_sub_ps(acc.hi, s.bias[1])};
    emit(score, q.thresholds[query], s.valid, query, r.first_row + s.row0, sink, ctx);
  }
};

// Exact i8 scores: the integer dot product times both code scales, less the bias.
struct ExactI8 {
  const PanelRange& r;
  const QueryBlock& q;
  CandidateSink sink;
  void* ctx;

  struct Panel {
    size_t row0;
    unsigned valid;
    __m256 scale[2], bias[2];
  };
  Panel panel(size_t index) const {
    const size_t row0 = index * 16;
    const __m256 bias_factor = _mm256_set1_ps(q.bias_factor);
    return {row0,
            valid_mask(r.n_rows - row0),
            {_mm256_loadu_ps(r.scale + row0), _mm256_loadu_ps(r.scale + row0 + 8)},
            {_mm256_mul_ps(bias_factor, _mm256_loadu_ps(r.sqnorm + row0)),
             _mm256_mul_ps(bias_factor, _mm256_loadu_ps(r.sqnorm + row0 + 8))}};
  }
  void operator()(const Panel& s, const I32x16& acc, int query) const {
    const __m256 qs = _mm256_set1_ps(q.q_scale[query]);
    const __m256 score[2] = {
        _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc.lo), _mm256_mul_ps(s.scale[0], qs)), s.bias[0]),
        _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc.hi), _mm256_mul_ps(s.scale[1], qs)), s.bias[1])};
    emit(score, q.thresholds[query], s.valid, query, r.first_row + s.row0, sink, ctx);
  }
};

// Block shapes for 16 YMM registers: up to 8 accumulators + 2 rows + 1 query.
template <class Rows>
void scan_float(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  const FloatStep<Rows> step{r, q};
  const ExactFloat exact{r, q, sink, ctx};
  if (q.n == 1) tile_blocks<Tiles<2, 1>, Tiles<1, 1>>(step, exact, r.n_panels, q.n);
  else tile_blocks<Tiles<1, 4, 2, 1>>(step, exact, r.n_panels, q.n);
}

void scan_f32(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_float<F32Rows>(r, q, sink, ctx);
}

void scan_f16(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_float<F16Rows>(r, q, sink, ctx);
}

void scan_i8(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  tile_blocks<Tiles<1, 4, 1>>(I8PairStep(r, q), ExactI8{r, q, sink, ctx}, r.n_panels, q.n);
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
