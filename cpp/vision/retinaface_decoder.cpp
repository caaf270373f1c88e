#include <cmath>

#include "faceindex/detector_decoders.h"

namespace faceindex::vision {
namespace {

// Pytorch_Retinaface's cfg_mnet / cfg_re50: strides and the two prior sizes
// (pixels) of each.
constexpr int kSteps[3] = {8, 16, 32};
constexpr int kSizes[3][2] = {{16, 32}, {64, 128}, {256, 512}};
constexpr float kCentreVariance = 0.1f;
constexpr float kSizeVariance = 0.2f;

int cells(int side, int step) { return (side + step - 1) / step; }

}  // namespace

int retinaface_prior_count(const RetinafacePriors& p) {
  int n = 0;
  for (int k = 0; k < 3; ++k) n += cells(p.canvas_height, kSteps[k]) * cells(p.canvas_width, kSteps[k]) * 2;
  return n;
}

void decode_retinaface(const RetinafacePriors& p, const float* loc, const float* conf, const float* landmarks,
                       float score_threshold, std::vector<Detection>& out) {
  size_t i = 0;
  for (int k = 0; k < 3; ++k) {
    const int step = kSteps[k];
    const int rows = cells(p.canvas_height, step), cols = cells(p.canvas_width, step);
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) {
        for (int size : kSizes[k]) {
          const size_t prior = i++;
          const float score = conf[2 * prior + 1];
          if (!(score >= score_threshold)) continue;
          // Priors in pixels: centre of the cell, square of `size`.
          const float pcx = (float(c) + 0.5f) * float(step), pcy = (float(r) + 0.5f) * float(step);
          const float pw = float(size);
          const float* l = loc + 4 * prior;
          const float cx = pcx + l[0] * kCentreVariance * pw;
          const float cy = pcy + l[1] * kCentreVariance * pw;
          const float w = pw * std::exp(l[2] * kSizeVariance);
          const float h = pw * std::exp(l[3] * kSizeVariance);
          Detection det{cx - 0.5f * w, cy - 0.5f * h, cx + 0.5f * w, cy + 0.5f * h, score, {}};
          const float* m = landmarks + 10 * prior;
          for (int j = 0; j < kLandmarks; ++j) {
            det.landmarks[2 * j] = pcx + m[2 * j] * kCentreVariance * pw;
            det.landmarks[2 * j + 1] = pcy + m[2 * j + 1] * kCentreVariance * pw;
          }
          if (is_finite(det, true)) out.push_back(det);
        }
      }
    }
  }
}

}  // namespace faceindex::vision
