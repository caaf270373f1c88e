// The least-squares similarity transform (rotation, uniform scale, translation) between
// two 2-D point sets: Umeyama's method, which in 2-D has this closed form (without
// reflection). The one implementation behind both alignments: ArcFace-style chips
// (face_align) and dlib's shape predictor and face chips (what dlib's
// find_similarity_transform computes, to the bit).
#pragma once

#include <cmath>
#include <cstddef>

namespace faceindex::vision {

struct Similarity {  // to = [[a, -b], [b, a]] * from + (tx, ty)
  double a = 1, b = 0, tx = 0, ty = 0;
  double x(double px, double py) const { return a * px - b * py + tx; }
  double y(double px, double py) const { return b * px + a * py + ty; }
};

// The similarity minimising sum |T(from_i) - to_i|^2 over n points (x, y pairs).
// False (and *out untouched) when the `from` points coincide or a sum is not finite.
template <typename T, typename U>
bool fit_similarity(const T* from, const U* to, size_t n, Similarity* out) {
  double fx = 0, fy = 0, tx = 0, ty = 0;
  for (size_t i = 0; i < n; ++i) {
    fx += double(from[2 * i]);
    fy += double(from[2 * i + 1]);
    tx += double(to[2 * i]);
    ty += double(to[2 * i + 1]);
  }
  fx /= double(n), fy /= double(n), tx /= double(n), ty /= double(n);
  double sxx = 0, dot = 0, cross = 0;
  for (size_t i = 0; i < n; ++i) {
    const double ax = double(from[2 * i]) - fx, ay = double(from[2 * i + 1]) - fy;
    const double bx = double(to[2 * i]) - tx, by = double(to[2 * i + 1]) - ty;
    sxx += ax * ax + ay * ay;
    dot += ax * bx + ay * by;
    cross += ax * by - ay * bx;
  }
  if (!(sxx > 1e-12) || !std::isfinite(sxx) || !std::isfinite(dot) || !std::isfinite(cross)) return false;
  Similarity s;
  s.a = dot / sxx;
  s.b = cross / sxx;
  s.tx = tx - (s.a * fx - s.b * fy);
  s.ty = ty - (s.b * fx + s.a * fy);
  *out = s;
  return true;
}

}  // namespace faceindex::vision
