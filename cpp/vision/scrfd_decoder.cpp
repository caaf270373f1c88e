#include <limits>

#include "faceindex/detector_decoders.h"

namespace faceindex::vision {

void decode_scrfd(const ScrfdLevel& level, float score_threshold, std::vector<Detection>& out) {
  const int n = level.rows * level.cols * level.anchors;
  const float s = float(level.stride);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int i = 0; i < n; ++i) {
    const float score = level.scores[i];
    if (!(score >= score_threshold)) continue;
    const int cell = i / level.anchors;
    const float cx = float(cell % level.cols) * s;
    const float cy = float(cell / level.cols) * s;
    const float* d = level.boxes + 4 * size_t(i);
    Detection det{cx - d[0] * s, cy - d[1] * s, cx + d[2] * s, cy + d[3] * s, score, {}};
    if (level.landmarks) {
      const float* k = level.landmarks + 10 * size_t(i);
      for (int j = 0; j < kLandmarks; ++j) {
        det.landmarks[2 * j] = cx + k[2 * j] * s;
        det.landmarks[2 * j + 1] = cy + k[2 * j + 1] * s;
      }
    } else {
      for (float& v : det.landmarks) v = nan;
    }
    if (is_finite(det, level.landmarks != nullptr)) out.push_back(det);
  }
}

}  // namespace faceindex::vision
