#include <algorithm>
#include <cmath>

#include "faceindex/detector_decoders.h"

namespace faceindex::vision {

void decode_yunet(const YunetLevel& level, float score_threshold, std::vector<Detection>& out) {
  const float s = float(level.stride);
  for (int r = 0; r < level.rows; ++r) {
    for (int c = 0; c < level.cols; ++c) {
      const size_t i = size_t(r) * size_t(level.cols) + size_t(c);
      const float cls = std::clamp(level.cls[i], 0.0f, 1.0f);
      const float obj = std::clamp(level.obj[i], 0.0f, 1.0f);
      const float score = std::sqrt(cls * obj);
      if (!(score >= score_threshold)) continue;
      const float* b = level.boxes + 4 * i;
      const float cx = (float(c) + b[0]) * s, cy = (float(r) + b[1]) * s;
      const float w = std::exp(b[2]) * s, h = std::exp(b[3]) * s;
      Detection det{cx - 0.5f * w, cy - 0.5f * h, cx + 0.5f * w, cy + 0.5f * h, score, {}};
      const float* k = level.landmarks + 10 * i;
      for (int j = 0; j < kLandmarks; ++j) {
        det.landmarks[2 * j] = (float(c) + k[2 * j]) * s;
        det.landmarks[2 * j + 1] = (float(r) + k[2 * j + 1]) * s;
      }
      if (is_finite(det, true)) out.push_back(det);
    }
  }
}

}  // namespace faceindex::vision
