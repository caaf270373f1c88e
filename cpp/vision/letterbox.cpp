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
  int src_channel[3];
  float pad[3];
  for (int c = 0; c < 3; ++c) {
    src_channel[c] = norm.bgr ? 2 - c : c;
    pad[c] = (0.0f - norm.mean[c]) * norm.inv_std[c];
  }
  const size_t tasks = size_t((canvas_height + kRowsPerTask - 1) / kRowsPerTask);
  const size_t threads = plane >= 64 * 1024 ? num_threads() : 1;
  parallel_for(tasks, threads, [&](size_t task, size_t) {
    const int y_begin = int(task) * kRowsPerTask;
    const int y_end = std::min(canvas_height, y_begin + kRowsPerTask);
    for (int y = y_begin; y < y_end; ++y) {
      float* rows[3];
      for (int c = 0; c < 3; ++c) rows[c] = out + size_t(c) * plane + size_t(y) * size_t(canvas_width);
      int x = 0;
      if (y < g.height) {
        const Tap ty = ys[size_t(y)];
        const uint8_t* r0 = rgb + size_t(ty.i0) * size_t(image_width) * 3;
        const uint8_t* r1 = rgb + size_t(ty.i1) * size_t(image_width) * 3;
        const float wy1 = ty.w1, wy0 = 1.0f - ty.w1;
        for (; x < g.width; ++x) {
          const Tap tx = xs[size_t(x)];
          const float wx1 = tx.w1, wx0 = 1.0f - tx.w1;
          const uint8_t* p00 = r0 + 3 * tx.i0;
          const uint8_t* p01 = r0 + 3 * tx.i1;
          const uint8_t* p10 = r1 + 3 * tx.i0;
          const uint8_t* p11 = r1 + 3 * tx.i1;
          for (int c = 0; c < 3; ++c) {
            const int s = src_channel[c];
            const float top = wx0 * float(p00[s]) + wx1 * float(p01[s]);
            const float bottom = wx0 * float(p10[s]) + wx1 * float(p11[s]);
            rows[c][x] = (wy0 * top + wy1 * bottom - norm.mean[c]) * norm.inv_std[c];
          }
        }
      }
      for (int c = 0; c < 3; ++c) std::fill(rows[c] + x, rows[c] + canvas_width, pad[c]);
    }
  });
}

}  // namespace faceindex::vision
