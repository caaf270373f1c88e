// The least-squares similarity transform between two point sets (what dlib's
// find_similarity_transform computes with Umeyama's method), in closed form for 2-D.
#pragma once

#include <cstddef>

namespace faceindex::vision::dlib_compat {

struct Similarity {  // to = [[a, -b], [b, a]] * from + (tx, ty)
  double a = 1, b = 0, tx = 0, ty = 0;
  double x(double px, double py) const { return a * px - b * py + tx; }
  double y(double px, double py) const { return b * px + a * py + ty; }
};

// from/to: n points as x0, y0, x1, y1, ...
template <typename T, typename U>
Similarity find_similarity(const T* from, const U* to, size_t n) {
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
  Similarity s;
  if (sxx > 0) {
    s.a = dot / sxx;
    s.b = cross / sxx;
  }
  s.tx = tx - (s.a * fx - s.b * fy);
  s.ty = ty - (s.b * fx + s.a * fy);
  return s;
}

}  // namespace faceindex::vision::dlib_compat
