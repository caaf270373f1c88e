#include "faceindex/frame_signature.h"

#include <algorithm>
#include <cmath>

namespace faceindex::vision {

void frame_signature(const uint8_t* rgb, int height, int width, float* out) {
  std::fill(out, out + kSignatureSize, 0.0f);
  // About 64 x 64 samples whatever the frame size: enough for a histogram, cheap at 4K.
  const int step_y = std::max(1, height / 64), step_x = std::max(1, width / 64);
  double counts[kSignatureSize] = {};
  double samples = 0;
  for (int y = step_y / 2; y < height; y += step_y) {
    const uint8_t* row = rgb + size_t(y) * size_t(width) * 3;
    for (int x = step_x / 2; x < width; x += step_x) {
      const uint8_t* px = row + size_t(x) * 3;
      for (int ch = 0; ch < 3; ++ch) counts[ch * kSignatureBins + px[ch] * kSignatureBins / 256] += 1;
      samples += 1;
    }
  }
  for (int i = 0; i < kSignatureSize; ++i) out[i] = float(counts[i] / samples);
}

float signature_distance(const float* a, const float* b) {
  double l1 = 0;
  for (int i = 0; i < kSignatureSize; ++i) l1 += std::fabs(double(a[i]) - double(b[i]));
  return float(l1 / 6.0);  // each channel's L1 is at most 2
}

}  // namespace faceindex::vision
