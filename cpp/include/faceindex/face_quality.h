// Image quality of detected faces: brightness and sharpness measured on the
// face box resampled to a fixed size, so that they compare across face sizes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace faceindex::vision {

constexpr int kQualitySide = 64;  // the face box is resampled to this square

struct FaceQuality {
  float sharpness;   // variance of the 4-neighbour Laplacian, gray levels squared
  float brightness;  // mean luma, 0..1
};

// rgb: height x width x 3 uint8; boxes: n x 4 (x1, y1, x2, y2) pixels.
// A box that lies outside the image gets {0, 0}.
void face_quality(const uint8_t* rgb, int height, int width, const float* boxes, size_t n,
                  FaceQuality* out);

}  // namespace faceindex::vision
