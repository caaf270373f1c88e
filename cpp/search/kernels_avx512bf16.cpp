// Screened scans for large query batches (AVX-512 BF16): each chunk of stored
// vectors is converted once to bf16 pairs, scored with vdpbf16ps (twice the
// multiply-adds per instruction of f32 FMA), and only rows whose bf16 score
// could reach a query's threshold (within a proven error bound) get their
// exact f32 score, computed in the same order as the f32 kernels. The
// results are therefore those of the f32 scan, to the bit.
#include <cmath>

#include "avx512_blocks.h"

namespace faceindex::search {
namespace {

template <class Rows>
void to_bf16_pairs(const PanelRange& r, int dim, __m512i* out) {
  // Lane l of a pair row holds (dim 2k, dim 2k+1) of vector l.
  const __m512i idx = interleave_row_pairs_index();
  const int pairs = (dim + 1) / 2;
  for (size_t p = 0; p < r.n_panels; ++p) {
    const uint8_t* panel = r.panels + p * r.panel_bytes;
    __m512i* dst = out + p * pairs;
    for (int k = 0; k < pairs; ++k) {
      const __m512 even = Rows::load(panel, 2 * k);
      const __m512 odd = 2 * k + 1 < dim ? Rows::load(panel, 2 * k + 1) : _mm512_setzero_ps();
      const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(odd, even);  // [even 0..15, odd 0..15]
      dst[k] = _mm512_permutexvar_epi16(idx, both);
    }
  }
}

struct F32Scalar {
  static float at(const uint8_t* panel, int d, int lane) {
    return reinterpret_cast<const float*>(panel)[size_t(d) * 16 + lane];
  }
};

struct F16Scalar {
  static float at(const uint8_t* panel, int d, int lane) {
    return _cvtsh_ss(reinterpret_cast<const uint16_t*>(panel)[size_t(d) * 16 + lane]);
  }
};

// The f32 score of one lane, in the order the f32 kernels use.
template <class Scalar>
float exact_score(const PanelRange& r, const QueryBlock& q, int j, size_t panel_index, int lane) {
  const uint8_t* panel = r.panels + panel_index * r.panel_bytes;
  const float* qv = q.q_f32 + size_t(j) * q.dim;
  float acc = 0.0f;
  for (int d = 0; d < q.dim; ++d) acc = __builtin_fmaf(Scalar::at(panel, d, lane), qv[d], acc);
  return acc - q.bias_factor * r.sqnorm[panel_index * 16 + lane];
}

template <class Scalar, int NQ, int NP>
void screen_block(const PanelRange& r, const QueryBlock& q, const __m512i* pairs_data, const __m512* norms,
                  size_t p0, int j0, CandidateSink sink, void* ctx) {
  const int pairs = (q.dim + 1) / 2;
  __m512 acc[NQ][NP];
#pragma GCC unroll 32
  for (int j = 0; j < NQ; ++j)
#pragma GCC unroll 32
    for (int p = 0; p < NP; ++p) acc[j][p] = _mm512_setzero_ps();
  const uint32_t* qv[NQ];
  for (int j = 0; j < NQ; ++j) qv[j] = q.q_bf16 + size_t(j0 + j) * pairs;
  const __m512i* x_rows[NP];
  for (int p = 0; p < NP; ++p) x_rows[p] = pairs_data + (p0 + p) * pairs;
  for (int k = 0; k < pairs; ++k) {
    __m512bh x[NP];
#pragma GCC unroll 32
    for (int p = 0; p < NP; ++p) x[p] = (__m512bh)_mm512_load_si512(x_rows[p] + k);
#pragma GCC unroll 32
    for (int j = 0; j < NQ; ++j) {
      const __m512bh qb = (__m512bh)_mm512_set1_epi32(int32_t(qv[j][k]));
#pragma GCC unroll 32
      for (int p = 0; p < NP; ++p) acc[j][p] = _mm512_dpbf16_ps(acc[j][p], x[p], qb);
    }
  }
  const __m512 bias_factor = _mm512_set1_ps(q.bias_factor);
  for (int p = 0; p < NP; ++p) {
    const size_t panel_index = p0 + p;
    const size_t row0 = panel_index * 16;
    const __mmask16 valid = valid_lanes(r.n_rows - row0);
    const __m512 bias = _mm512_mul_ps(bias_factor, _mm512_loadu_ps(r.sqnorm + row0));
    for (int j = 0; j < NQ; ++j) {
      const int query = j0 + j;
      // Upper bound of the f32 score: bf16 score plus the error bound.
      const __m512 margin = _mm512_fmadd_ps(_mm512_set1_ps(q.q_margin[query]), norms[panel_index],
                                            _mm512_set1_ps(q.q_margin_abs[query]));
      // (bf16 + margin) - bias: rounding is monotonic, so this is >= the f32
      // score (f32 dot - bias) whenever bf16 + margin >= the f32 dot.
      const __m512 upper = _mm512_sub_ps(_mm512_add_ps(acc[j][p], margin), bias);
      unsigned mask = _mm512_mask_cmp_ps_mask(valid, upper, _mm512_set1_ps(q.thresholds[query]), _CMP_GE_OQ);
      while (mask) {
        const int lane = __builtin_ctz(mask);
        mask &= mask - 1;
        const float score = exact_score<Scalar>(r, q, query, panel_index, lane);
        if (score >= q.thresholds[query]) sink(ctx, query, r.first_row + row0 + lane, score);
      }
    }
  }
}

template <class Rows, class Scalar>
void screen(const PanelRange& r, const QueryBlock& q, void* scratch, CandidateSink sink, void* ctx) {
  const int pairs = (q.dim + 1) / 2;
  __m512i* pairs_data = static_cast<__m512i*>(scratch);
  __m512* norms = reinterpret_cast<__m512*>(pairs_data + r.n_panels * pairs);
  to_bf16_pairs<Rows>(r, q.dim, pairs_data);
  for (size_t p = 0; p < r.n_panels; ++p) norms[p] = _mm512_sqrt_ps(_mm512_loadu_ps(r.sqnorm + p * 16));
  size_t p = 0;
  for (; p + 2 <= r.n_panels; p += 2) {
    int j = 0;
    for (; j + 12 <= q.n; j += 12) screen_block<Scalar, 12, 2>(r, q, pairs_data, norms, p, j, sink, ctx);
    for (; j + 4 <= q.n; j += 4) screen_block<Scalar, 4, 2>(r, q, pairs_data, norms, p, j, sink, ctx);
    for (; j < q.n; ++j) screen_block<Scalar, 1, 2>(r, q, pairs_data, norms, p, j, sink, ctx);
  }
  for (; p < r.n_panels; ++p) {
    int j = 0;
    for (; j + 12 <= q.n; j += 12) screen_block<Scalar, 12, 1>(r, q, pairs_data, norms, p, j, sink, ctx);
    for (; j < q.n; ++j) screen_block<Scalar, 1, 1>(r, q, pairs_data, norms, p, j, sink, ctx);
  }
}

}  // namespace

void screen_f32_avx512bf16(const PanelRange& r, const QueryBlock& q, void* scratch, CandidateSink sink, void* ctx) {
  screen<F32Rows, F32Scalar>(r, q, scratch, sink, ctx);
}

void screen_f16_avx512bf16(const PanelRange& r, const QueryBlock& q, void* scratch, CandidateSink sink, void* ctx) {
  screen<F16Rows, F16Scalar>(r, q, scratch, sink, ctx);
}

}  // namespace faceindex::search
