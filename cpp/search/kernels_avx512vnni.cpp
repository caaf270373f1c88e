// The i8 kernels with AVX-512 VNNI. The scan: vpdpwssd does the int16 pair
// products and their sum in one instruction. The screen, for large batches:
// each chunk of stored codes is regrouped once into rows of four dimensions,
// scored against 8-bit query codes with vpdpbusd (twice the multiply-adds of
// vpdpwssd), and only panels where a lane's upper bound reaches a query's
// threshold are scored exactly, by the scan's own code: the results are those
// of the scan, to the bit.
#include "avx512_policies.h"

namespace faceindex::search {
namespace {

struct VnniDot {
  static __m512i add(__m512i acc, __m512i x, __m512i q) { return _mm512_dpwssd_epi32(acc, x, q); }
};

constexpr int kUp = _MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC;

// Quad rows of every panel, then per panel 128 * (sum of codes), and the sum
// of |codes| rounded up to a float.
void to_quad_rows(const PanelRange& r, int dim, __m512i* quads_out, __m512i* sums128, __m512* l1s) {
  // A quad row: lane l holds dimensions 4k..4k+3 of vector l (s8), pair rows 2k and 2k+1 interleaved.
  const __m512i idx = interleave_row_pairs_index();
  const __m512i ones = _mm512_set1_epi8(1);
  const int pairs = (dim + 1) / 2, quads = (dim + 3) / 4;
  for (size_t p = 0; p < r.n_panels; ++p) {
    const uint8_t* panel = r.panels + p * r.panel_bytes;
    __m512i* dst = quads_out + p * quads;
    __m512i sum = _mm512_setzero_si512(), l1 = _mm512_setzero_si512();
    for (int k = 0; k < quads; ++k) {
      // Pair rows 2k and 2k+1 are adjacent 32-byte rows; the last may be missing.
      const __m512i both = 2 * k + 1 < pairs
                               ? _mm512_loadu_si512(panel + size_t(k) * 64)
                               : _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + size_t(k) * 64)));
      const __m512i quad = _mm512_permutexvar_epi16(idx, both);
      dst[k] = quad;
      sum = _mm512_dpbusd_epi32(sum, ones, quad);
      l1 = _mm512_dpbusd_epi32(l1, _mm512_abs_epi8(quad), ones);
    }
    sums128[p] = _mm512_slli_epi32(sum, 7);
    l1s[p] = _mm512_cvt_roundepi32_ps(l1, kUp);
  }
}

// Quad rows of u8 x s8 products: 8-bit query codes against the regrouped
// stored codes, four dimensions a step.
struct U8QuadStep {
  const __m512i* quad_rows;
  const QueryBlock& q;
  int quads;

  int steps() const { return quads; }
  const __m512i* panel(size_t p) const { return quad_rows + p * quads; }
  const uint32_t* query(int j) const { return q.q_u8x4 + size_t(j) * quads; }
  static __m512i zero() { return _mm512_setzero_si512(); }
  static __m512i load(const __m512i* rows, int k) { return _mm512_load_si512(rows + k); }
  static __m512i broadcast(const uint32_t* qv, int k) { return _mm512_set1_epi32(int32_t(qv[k])); }
  static __m512i madd(__m512i acc, __m512i x, __m512i qb) { return _mm512_dpbusd_epi32(acc, qb, x); }
};

// Bound check and re-score: a panel where a lane's upper bound reaches the
// query's threshold is scored exactly, by the scan's own block.
struct ScreenI8 {
  const PanelRange& r;
  const QueryBlock& q;
  const __m512i* sums128;
  const __m512* l1s;
  CandidateSink sink;
  void* ctx;

  struct Panel {
    size_t index;
    __mmask16 valid;
    __m512 scale, bias;
  };
  Panel panel(size_t index) const {
    const size_t row0 = index * 16;
    return {index, valid_lanes(r.n_rows - row0), _mm512_loadu_ps(r.scale + row0),
            _mm512_mul_ps(_mm512_set1_ps(q.bias_factor), _mm512_loadu_ps(r.sqnorm + row0))};
  }
  void operator()(const Panel& s, __m512i acc, int query) const {
    // sum(u8 x) - 128 sum(x) = sum(coarse x), exact in int32; 256 times that
    // plus error * sum|x|, each step rounded up, bounds the int16 dot from
    // above, and also its float (rounded to nearest). The scan's own float
    // steps below are monotonic, so the bound holds for the score.
    const __m512 coarse = _mm512_cvt_roundepi32_ps(_mm512_sub_epi32(acc, sums128[s.index]), kUp);
    const __m512 slack = _mm512_mul_round_ps(_mm512_set1_ps(q.q_u8_error[query]), l1s[s.index], kUp);
    const __m512 upper_dot = _mm512_add_round_ps(_mm512_mul_ps(coarse, _mm512_set1_ps(256.0f)), slack, kUp);
    const __m512 upper =
        _mm512_sub_ps(_mm512_mul_ps(upper_dot, _mm512_mul_ps(s.scale, _mm512_set1_ps(q.q_scale[query]))), s.bias);
    if (_mm512_mask_cmp_ps_mask(s.valid, upper, _mm512_set1_ps(q.thresholds[query]), _CMP_GE_OQ))
      register_block<1, 1>(I8PairStep<VnniDot>(r, q), ExactI8{r, q, sink, ctx}, s.index, query);
  }
};

}  // namespace

void scan_i8_avx512vnni(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_i8_with<VnniDot>(r, q, sink, ctx);
}

void screen_i8_avx512vnni(const PanelRange& r, const QueryBlock& q, void* scratch, CandidateSink sink, void* ctx) {
  const int quads = (q.dim + 3) / 4;
  __m512i* quad_rows = static_cast<__m512i*>(scratch);
  __m512i* sums128 = quad_rows + r.n_panels * quads;
  __m512* l1s = reinterpret_cast<__m512*>(sums128 + r.n_panels);
  to_quad_rows(r, q.dim, quad_rows, sums128, l1s);
  const U8QuadStep step{quad_rows, q, quads};
  const ScreenI8 screen{r, q, sums128, l1s, sink, ctx};
  tile_blocks<Tiles<2, 12, 4, 1>, Tiles<1, 12, 1>>(step, screen, r.n_panels, q.n);
}

}  // namespace faceindex::search
