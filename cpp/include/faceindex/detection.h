// A detected face in the decoders' common form, and non-maximum suppression.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace faceindex::vision {

constexpr int kLandmarks = 5;

struct Detection {
  float x1, y1, x2, y2;
  float score;
  float landmarks[2 * kLandmarks];  // x, y pairs; NaN when the detector gives none
};

// Box and score finite, and the landmarks too when the detector gives them.
inline bool is_finite(const Detection& d, bool with_landmarks) {
  if (!(std::isfinite(d.x1) && std::isfinite(d.y1) && std::isfinite(d.x2) && std::isfinite(d.y2) &&
        std::isfinite(d.score)))
    return false;
  if (with_landmarks)
    for (float v : d.landmarks)
      if (!std::isfinite(v)) return false;
  return true;
}

// Greedy NMS: keeps the highest-scoring detections, dropping any whose IoU with
// a kept one exceeds iou_threshold. Only the `top_k` best candidates enter
// (bounding the quadratic cost when thresholds are low). Returns kept detections,
// best first.
std::vector<Detection> non_maximum_suppression(std::vector<Detection> candidates, float iou_threshold,
                                               size_t top_k);

float intersection_over_union(const Detection& a, const Detection& b);

// Maps canvas coordinates back to the image: divides boxes and landmarks by scale.
void unscale(std::vector<Detection>& detections, float scale);

}  // namespace faceindex::vision
