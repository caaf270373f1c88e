#include "faceindex/letterbox.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "faceindex/parallel.h"

namespace faceindex::vision {
namespace {

// Source index pair and weight of the second for each destination coordinate.
struct Tap {
  int i0, i1;
  float w1;
};

std::vector<Tap> taps(int dst_size, int src_size, float scale) {
  std::vector<Tap> out(static_cast<size_t>(dst_size));
  const float inv = 1.0f / scale;
  for (int d = 0; d < dst_size; ++d) {
    float s = (float(d) + 0.5f) * inv - 0.5f;
    s = std::min(std::max(s, 0.0f), float(src_size - 1));
    const int i0 = std::min(int(s), src_size - 1);
    out[size_t(d)] = Tap{i0, std::min(i0 + 1, src_size - 1), s - float(i0)};
  }
  return out;
}

constexpr int kRowsPerTask = 16;

// The horizontal taps of one blended row into the three output planes; the
// channel order is a template argument so that the inner loop has no indirection.
template <bool kBgr>
void horizontal(const float* blended, const Tap* xs, int width, const ChannelNorm& norm, float* const rows[3]) {
  constexpr int s0 = kBgr ? 2 : 0, s1 = 1, s2 = kBgr ? 0 : 2;
  const float m0 = norm.mean[0], m1 = norm.mean[1], m2 = norm.mean[2];
  const float k0 = norm.inv_std[0], k1 = norm.inv_std[1], k2 = norm.inv_std[2];
  float* o0 = rows[0];
  float* o1 = rows[1];
  float* o2 = rows[2];
  for (int x = 0; x < width; ++x) {
    const Tap t = xs[x];
    const float* p = blended + 3 * t.i0;
    const float* q = blended + 3 * t.i1;
    const float w = t.w1;
    o0[x] = (p[s0] + w * (q[s0] - p[s0]) - m0) * k0;
    o1[x] = (p[s1] + w * (q[s1] - p[s1]) - m1) * k1;
    o2[x] = (p[s2] + w * (q[s2] - p[s2]) - m2) * k2;
  }
}

}  // namespace

LetterboxGeometry letterbox_geometry(int image_height, int image_width, int canvas_height, int canvas_width) {
  const double scale = std::min(double(canvas_width) / image_width, double(canvas_height) / image_height);
  // The small epsilon keeps an exact fit (scale * side == canvas side) from
  // losing its last row to rounding.
  const int w = std::clamp(int(std::floor(image_width * scale + 1e-3)), 1, canvas_width);
  const int h = std::clamp(int(std::floor(image_height * scale + 1e-3)), 1, canvas_height);
  return LetterboxGeometry{float(scale), w, h};
}

void letterbox_nchw(const uint8_t* rgb, int image_height, int image_width, const LetterboxGeometry& g,
                    int canvas_height, int canvas_width, const ChannelNorm& norm, float* out) {
  const std::vector<Tap> xs = taps(g.width, image_width, g.scale);
  const std::vector<Tap> ys = taps(g.height, image_height, g.scale);
  const size_t plane = size_t(canvas_height) * size_t(canvas_width);
  float pad[3];
  for (int c = 0; c < 3; ++c) pad[c] = (0.0f - norm.mean[c]) * norm.inv_std[c];
  const size_t tasks = size_t((canvas_height + kRowsPerTask - 1) / kRowsPerTask);
  const size_t threads = plane >= 64 * 1024 ? num_threads() : 1;
  const size_t row_values = size_t(image_width) * 3;
  parallel_for(tasks, threads, [&](size_t task, size_t) {
    // Vertical blend of the two source rows first: a contiguous loop the compiler
    // vectorises; the horizontal taps then read this one float row.
    std::vector<float> blended(row_values);
    const int y_begin = int(task) * kRowsPerTask;
    const int y_end = std::min(canvas_height, y_begin + kRowsPerTask);
    for (int y = y_begin; y < y_end; ++y) {
      float* rows[3];
      for (int c = 0; c < 3; ++c) rows[c] = out + size_t(c) * plane + size_t(y) * size_t(canvas_width);
      int x = 0;
      if (y < g.height) {
        const Tap ty = ys[size_t(y)];
        const uint8_t* r0 = rgb + size_t(ty.i0) * row_values;
        const uint8_t* r1 = rgb + size_t(ty.i1) * row_values;
        const float wy1 = ty.w1;
        float* b = blended.data();
        for (size_t i = 0; i < row_values; ++i) b[i] = float(r0[i]) + wy1 * (float(r1[i]) - float(r0[i]));
        if (norm.bgr)
          horizontal<true>(b, xs.data(), g.width, norm, rows);
        else
          horizontal<false>(b, xs.data(), g.width, norm, rows);
        x = g.width;
      }
      for (int c = 0; c < 3; ++c) std::fill(rows[c] + x, rows[c] + canvas_width, pad[c]);
    }
  });
}

}  // namespace faceindex::vision
