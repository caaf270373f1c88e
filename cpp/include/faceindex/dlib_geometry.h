// dlib's rectangle conventions, reproduced so that our boxes and landmarks land on
// the same pixels as dlib's: integer rectangles are inclusive (width = right-left+1),
// real-valued ones round to integers with floor(x + 0.5).
#pragma once

#include <algorithm>
#include <cmath>

namespace faceindex::vision::dlib_compat {

struct Rect {  // dlib::rectangle
  long left = 0, top = 0, right = -1, bottom = -1;
  bool empty() const { return top > bottom || left > right; }
  long width() const { return empty() ? 0 : right - left + 1; }
  long height() const { return empty() ? 0 : bottom - top + 1; }
  double area() const { return double(width()) * double(height()); }
  bool contains(long x, long y) const { return left <= x && x <= right && top <= y && y <= bottom; }
};

struct DRect {  // dlib::drectangle
  double left = 0, top = 0, right = -1, bottom = -1;
  bool empty() const { return top > bottom || left > right; }
  double width() const { return empty() ? 0 : right - left + 1; }
  double height() const { return empty() ? 0 : bottom - top + 1; }
  double area() const { return width() * height(); }
  double cx() const { return (left + right) / 2; }
  double cy() const { return (top + bottom) / 2; }
};

inline long round_half_up(double v) { return long(std::floor(v + 0.5)); }

inline Rect to_rect(const DRect& r) {
  return {round_half_up(r.left), round_half_up(r.top), round_half_up(r.right), round_half_up(r.bottom)};
}

inline Rect intersect(const Rect& a, const Rect& b) {
  return {std::max(a.left, b.left), std::max(a.top, b.top), std::min(a.right, b.right),
          std::min(a.bottom, b.bottom)};
}

// dlib's rectangle + rectangle: the smallest rectangle holding both (empty ones ignored).
inline Rect bounding_union(const Rect& a, const Rect& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return {std::min(a.left, b.left), std::min(a.top, b.top), std::max(a.right, b.right),
          std::max(a.bottom, b.bottom)};
}

// pyramid_down<2>::rect_down: each corner p -> p/2 - (1.25, 0.75). Undoes one pyramid_up.
inline DRect rect_down_2(const DRect& r) {
  return {r.left / 2.0 - 1.25, r.top / 2.0 - 0.75, r.right / 2.0 - 1.25, r.bottom / 2.0 - 0.75};
}

// dlib::centered_drect(p, width, height)
inline DRect centered_drect(double x, double y, double width, double height) {
  width -= 1;
  height -= 1;
  return {x - width / 2, y - height / 2, x + width / 2, y + height / 2};
}

}  // namespace faceindex::vision::dlib_compat
