// The i8 scan with AVX-512 VNNI: vpdpwssd does the int16 pair products and
// their sum in one instruction.
#include "avx512_blocks.h"

namespace faceindex::search {
namespace {

struct VnniDot {
  static __m512i add(__m512i acc, __m512i x, __m512i q) { return _mm512_dpwssd_epi32(acc, x, q); }
};

}  // namespace

void scan_i8_avx512vnni(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_i8_with<VnniDot>(r, q, sink, ctx);
}

}  // namespace faceindex::search
