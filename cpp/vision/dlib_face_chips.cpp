// dlib's face chips as its Python compute_face_descriptor makes them, one face at a
// time: get_face_chip_details(shape, 150, 0.25) and extract_image_chips. Faces whose
// chip is much larger than 150x150 are sampled from pyramid_down<2> levels of the crop
// around them (dlib does this to avoid aliasing), so we build the same levels.
#include "faceindex/dlib_face_chips.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "faceindex/dlib_geometry.h"
#include "faceindex/similarity.h"

namespace faceindex::vision {

using dlib_compat::DRect;
using dlib_compat::Rect;
using dlib_compat::rect_down_2;

namespace {

struct RgbView {
  const uint8_t* data;
  long rows, cols, stride;  // stride in bytes
  const uint8_t* at(long r, long c) const { return data + r * stride + c * 3; }
};

struct RgbImage {
  std::vector<uint8_t> pixels;
  long rows = 0, cols = 0;
  RgbView view() const { return {pixels.data(), rows, cols, cols * 3}; }
};

// dlib's pyramid_down<2> (impl::pyramid_down_2_1) for RGB: 5x5 binomial filter, every
// other row and column, in 16-bit integers.
RgbImage pyramid_down_2(const RgbView& in) {
  RgbImage out;
  if (in.rows <= 8 || in.cols <= 8) return out;
  const long tc = (in.cols - 3) / 2;
  out.rows = (in.rows - 3) / 2;
  out.cols = tc;
  out.pixels.assign(size_t(out.rows * out.cols * 3), 0);
  std::vector<uint16_t> temp(size_t(in.rows * tc * 3));
  for (long r = 0; r < in.rows; ++r) {
    for (long c = 0, oc = 0; c < tc; ++c, oc += 2) {
      for (int ch = 0; ch < 3; ++ch) {
        const uint16_t p1 = in.at(r, oc)[ch], p2 = in.at(r, oc + 1)[ch], p3 = in.at(r, oc + 2)[ch];
        const uint16_t p4 = in.at(r, oc + 3)[ch], p5 = in.at(r, oc + 4)[ch];
        temp[size_t((r * tc + c) * 3 + ch)] = uint16_t(p1 + p2 * 4 + p3 * 6 + p4 * 4 + p5);
      }
    }
  }
  long dr = 0;
  for (long r = 2; r < in.rows - 2; r += 2, ++dr) {
    for (long c = 0; c < tc; ++c) {
      for (int ch = 0; ch < 3; ++ch) {
        auto t = [&](long rr) { return unsigned(temp[size_t((rr * tc + c) * 3 + ch)]); };
        const uint16_t sum = uint16_t(t(r - 2) + t(r - 1) * 4 + t(r) * 6 + t(r + 1) * 4 + t(r + 2));
        out.pixels[size_t((dr * tc + c) * 3 + ch)] = uint8_t(sum / 256);
      }
    }
  }
  return out;
}

struct Point {
  double x, y;
};

Point rotate_point(Point center, Point p, double angle) {
  const double s = std::sin(angle), c = std::cos(angle);
  const double x = p.x - center.x, y = p.y - center.y;
  return {c * x - s * y + center.x, s * x + c * y + center.y};
}

uint8_t to_pixel(double v) {  // dlib's assign_pixel(unsigned char&, double): clamp, truncate
  if (v <= 0) return 0;
  if (v >= 255) return 255;
  return uint8_t(v);
}

// transform_image(img, chip, interpolate_bilinear(), trns): black outside the image.
void sample_chip(const RgbView& src, const double m[6], long size, uint8_t* chip) {
  for (long r = 0; r < size; ++r) {
    for (long c = 0; c < size; ++c) {
      const double x = m[0] * double(c) + m[1] * double(r) + m[2];
      const double y = m[3] * double(c) + m[4] * double(r) + m[5];
      uint8_t* out = chip + (r * size + c) * 3;
      const long left = long(std::floor(x)), top = long(std::floor(y));
      const long right = left + 1, bottom = top + 1;
      if (!(left >= 0 && top >= 0 && right < src.cols && bottom < src.rows)) {
        out[0] = out[1] = out[2] = 0;
        continue;
      }
      const double lr = x - double(left), tb = y - double(top);
      const uint8_t *tl = src.at(top, left), *tr = src.at(top, right);
      const uint8_t *bl = src.at(bottom, left), *br = src.at(bottom, right);
      for (int ch = 0; ch < 3; ++ch) {
        out[ch] = to_pixel((1 - tb) * ((1 - lr) * tl[ch] + lr * tr[ch]) + tb * ((1 - lr) * bl[ch] + lr * br[ch]));
      }
    }
  }
}

}  // namespace

void dlib_extract_face_chip(const uint8_t* rgb, long rows, long cols, const float* landmarks, long size,
                            double padding, uint8_t* chip) {
  // get_face_chip_details: the 5 points of the mean face (dlib's constants), padded.
  static const double kMeanFace[5][2] = {{0.8595674595992, 0.2134981538014},
                                         {0.6460604764104, 0.2289674387677},
                                         {0.1205750620789, 0.2137274526848},
                                         {0.3340850613712, 0.2290642403242},
                                         {0.4901123135679, 0.6277975316475}};
  double from[10];
  for (int i = 0; i < 5; ++i) {
    from[2 * i] = (padding + kMeanFace[i][0]) / (2 * padding + 1) * double(size);
    from[2 * i + 1] = (padding + kMeanFace[i][1]) / (2 * padding + 1) * double(size);
  }
  // The padded mean face's points never coincide and the bindings pass finite landmarks
  // only, so the fit always succeeds.
  Similarity tform;
  fit_similarity(from, landmarks, 5, &tform);
  const double angle = std::atan2(tform.b, tform.a);
  const double scale = std::sqrt(tform.a * tform.a + tform.b * tform.b);
  const double half = double(size) / 2.0;
  const DRect chip_rect = dlib_compat::centered_drect(tform.x(half, half), tform.y(half, half),
                                                      double(size) * scale, double(size) * scale);
  const double chip_area = double(size) * double(size);

  // extract_image_chips: how deep a pyramid, and the crop it is built from.
  long depth = 0;
  double grow = 2;
  for (DRect r = rect_down_2(chip_rect); r.area() > chip_area; r = rect_down_2(r)) {
    ++depth;
    grow = grow * 2 + 2;
  }
  const Point center{chip_rect.cx(), chip_rect.cy()};
  const Point corners[4] = {rotate_point(center, {chip_rect.left, chip_rect.top}, angle),
                            rotate_point(center, {chip_rect.right, chip_rect.top}, angle),
                            rotate_point(center, {chip_rect.left, chip_rect.bottom}, angle),
                            rotate_point(center, {chip_rect.right, chip_rect.bottom}, angle)};
  DRect rot{corners[0].x, corners[0].y, corners[0].x, corners[0].y};
  for (const Point& p : corners) {
    rot.left = std::min(rot.left, p.x), rot.top = std::min(rot.top, p.y);
    rot.right = std::max(rot.right, p.x), rot.bottom = std::max(rot.bottom, p.y);
  }
  const DRect grown{std::max(rot.left - grow, 0.0), std::max(rot.top - grow, 0.0),
                    std::min(rot.right + grow, double(cols - 1)), std::min(rot.bottom + grow, double(rows - 1))};
  const Rect box = dlib_compat::intersect(dlib_compat::to_rect(grown), Rect{0, 0, cols - 1, rows - 1});
  if (box.empty()) {  // the chip lies wholly outside the image
    std::memset(chip, 0, size_t(size * size * 3));
    return;
  }
  const RgbView crop{rgb + (box.top * cols + box.left) * 3, box.height(), box.width(), cols * 3};

  if (angle == 0 && double(size) == chip_rect.height() && double(size) == chip_rect.width()) {
    // No rotation or scaling: dlib copies the pixels (basic_extract_image_chip).
    const Rect loc = dlib_compat::to_rect(chip_rect);
    for (long r = 0; r < size; ++r)
      for (long c = 0; c < size; ++c) {
        const long y = loc.top + r, x = loc.left + c;
        uint8_t* out = chip + (r * size + c) * 3;
        if (y >= 0 && x >= 0 && y < rows && x < cols)
          std::memcpy(out, rgb + (y * cols + x) * 3, 3);
        else
          out[0] = out[1] = out[2] = 0;
      }
    return;
  }

  std::vector<RgbImage> levels;
  for (long i = 0; i < depth; ++i) levels.push_back(pyramid_down_2(i == 0 ? crop : levels.back().view()));

  long level = -1;
  DRect rect{chip_rect.left - double(box.left), chip_rect.top - double(box.top), chip_rect.right - double(box.left),
             chip_rect.bottom - double(box.top)};
  while (rect_down_2(rect).area() > chip_area) {
    ++level;
    rect = rect_down_2(rect);
  }
  // The affine map taking the chip's corners (0,0), (size-1,0), (0,size-1) to the rotated rect's.
  const Point rc{rect.cx(), rect.cy()};
  const Point tl = rotate_point(rc, {rect.left, rect.top}, angle);
  const Point tr = rotate_point(rc, {rect.right, rect.top}, angle);
  const Point bl = rotate_point(rc, {rect.left, rect.bottom}, angle);
  const double n = double(size - 1);
  const double m[6] = {(tr.x - tl.x) / n, (bl.x - tl.x) / n, tl.x, (tr.y - tl.y) / n, (bl.y - tl.y) / n, tl.y};
  sample_chip(level < 0 ? crop : levels[size_t(level)].view(), m, size, chip);
}

void dlib_normalize_rgb(const uint8_t* rgb, long rows, long cols, const float means[3], float* out) {
  const long plane = rows * cols;
  for (long i = 0; i < plane; ++i)
    for (int ch = 0; ch < 3; ++ch) out[ch * plane + i] = (float(rgb[3 * i + ch]) - means[ch]) / 256.0f;
}

void dlib_pyramid_up(const uint8_t* rgb, long rows, long cols, uint8_t* out, long out_rows, long out_cols) {
  // resize_image(in, out, interpolate_bilinear) on RGB: scale (in-1)/(out-1), edge clamped.
  const double x_scale = (cols - 1) / double(std::max<long>(out_cols - 1, 1));
  const double y_scale = (rows - 1) / double(std::max<long>(out_rows - 1, 1));
  for (long r = 0; r < out_rows; ++r) {
    const double y = double(r) * y_scale;
    const long top = long(std::floor(y)), bottom = std::min(top + 1, rows - 1);
    const double tb = y - double(top);
    for (long c = 0; c < out_cols; ++c) {
      const double x = double(c) * x_scale;
      const long left = long(std::floor(x)), right = std::min(left + 1, cols - 1);
      const double lr = x - double(left);
      const uint8_t *tl = rgb + (top * cols + left) * 3, *tr = rgb + (top * cols + right) * 3;
      const uint8_t *bl = rgb + (bottom * cols + left) * 3, *br = rgb + (bottom * cols + right) * 3;
      uint8_t* o = out + (r * out_cols + c) * 3;
      for (int ch = 0; ch < 3; ++ch)
        o[ch] = to_pixel((1 - tb) * ((1 - lr) * tl[ch] + lr * tr[ch]) + tb * ((1 - lr) * bl[ch] + lr * br[ch]));
    }
  }
}

}  // namespace faceindex::vision
