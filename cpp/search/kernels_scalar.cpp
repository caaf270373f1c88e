// The reference kernels: plain C++, no instruction-set extensions. Every
// SIMD kernel is tested against these. (Built with -ffp-contract=off, so a
// product and a sum round separately, as written.)
#include <cstring>
#include <vector>

#include "kernels.h"

namespace faceindex::search {
namespace {

uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE binary32 -> binary16, round to nearest even (what F16C does).
uint16_t to_half(float value) {
  uint32_t x = float_bits(value);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u);  // NaN, inf
  if (x >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to inf
  if (x < 0x38800000u) {                        // below the smallest normal half: subnormal or 0
    if (x < 0x33000000u) return sign;           // <= 2^-25 rounds to 0
    const uint32_t exponent = x >> 23;
    const uint32_t mantissa = (x & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exponent;      // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1))) ++half;
    return sign | uint16_t(half);
  }
  // Normal: rebias the exponent, round the mantissa from 23 to 10 bits.
  const uint32_t rebiased = x - (112u << 23);
  const uint32_t rounded = rebiased + 0xfffu + ((rebiased >> 13) & 1);
  return sign | uint16_t(rounded >> 13);
}

float from_half(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {
    if (mantissa == 0) return bits_float(sign);
    // Subnormal: normalise.
    exponent = 113;
    while (!(mantissa & 0x400u)) {
      mantissa <<= 1;
      --exponent;
    }
    mantissa &= 0x3ffu;
    return bits_float(sign | (exponent << 23) | (mantissa << 13));
  }
  return bits_float(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

void f32_to_f16(const float* in, uint16_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = to_half(in[i]);
}

void f16_to_f32(const uint16_t* in, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = from_half(in[i]);
}

template <typename LaneValue>
void scan_panels(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx,
                 LaneValue score_of_lanes) {
  float scores[kPanel];
  for (size_t p = 0; p < r.n_panels; ++p) {
    const uint8_t* panel = r.panels + p * r.panel_bytes;
    const size_t row0 = p * kPanel;
    const size_t lanes = r.n_rows - row0 < size_t(kPanel) ? r.n_rows - row0 : size_t(kPanel);
    for (int j = 0; j < q.n; ++j) {
      score_of_lanes(panel, j, row0, scores);
      for (size_t l = 0; l < lanes; ++l) {
        if (scores[l] >= q.thresholds[j]) sink(ctx, j, r.first_row + row0 + l, scores[l]);
      }
    }
  }
}

void scan_f32(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  scan_panels(r, q, sink, ctx, [&](const uint8_t* panel, int j, size_t row0, float* scores) {
    const float* x = reinterpret_cast<const float*>(panel);
    const float* qv = q.q_f32 + size_t(j) * q.dim;
    float acc[kPanel] = {};
    for (int d = 0; d < q.dim; ++d)
      for (int l = 0; l < kPanel; ++l) acc[l] = acc[l] + x[d * kPanel + l] * qv[d];
    for (int l = 0; l < kPanel; ++l) scores[l] = acc[l] - q.bias_factor * r.sqnorm[row0 + l];
  });
}

void scan_f16(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  // Decode each panel once, then score it against every query in f32.
  std::vector<float> decoded(size_t(q.dim) * kPanel);
  for (size_t p = 0; p < r.n_panels; ++p) {
    f16_to_f32(reinterpret_cast<const uint16_t*>(r.panels + p * r.panel_bytes), decoded.data(), decoded.size());
    PanelRange one = r;
    one.panels = reinterpret_cast<const uint8_t*>(decoded.data());
    one.panel_bytes = decoded.size() * sizeof(float);
    one.n_panels = 1;
    one.first_row = r.first_row + p * kPanel;
    one.n_rows = r.n_rows - p * kPanel;
    one.scale = r.scale + p * kPanel;
    one.sqnorm = r.sqnorm + p * kPanel;
    scan_f32(one, q, sink, ctx);
  }
}

void scan_i8(const PanelRange& r, const QueryBlock& q, CandidateSink sink, void* ctx) {
  const int pairs = (q.dim + 1) / 2;
  scan_panels(r, q, sink, ctx, [&](const uint8_t* panel, int j, size_t row0, float* scores) {
    const int8_t* x = reinterpret_cast<const int8_t*>(panel);
    const uint32_t* qv = q.q_i16x2 + size_t(j) * pairs;
    int32_t acc[kPanel] = {};
    for (int k = 0; k < pairs; ++k) {
      const int32_t q_even = int16_t(qv[k] & 0xffffu), q_odd = int16_t(qv[k] >> 16);
      const int8_t* row = x + k * 2 * kPanel;
      for (int l = 0; l < kPanel; ++l) acc[l] += int32_t(row[2 * l]) * q_even + int32_t(row[2 * l + 1]) * q_odd;
    }
    for (int l = 0; l < kPanel; ++l)
      scores[l] = float(acc[l]) * (r.scale[row0 + l] * q.q_scale[j]) - q.bias_factor * r.sqnorm[row0 + l];
  });
}

}  // namespace

const Kernels& kernels_scalar() {
  static const Kernels table{"scalar", "scalar", scan_f32, scan_f16, scan_i8, nullptr, nullptr, nullptr,
                             f32_to_f16, f16_to_f32};
  return table;
}

}  // namespace faceindex::search
