// Face alignment for recognizers: the bilinear warp that cuts aligned chips, for many
// faces at once, along similarity transforms (faceindex/similarity.h) of detected
// landmarks onto a template.
#pragma once

#include <cstddef>
#include <cstdint>

#include "faceindex/letterbox.h"
#include "faceindex/similarity.h"

namespace faceindex::vision {

// Chips of size x size, sampled bilinearly at T^-1(x, y) for each output pixel;
// samples outside the image read as 0. transforms: one per face.
void warp_chips_hwc(const uint8_t* rgb, int height, int width, const Similarity* transforms, size_t n, int size,
                    uint8_t* out);
void warp_chips_nchw(const uint8_t* rgb, int height, int width, const Similarity* transforms, size_t n, int size,
                     const ChannelNorm& norm, float* out);

}  // namespace faceindex::vision
