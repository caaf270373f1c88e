#include "query_prep.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>

namespace faceindex::search {
namespace {

// float32 -> bfloat16, round to nearest even (inputs are finite).
uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return uint16_t((u + rounding) >> 16);
}

}  // namespace

void normalise_rows(const float* in, size_t n, int dim, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const float* x = in + i * size_t(dim);
    float* y = out + i * size_t(dim);
    double sq = 0;
    for (int d = 0; d < dim; ++d) sq += double(x[d]) * x[d];
    const double norm = std::sqrt(sq);
    for (int d = 0; d < dim; ++d) y[d] = float(double(x[d]) / norm);
  }
}

QueryBlock PreparedQueries::block(size_t first, size_t count, float* thresholds) const {
  const size_t pairs = size_t(dim + 1) / 2;
  QueryBlock b{};
  b.n = int(count);
  b.dim = dim;
  b.bias_factor = bias_factor;
  b.q_f32 = f32.data() + first * size_t(dim);
  b.q_i16x2 = i16x2.empty() ? nullptr : i16x2.data() + first * pairs;
  b.q_scale = scale.empty() ? nullptr : scale.data() + first;
  b.q_bf16 = bf16x2.empty() ? nullptr : bf16x2.data() + first * pairs;
  b.q_margin = margin.empty() ? nullptr : margin.data() + first;
  b.q_margin_abs = margin_abs.empty() ? nullptr : margin_abs.data() + first;
  b.q_u8x4 = u8x4.empty() ? nullptr : u8x4.data() + first * (size_t(dim + 3) / 4);
  b.q_u8_error = u8_error.empty() ? nullptr : u8_error.data() + first;
  b.thresholds = thresholds;
  return b;
}

PreparedQueries prepare_queries(const float* queries, size_t n, int dim, Metric metric, DType dtype, bool screened) {
  PreparedQueries q;
  q.n = n;
  q.dim = dim;
  q.bias_factor = metric == Metric::L2 ? 0.5f : 0.0f;
  q.f32.resize(n * size_t(dim));
  if (metric == Metric::Cosine) normalise_rows(queries, n, dim, q.f32.data());
  else std::memcpy(q.f32.data(), queries, n * size_t(dim) * sizeof(float));
  q.sqnorm.resize(n);
  for (size_t i = 0; i < n; ++i) {
    double sq = 0;
    for (int d = 0; d < dim; ++d) sq += double(q.f32[i * dim + d]) * q.f32[i * dim + d];
    q.sqnorm[i] = sq;
  }
  const size_t pairs = size_t(dim + 1) / 2;
  if (dtype == DType::I8) {
    // int16 codes as large as int32 accumulation allows: |sum| <= 127 * max_code * dim_even < 2^31.
    const double max_code = std::min(32767.0, std::floor(double(INT32_MAX) / (127.0 * double(2 * pairs))));
    q.i16x2.assign(n * pairs, 0);
    q.scale.resize(n);
    // The screened scan multiplies u8 = round(code / 256) + 128 by the stored s8
    // codes; |code - 256 (u8 - 128)| <= 255 per dimension bounds what that loses.
    const size_t quads = size_t(dim + 3) / 4;
    if (screened) {
      q.u8x4.assign(n * quads, 0x80808080u);  // padding dims: u8 128 stands for 0
      q.u8_error.resize(n);
    }
    for (size_t i = 0; i < n; ++i) {
      const float* x = &q.f32[i * dim];
      float max_abs = 0;
      for (int d = 0; d < dim; ++d) max_abs = std::max(max_abs, std::fabs(x[d]));
      const float scale = float(double(max_abs) / max_code);
      q.scale[i] = scale;
      long worst = 0;
      for (int d = 0; d < dim; ++d) {
        long code = scale > 0 ? std::lrint(double(x[d]) / double(scale)) : 0;
        code = std::clamp(code, long(-max_code), long(max_code));
        const uint32_t bits = uint32_t(uint16_t(int16_t(code)));
        q.i16x2[i * pairs + d / 2] |= (d % 2) ? bits << 16 : bits;
        if (screened) {
          const long coarse = std::clamp(long(std::lrint(double(code) / 256.0)), -128L, 127L);
          worst = std::max(worst, std::labs(code - 256 * coarse));
          const int shift = 8 * (d % 4);
          uint32_t& packed = q.u8x4[i * quads + size_t(d) / 4];
          packed = (packed & ~(0xffu << shift)) | (uint32_t(coarse + 128) << shift);
        }
      }
      if (screened) q.u8_error[i] = float(worst);
    }
  } else if (screened) {
    q.bf16x2.assign(n * pairs, 0);
    q.margin.resize(n);
    q.margin_abs.resize(n);
    // |bf16 dot - f32 dot| <= c * |q| * |x| + (flushed subnormals) 2^-118 (|q| + |x|):
    // two bf16 roundings (2^-7 + 2^-16) and two float32 accumulations (2 dim 2^-24),
    // with 1/16 to spare for the float arithmetic of the bound itself.
    const double c = (std::ldexp(1.0, -7) + std::ldexp(1.0, -14) + 2.0 * double(2 * pairs) * std::ldexp(1.0, -24)) * 1.0625;
    const double subnormal = std::ldexp(1.0, -118) * 1.0625;
    for (size_t i = 0; i < n; ++i) {
      const float* x = &q.f32[i * dim];
      for (int d = 0; d < dim; ++d) {
        const uint32_t bits = to_bf16(x[d]);
        q.bf16x2[i * pairs + d / 2] |= (d % 2) ? bits << 16 : bits;
      }
      const double norm = std::sqrt(q.sqnorm[i]);
      q.margin[i] = float((c * norm + subnormal) * (1 + 1e-6));
      q.margin_abs[i] = float(subnormal * norm * (1 + 1e-6) + 1e-37);
    }
  }
  return q;
}

}  // namespace faceindex::search
