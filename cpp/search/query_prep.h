// Queries turned into what the kernels of one store read: normalised for
// cosine, quantised for i8, rounded to bf16 pairs or 8-bit codes for screened scans.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "faceindex/search_types.h"
#include "kernels.h"

namespace faceindex::search {

// out[i] = in[i] / |in[i]| (norm in double). Rows must be non-zero.
void normalise_rows(const float* in, size_t n, int dim, float* out);

struct PreparedQueries {
  size_t n = 0;
  int dim = 0;
  float bias_factor = 0;
  std::vector<float> f32;         // n x dim
  std::vector<double> sqnorm;     // n: |q|^2 of the prepared query
  std::vector<uint32_t> i16x2;    // n x pairs (i8 store)
  std::vector<float> scale;       // n (i8 store)
  std::vector<uint32_t> bf16x2;   // n x pairs (screened scans)
  std::vector<float> margin;      // n (screened scans)
  std::vector<float> margin_abs;  // n (screened scans)
  std::vector<uint32_t> u8x4;     // n x quads (screened i8 scans)
  std::vector<float> u8_error;    // n (screened i8 scans)

  // Queries [first, first + count) as a kernel block with its own thresholds.
  QueryBlock block(size_t first, size_t count, float* thresholds) const;
};

PreparedQueries prepare_queries(const float* queries, size_t n, int dim, Metric metric, DType dtype, bool screened);

}  // namespace faceindex::search
