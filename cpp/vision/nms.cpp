#include <algorithm>
#include <cmath>

#include "faceindex/detection.h"

namespace faceindex::vision {

float intersection_over_union(const Detection& a, const Detection& b) {
  const float iw = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float ih = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (iw <= 0.0f || ih <= 0.0f) return 0.0f;
  const float inter = iw * ih;
  const float area_a = std::max(0.0f, a.x2 - a.x1) * std::max(0.0f, a.y2 - a.y1);
  const float area_b = std::max(0.0f, b.x2 - b.x1) * std::max(0.0f, b.y2 - b.y1);
  const float uni = area_a + area_b - inter;
  return uni > 0.0f ? inter / uni : 0.0f;
}

std::vector<Detection> non_maximum_suppression(std::vector<Detection> candidates, float iou_threshold,
                                               size_t top_k) {
  auto by_score = [](const Detection& a, const Detection& b) { return a.score > b.score; };
  if (candidates.size() > top_k) {
    std::partial_sort(candidates.begin(), candidates.begin() + std::ptrdiff_t(top_k), candidates.end(), by_score);
    candidates.resize(top_k);
  } else {
    // Stable: equal scores keep the decoders' order, so results are reproducible.
    std::stable_sort(candidates.begin(), candidates.end(), by_score);
  }
  std::vector<Detection> kept;
  std::vector<bool> suppressed(candidates.size(), false);
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (suppressed[i]) continue;
    kept.push_back(candidates[i]);
    for (size_t j = i + 1; j < candidates.size(); ++j)
      if (!suppressed[j] && intersection_over_union(candidates[i], candidates[j]) > iou_threshold)
        suppressed[j] = true;
  }
  return kept;
}

void unscale(std::vector<Detection>& detections, float scale) {
  const float inv = 1.0f / scale;
  for (Detection& d : detections) {
    d.x1 *= inv;
    d.y1 *= inv;
    d.x2 *= inv;
    d.y2 *= inv;
    for (float& v : d.landmarks) v *= inv;
  }
}

}  // namespace faceindex::vision
