#include "faceindex/face_quality.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace faceindex::vision {
namespace {

// Luma of the box resampled to side x side: each output pixel averages the
// source pixels its footprint covers (area resampling when shrinking, nearest
// source pixel when enlarging a small face).
void luma_patch(const uint8_t* rgb, int height, int width, float x1, float y1, float x2, float y2,
                int side, float* patch) {
  const float step_x = (x2 - x1) / side, step_y = (y2 - y1) / side;
  for (int oy = 0; oy < side; ++oy) {
    int sy0 = int(std::floor(y1 + oy * step_y));
    int sy1 = std::max(sy0 + 1, int(std::floor(y1 + (oy + 1) * step_y)));
    sy0 = std::clamp(sy0, 0, height - 1);
    sy1 = std::clamp(sy1, sy0 + 1, height);
    for (int ox = 0; ox < side; ++ox) {
      int sx0 = int(std::floor(x1 + ox * step_x));
      int sx1 = std::max(sx0 + 1, int(std::floor(x1 + (ox + 1) * step_x)));
      sx0 = std::clamp(sx0, 0, width - 1);
      sx1 = std::clamp(sx1, sx0 + 1, width);
      double sum = 0;
      for (int y = sy0; y < sy1; ++y) {
        const uint8_t* row = rgb + (size_t(y) * width + sx0) * 3;
        for (int x = sx0; x < sx1; ++x, row += 3) sum += 0.299 * row[0] + 0.587 * row[1] + 0.114 * row[2];
      }
      patch[oy * side + ox] = float(sum / (double(sy1 - sy0) * (sx1 - sx0)));
    }
  }
}

}  // namespace

void face_quality(const uint8_t* rgb, int height, int width, const float* boxes, size_t n,
                  FaceQuality* out) {
  const int side = kQualitySide;
  std::vector<float> patch(size_t(side) * side);
  for (size_t i = 0; i < n; ++i) {
    const float x1 = std::max(boxes[4 * i + 0], 0.0f), y1 = std::max(boxes[4 * i + 1], 0.0f);
    const float x2 = std::min(boxes[4 * i + 2], float(width)), y2 = std::min(boxes[4 * i + 3], float(height));
    if (!(x2 > x1 && y2 > y1)) {
      out[i] = FaceQuality{0.0f, 0.0f};
      continue;
    }
    luma_patch(rgb, height, width, x1, y1, x2, y2, side, patch.data());
    double sum = 0;
    for (float v : patch) sum += v;
    double lap_sum = 0, lap_sq = 0;
    for (int y = 1; y < side - 1; ++y) {
      for (int x = 1; x < side - 1; ++x) {
        const float* p = &patch[y * side + x];
        const double lap = double(p[-1]) + p[1] + p[-side] + p[side] - 4.0 * p[0];
        lap_sum += lap;
        lap_sq += lap * lap;
      }
    }
    const double count = double(side - 2) * (side - 2);
    const double mean_lap = lap_sum / count;
    out[i] = FaceQuality{float(lap_sq / count - mean_lap * mean_lap), float(sum / (double(side) * side) / 255.0)};
  }
}

}  // namespace faceindex::vision
