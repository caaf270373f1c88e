// AVX-512 policies for the register-blocked skeleton, and the block shapes of
// the AVX-512 scans; shared by the AVX-512 files (base, VNNI, BF16).
// Everything here has internal linkage: each file compiled with its own
// flags gets its own copy.
#pragma once

#include <immintrin.h>

#include "block_tiling.h"
#include "kernels.h"

namespace faceindex::search {
namespace {

inline __mmask16 valid_lanes(size_t lanes) {
  return lanes >= 16 ? __mmask16(0xffff) : __mmask16((1u << lanes) - 1u);
}

inline void emit(__m512 s, float threshold, __mmask16 valid, int query, size_t row0, CandidateSink sink,
                 void* ctx) {
  unsigned mask = _mm512_mask_cmp_ps_mask(valid, s, _mm512_set1_ps(threshold), _CMP_GE_OQ);
  if (!mask) return;
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  while (mask) {
    const int l = __builtin_ctz(mask);
    mask &= mask - 1;
    sink(ctx, query, row0 + l, lanes[l]);
  }
}

// Interleaves two 16-lane rows of 16-bit units held in one register (row a in
// the low half, row b in the high half): lane l becomes (a[l], b[l]).
inline __m512i interleave_row_pairs_index() {
  alignas(64) static const uint16_t idx[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                               8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  return _mm512_load_si512(idx);
}

struct F32Rows {
  static __m512 load(const uint8_t* panel, int d) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(panel) + size_t(d) * 16);
  }
};

struct F16Rows {
  static __m512 load(const uint8_t* panel, int d) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + size_t(d) * 32)));
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
  static __m512 zero() { return _mm512_setzero_ps(); }
  static __m512 load(const uint8_t* panel, int d) { return Rows::load(panel, d); }
  static __m512 broadcast(const float* qv, int d) { return _mm512_set1_ps(qv[d]); }
  static __m512 madd(__m512 acc, __m512 x, __m512 qb) { return _mm512_fmadd_ps(x, qb, acc); }
};

// i8 codes in dimension pairs (a pair row: 16 lanes x 2 bytes), widened to
// int16 and multiplied by int16 query codes; Dot adds one pair row's products.
template <class Dot>
struct I8PairStep {
  const PanelRange& r;
  const QueryBlock& q;
  int pairs;

  I8PairStep(const PanelRange& r, const QueryBlock& q) : r(r), q(q), pairs((q.dim + 1) / 2) {}
  int steps() const { return pairs; }
  const uint8_t* panel(size_t p) const { return r.panels + p * r.panel_bytes; }
  const uint32_t* query(int j) const { return q.q_i16x2 + size_t(j) * pairs; }
  static __m512i zero() { return _mm512_setzero_si512(); }
  static __m512i load(const uint8_t* panel, int k) {
    return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + size_t(k) * 32)));
  }
  static __m512i broadcast(const uint32_t* qv, int k) { return _mm512_set1_epi32(int32_t(qv[k])); }
  static __m512i madd(__m512i acc, __m512i x, __m512i qp) { return Dot::add(acc, x, qp); }
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
    __mmask16 valid;
    __m512 bias;
  };
  Panel panel(size_t index) const {
    const size_t row0 = index * 16;
    return {row0, valid_lanes(r.n_rows - row0),
            _mm512_mul_ps(_mm512_set1_ps(q.bias_factor), _mm512_loadu_ps(r.sqnorm + row0))};
  }
  void operator()(const Panel& s, __m512 acc, int query) const {
    emit(_mm512_sub_ps(acc, s.bias), q.thresholds[query], s.valid, query, r.first_row + s.row0, sink, ctx);
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
    __mmask16 valid;
    __m512 scale, bias;
  };
  Panel panel(size_t index) const {
    const size_t row0 = index * 16;
    return {row0, valid_lanes(r.n_rows - row0), _mm512_loadu_ps(r.scale + row0),
            _mm512_mul_ps(_mm512_set1_ps(q.bias_factor), _mm512_loadu_ps(r.sqnorm + row0))};
  }
  void operator()(const Panel& s, __m512i acc, int query) const {
    const __m512 score = _mm512_sub_ps(
        _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_mul_ps(s.scale, _mm512_set1_ps(q.q_scale[query]))), s.bias);
    emit(score, q.thresholds[query], s.valid, query, r.first_row + s.row0, sink, ctx);
  }
};

// Block shapes for 32 ZMM registers: NQ x NP accumulators, NP rows, 1 query.
template <class Rows>
void scan_float(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  const FloatStep<Rows> step{r, q};
  const ExactFloat exact{r, q, sink, ctx};
  // Few queries: memory-bound; 4 panels give 4 (or 8) independent FMA chains.
  if (q.n <= 2) tile_blocks<Tiles<4, 2, 1>, Tiles<1, 2, 1>>(step, exact, r.n_panels, q.n);
  else tile_blocks<Tiles<2, 12, 8, 4, 1>, Tiles<1, 12, 4, 1>>(step, exact, r.n_panels, q.n);
}

template <class Dot>
void scan_i8_with(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  const I8PairStep<Dot> step(r, q);
  const ExactI8 exact{r, q, sink, ctx};
  if (q.n == 1) tile_blocks<Tiles<4, 1>, Tiles<1, 1>>(step, exact, r.n_panels, q.n);
  else tile_blocks<Tiles<2, 12, 4, 1>, Tiles<1, 4, 1>>(step, exact, r.n_panels, q.n);
}

}  // namespace
}  // namespace faceindex::search
