// Register-blocked AVX-512 scan loops, shared by the AVX-512 files (base,
// VNNI). Everything here has internal linkage: each file compiled with its
// own flags gets its own copy.
#pragma once

#include <immintrin.h>

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

// NQ queries x NP panels of f32 (or f16 widened) rows; each lane accumulates
// in dimension order with FMA.
template <class Rows, int NQ, int NP>
void float_block(const PanelRange& r, const QueryBlock& q, size_t p0, int j0, CandidateSink sink, void* ctx) {
  __m512 acc[NQ][NP];
#pragma GCC unroll 32
  for (int j = 0; j < NQ; ++j)
#pragma GCC unroll 32
    for (int p = 0; p < NP; ++p) acc[j][p] = _mm512_setzero_ps();
  const float* qv[NQ];
  for (int j = 0; j < NQ; ++j) qv[j] = q.q_f32 + size_t(j0 + j) * q.dim;
  const uint8_t* panel[NP];
  for (int p = 0; p < NP; ++p) panel[p] = r.panels + (p0 + p) * r.panel_bytes;
  for (int d = 0; d < q.dim; ++d) {
    __m512 x[NP];
#pragma GCC unroll 32
    for (int p = 0; p < NP; ++p) x[p] = Rows::load(panel[p], d);
#pragma GCC unroll 32
    for (int j = 0; j < NQ; ++j) {
      const __m512 qb = _mm512_set1_ps(qv[j][d]);
#pragma GCC unroll 32
      for (int p = 0; p < NP; ++p) acc[j][p] = _mm512_fmadd_ps(x[p], qb, acc[j][p]);
    }
  }
  const __m512 bias_factor = _mm512_set1_ps(q.bias_factor);
  for (int p = 0; p < NP; ++p) {
    const size_t row0 = (p0 + p) * 16;
    const __mmask16 valid = valid_lanes(r.n_rows - row0);
    const __m512 bias = _mm512_mul_ps(bias_factor, _mm512_loadu_ps(r.sqnorm + row0));
    for (int j = 0; j < NQ; ++j)
      emit(_mm512_sub_ps(acc[j][p], bias), q.thresholds[j0 + j], valid, j0 + j, r.first_row + row0, sink, ctx);
  }
}

// Query groups sized for 32 ZMM registers: NQ x NP accumulators, NP rows, 1 query.
template <class Rows>
void scan_float(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  if (q.n <= 2) {
    // Few queries: memory-bound; 4 panels give 4 (or 8) independent FMA chains.
    size_t p = 0;
    for (; p + 4 <= r.n_panels; p += 4) {
      if (q.n == 1) float_block<Rows, 1, 4>(r, q, p, 0, sink, ctx);
      else float_block<Rows, 2, 4>(r, q, p, 0, sink, ctx);
    }
    for (; p < r.n_panels; ++p) {
      if (q.n == 1) float_block<Rows, 1, 1>(r, q, p, 0, sink, ctx);
      else float_block<Rows, 2, 1>(r, q, p, 0, sink, ctx);
    }
    return;
  }
  size_t p = 0;
  for (; p + 2 <= r.n_panels; p += 2) {
    int j = 0;
    for (; j + 12 <= q.n; j += 12) float_block<Rows, 12, 2>(r, q, p, j, sink, ctx);
    for (; j + 8 <= q.n; j += 8) float_block<Rows, 8, 2>(r, q, p, j, sink, ctx);
    for (; j + 4 <= q.n; j += 4) float_block<Rows, 4, 2>(r, q, p, j, sink, ctx);
    for (; j < q.n; ++j) float_block<Rows, 1, 2>(r, q, p, j, sink, ctx);
  }
  for (; p < r.n_panels; ++p) {
    int j = 0;
    for (; j + 12 <= q.n; j += 12) float_block<Rows, 12, 1>(r, q, p, j, sink, ctx);
    for (; j + 4 <= q.n; j += 4) float_block<Rows, 4, 1>(r, q, p, j, sink, ctx);
    for (; j < q.n; ++j) float_block<Rows, 1, 1>(r, q, p, j, sink, ctx);
  }
}

// i8 codes in dimension pairs (a pair row: 16 lanes x 2 bytes), widened to
// int16 and multiplied by int16 query codes; Dot adds one pair row's products.
template <class Dot, int NQ, int NP>
void i8_block(const PanelRange& r, const QueryBlock& q, size_t p0, int j0, CandidateSink sink, void* ctx) {
  const int pairs = (q.dim + 1) / 2;
  __m512i acc[NQ][NP];
#pragma GCC unroll 32
  for (int j = 0; j < NQ; ++j)
#pragma GCC unroll 32
    for (int p = 0; p < NP; ++p) acc[j][p] = _mm512_setzero_si512();
  const uint32_t* qv[NQ];
  for (int j = 0; j < NQ; ++j) qv[j] = q.q_i16x2 + size_t(j0 + j) * pairs;
  const uint8_t* panel[NP];
  for (int p = 0; p < NP; ++p) panel[p] = r.panels + (p0 + p) * r.panel_bytes;
  for (int k = 0; k < pairs; ++k) {
    __m512i x[NP];
#pragma GCC unroll 32
    for (int p = 0; p < NP; ++p)
      x[p] = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel[p] + size_t(k) * 32)));
#pragma GCC unroll 32
    for (int j = 0; j < NQ; ++j) {
      const __m512i qp = _mm512_set1_epi32(int32_t(qv[j][k]));
#pragma GCC unroll 32
      for (int p = 0; p < NP; ++p) acc[j][p] = Dot::add(acc[j][p], x[p], qp);
    }
  }
  const __m512 bias_factor = _mm512_set1_ps(q.bias_factor);
  for (int p = 0; p < NP; ++p) {
    const size_t row0 = (p0 + p) * 16;
    const __mmask16 valid = valid_lanes(r.n_rows - row0);
    const __m512 scale = _mm512_loadu_ps(r.scale + row0);
    const __m512 bias = _mm512_mul_ps(bias_factor, _mm512_loadu_ps(r.sqnorm + row0));
    for (int j = 0; j < NQ; ++j) {
      const __m512 s = _mm512_sub_ps(
          _mm512_mul_ps(_mm512_cvtepi32_ps(acc[j][p]), _mm512_mul_ps(scale, _mm512_set1_ps(q.q_scale[j0 + j]))),
          bias);
      emit(s, q.thresholds[j0 + j], valid, j0 + j, r.first_row + row0, sink, ctx);
    }
  }
}

template <class Dot>
void scan_i8_with(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  if (q.n == 1) {
    size_t p = 0;
    for (; p + 4 <= r.n_panels; p += 4) i8_block<Dot, 1, 4>(r, q, p, 0, sink, ctx);
    for (; p < r.n_panels; ++p) i8_block<Dot, 1, 1>(r, q, p, 0, sink, ctx);
    return;
  }
  size_t p = 0;
  for (; p + 2 <= r.n_panels; p += 2) {
    int j = 0;
    for (; j + 12 <= q.n; j += 12) i8_block<Dot, 12, 2>(r, q, p, j, sink, ctx);
    for (; j + 4 <= q.n; j += 4) i8_block<Dot, 4, 2>(r, q, p, j, sink, ctx);
    for (; j < q.n; ++j) i8_block<Dot, 1, 2>(r, q, p, j, sink, ctx);
  }
  for (; p < r.n_panels; ++p) {
    int j = 0;
    for (; j + 4 <= q.n; j += 4) i8_block<Dot, 4, 1>(r, q, p, j, sink, ctx);
    for (; j < q.n; ++j) i8_block<Dot, 1, 1>(r, q, p, j, sink, ctx);
  }
}

}  // namespace
}  // namespace faceindex::search
