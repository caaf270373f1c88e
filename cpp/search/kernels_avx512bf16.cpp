// Screened scans for large query batches (AVX-512 BF16): each chunk of stored
// vectors is converted once to bf16 pairs, scored with vdpbf16ps (twice the
// multiply-adds per instruction of f32 FMA), and only rows whose bf16 score
// could reach a query's threshold (within a proven error bound) get their
// exact f32 score, computed in the same order as the f32 kernels. The
// results are therefore those of the f32 scan, to the bit.
#include <cmath>

#include "avx512_policies.h"

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

// bf16 pair rows, two dimensions a step, vdpbf16ps.
struct Bf16PairStep {
  const __m512i* pair_rows;
  const QueryBlock& q;
  int pairs;

  int steps() const { return pairs; }
  const __m512i* panel(size_t p) const { return pair_rows + p * pairs; }
  const uint32_t* query(int j) const { return q.q_bf16 + size_t(j) * pairs; }
  static __m512 zero() { return _mm512_setzero_ps(); }
  static __m512bh load(const __m512i* rows, int k) { return (__m512bh)_mm512_load_si512(rows + k); }
  static __m512bh broadcast(const uint32_t* qv, int k) { return (__m512bh)_mm512_set1_epi32(int32_t(qv[k])); }
  static __m512 madd(__m512 acc, __m512bh x, __m512bh qb) { return _mm512_dpbf16_ps(acc, x, qb); }
};

// Bound check and re-score: each lane whose upper bound reaches the query's
// threshold gets its exact f32 score.
template <class Scalar>
struct ScreenFloat {
  const PanelRange& r;
  const QueryBlock& q;
  const __m512* norms;
  CandidateSink sink;
  void* ctx;

  struct Panel {
    size_t index, row0;
    __mmask16 valid;
    __m512 bias;
  };
  Panel panel(size_t index) const {
    const size_t row0 = index * 16;
    return {index, row0, valid_lanes(r.n_rows - row0),
            _mm512_mul_ps(_mm512_set1_ps(q.bias_factor), _mm512_loadu_ps(r.sqnorm + row0))};
  }
  void operator()(const Panel& s, __m512 acc, int query) const {
    // Upper bound of the f32 score: bf16 score plus the error bound.
    const __m512 margin =
        _mm512_fmadd_ps(_mm512_set1_ps(q.q_margin[query]), norms[s.index], _mm512_set1_ps(q.q_margin_abs[query]));
    // (bf16 + margin) - bias: rounding is monotonic, so this is >= the f32
    // score (f32 dot - bias) whenever bf16 + margin >= the f32 dot.
    const __m512 upper = _mm512_sub_ps(_mm512_add_ps(acc, margin), s.bias);
    unsigned mask = _mm512_mask_cmp_ps_mask(s.valid, upper, _mm512_set1_ps(q.thresholds[query]), _CMP_GE_OQ);
    while (mask) {
      const int lane = __builtin_ctz(mask);
      mask &= mask - 1;
      const float score = exact_score<Scalar>(r, q, query, s.index, lane);
      if (score >= q.thresholds[query]) sink(ctx, query, r.first_row + s.row0 + lane, score);
    }
  }
};

template <class Rows, class Scalar>
void screen(const PanelRange& r, const QueryBlock& q, void* scratch, CandidateSink sink, void* ctx) {
  const int pairs = (q.dim + 1) / 2;
  __m512i* pairs_data = static_cast<__m512i*>(scratch);
  __m512* norms = reinterpret_cast<__m512*>(pairs_data + r.n_panels * pairs);
  to_bf16_pairs<Rows>(r, q.dim, pairs_data);
  for (size_t p = 0; p < r.n_panels; ++p) norms[p] = _mm512_sqrt_ps(_mm512_loadu_ps(r.sqnorm + p * 16));
  const Bf16PairStep step{pairs_data, q, pairs};
  const ScreenFloat<Scalar> screen{r, q, norms, sink, ctx};
  tile_blocks<Tiles<2, 12, 4, 1>, Tiles<1, 12, 1>>(step, screen, r.n_panels, q.n);
}

}  // namespace

void screen_f32_avx512bf16(const PanelRange& r, const QueryBlock& q, void* scratch, CandidateSink sink, void* ctx) {
  screen<F32Rows, F32Scalar>(r, q, scratch, sink, ctx);
}

void screen_f16_avx512bf16(const PanelRange& r, const QueryBlock& q, void* scratch, CandidateSink sink, void* ctx) {
  screen<F16Rows, F16Scalar>(r, q, scratch, sink, ctx);
}

}  // namespace faceindex::search
