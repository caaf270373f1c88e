// dlib's tiled image pyramid, built the way dlib 19.22+ builds it: in the network's
// input space, each level a bilinear resize of the one before (tt::resize_bilinear on
// the CPU, i.e. dlib's SSE resize_image for float images). We reproduce that code's
// float arithmetic, because the detector's scores near the threshold depend on it.
#include "faceindex/dlib_pyramid.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "faceindex/parallel.h"

namespace faceindex::vision {

using dlib_compat::DRect;
using dlib_compat::Rect;

namespace {

constexpr double kRate = 5.0 / 6.0;  // pyramid_down<6>: each level 5/6 of the one before

Rect translate(Rect r, long dx, long dy) { return {r.left + dx, r.top + dy, r.right + dx, r.bottom + dy}; }

// One channel of dlib's resize_image(float image, float image, interpolate_bilinear).
// The column positions do not depend on the row, so they are worked out once. dlib's
// 4-wide loop stops only when a lane would read past the source row, so its last group
// can write up to 3 values past the end of the destination row: into the canvas padding,
// which the network sees. We write them too.
struct ColumnPlan {
  std::vector<long> left, right;
  std::vector<float> frac;  // lr_frac
  std::vector<bool> vector_lane;  // computed by the 4-wide float loop (else the scalar tail)
};

ColumnPlan plan_columns(long in_cols, long out_cols, double x_scale) {
  ColumnPlan plan;
  auto push = [&](long left, long right, float frac, bool lane) {
    plan.left.push_back(left);
    plan.right.push_back(right);
    plan.frac.push_back(frac);
    plan.vector_lane.push_back(lane);
  };
  // Lanes start at x, x+s, x+2s, x+3s (x = -4s) in float and add 4s per step.
  const double x0 = -4 * x_scale;
  float lane[4] = {float(x0), float(x0 + x_scale), float(x0 + 2 * x_scale), float(x0 + 3 * x_scale)};
  const float step = float(4 * x_scale);
  long c = 0;
  for (;; c += 4) {
    int left[4];
    for (int j = 0; j < 4; ++j) {
      lane[j] += step;
      left[j] = int(lane[j]);  // truncation; lanes are >= 0 here, so floor
    }
    if (left[3] + 1 >= in_cols) break;
    for (int j = 0; j < 4; ++j) push(left[j], left[j] + 1, lane[j] - float(left[j]), true);
  }
  double x = -x_scale + double(c) * x_scale;
  for (; c < out_cols; ++c) {
    x += x_scale;
    const long left = long(std::floor(x));
    push(left, std::min(left + 1, in_cols - 1), float(x - double(left)), false);
  }
  return plan;
}

// dst_cols_room: how many columns may be written from the row start (the canvas edge).
void resize_plane(const float* src, long src_rows, long src_cols, float* dst, long dst_rows, long dst_cols,
                  long dst_cols_room, long stride) {
  if (dst_rows <= 0 || dst_cols <= 0 || src_rows <= 0 || src_cols <= 0) return;
  const double x_scale = (src_cols - 1) / double(std::max<long>(dst_cols - 1, 1));
  const double y_scale = (src_rows - 1) / double(std::max<long>(dst_rows - 1, 1));
  const ColumnPlan cols = plan_columns(src_cols, dst_cols, x_scale);
  const long n_cols = std::min<long>(long(cols.frac.size()), dst_cols_room);
  double y = -y_scale;
  for (long r = 0; r < dst_rows; ++r) {
    y += y_scale;
    const long top = long(std::floor(y));
    const long bottom = std::min(top + 1, src_rows - 1);
    const double tb_frac = y - double(top);
    const float tbf = float(tb_frac);
    const float inv_tbf = float(1 - tb_frac);
    const float* top_row = src + top * stride;
    const float* bottom_row = src + bottom * stride;
    float* out = dst + r * stride;
    for (long c = 0; c < n_cols; ++c) {
      const float tl = top_row[cols.left[c]], tr = top_row[cols.right[c]];
      const float bl = bottom_row[cols.left[c]], br = bottom_row[cols.right[c]];
      const float lr = cols.frac[c];
      if (cols.vector_lane[c]) {
        const float inv_lr = 1 - lr;
        const float tlf = inv_tbf * inv_lr, trf = inv_tbf * lr, blf = tbf * inv_lr, brf = tbf * lr;
        out[c] = tlf * tl + trf * tr + blf * bl + brf * br;
      } else {
        const float upper = (1 - lr) * tl + lr * tr;
        const float lower = (1 - lr) * bl + lr * br;
        out[c] = float((1 - tb_frac) * upper + tb_frac * lower);
      }
    }
  }
}

}  // namespace

DlibTiledPyramid dlib_pyramid_layout(long nr, long nc, long padding, long outer_padding) {
  DlibTiledPyramid p;
  if (nr * nc == 0) return p;
  const long min_height = 5;
  std::vector<Rect>& rects = p.levels;
  rects.push_back({0, 0, nc - 1, nr - 1});
  while (true) {
    nr = long(std::floor(kRate * nr));
    nc = long(std::floor(kRate * nc));
    if (nr * nc == 0 || nr < min_height) break;
    rects.push_back({0, 0, nc - 1, nr - 1});
  }
  long total_height = 0;
  for (const Rect& r : rects) total_height += r.height() + padding;
  total_height -= padding * 2;
  long height = 0, prev_width = 0;
  for (const Rect& r : rects) {
    // The first column goes down until the next level fits beside the previous one
    // and the column is at least half of the total height.
    if (r.width() <= rects[0].width() - prev_width - padding &&
        (height - rects[0].height()) * 2 >= (total_height - rects[0].height()))
      break;
    height += r.height() + padding;
    prev_width = r.width();
  }
  height -= padding;
  const long width = rects[0].width();
  p.height = height + outer_padding * 2;
  p.width = width + outer_padding * 2;

  long y = outer_padding;
  size_t i = 0;
  while (y < height + outer_padding && i < rects.size()) {
    rects[i] = translate(rects[i], outer_padding, y);
    y += rects[i].height() + padding;
    ++i;
  }
  y -= padding;
  while (i < rects.size()) {
    // Second column, bottom up, right aligned.
    const long x1 = outer_padding + width - 1, y1 = y - 1;
    Rect rect{x1 - rects[i].right, y1 - rects[i].bottom, x1, y1};
    if (!dlib_compat::intersect(rects[0], rect).empty()) break;
    rects[i] = rect;
    y -= rects[i].height() + padding;
    ++i;
  }
  rects.resize(i);
  return p;
}

void dlib_fill_pyramid(const uint8_t* rgb, long rows, long cols, const float means[3],
                       const DlibTiledPyramid& pyramid, float* canvas) {
  const long H = pyramid.height, W = pyramid.width;
  std::memset(canvas, 0, sizeof(float) * size_t(3 * H * W));
  if (pyramid.levels.empty()) return;
  const Rect& first = pyramid.levels[0];
  for (long ch = 0; ch < 3; ++ch) {
    float* plane = canvas + ch * H * W;
    for (long r = 0; r < rows; ++r) {
      float* out = plane + (first.top + r) * W + first.left;
      const uint8_t* in = rgb + r * cols * 3 + ch;
      for (long c = 0; c < cols; ++c) out[c] = (float(in[3 * c]) - means[ch]) / 256.0f;
    }
  }
  for (size_t i = 1; i < pyramid.levels.size(); ++i) {
    const Rect& s = pyramid.levels[i - 1];
    const Rect& d = pyramid.levels[i];
    parallel_for(3, num_threads(), [&](size_t ch, size_t) {
      float* plane = canvas + long(ch) * H * W;
      resize_plane(plane + s.top * W + s.left, s.height(), s.width(), plane + d.top * W + d.left, d.height(),
                   d.width(), W - d.left, W);
    });
  }
}

DRect dlib_pyramid_to_image(const DlibTiledPyramid& pyramid, const DRect& r) {
  const auto& rects = pyramid.levels;
  // dlib's nearest_rect(rects, point(dcenter(r))).
  const long px = dlib_compat::round_half_up(r.cx()), py = dlib_compat::round_half_up(r.cy());
  size_t level = 0;
  double best = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < rects.size(); ++i) {
    if (rects[i].contains(px, py)) {
      level = i;
      break;
    }
    const double nx = double(std::clamp(px, rects[i].left, rects[i].right));
    const double ny = double(std::clamp(py, rects[i].top, rects[i].bottom));
    const double d = std::sqrt((nx - px) * (nx - px) + (ny - py) * (ny - py));
    if (d < best) {
      best = d;
      level = i;
    }
  }
  const double ox = double(rects[level].left), oy = double(rects[level].top);
  double x1 = r.left - ox, y1 = r.top - oy, x2 = r.right - ox, y2 = r.bottom - oy;
  const double up = 6 / (6 - 1.0);  // pyramid_down<6>::point_up: p*N/(N-1) + 0.3
  for (size_t i = 0; i < level; ++i) {
    x1 = x1 * up + 0.3;
    y1 = y1 * up + 0.3;
    x2 = x2 * up + 0.3;
    y2 = y2 * up + 0.3;
  }
  return {x1, y1, x2, y2};
}

}  // namespace faceindex::vision
