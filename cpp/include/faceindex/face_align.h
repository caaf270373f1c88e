// Face alignment for recognizers: the least-squares similarity transform
// (Umeyama) of detected landmarks onto a template, and the bilinear warp that
// cuts the aligned chip, for many faces at once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "faceindex/letterbox.h"

namespace faceindex::vision {

// x' = a*x - b*y + tx, y' = b*x + a*y + ty: rotation, uniform scale, translation.
struct Similarity {
  double a, b, tx, ty;
};

// The similarity minimising sum |T(src_i) - dst_i|^2 over n points (x, y pairs);
// in 2-D this closed form equals Umeyama's SVD solution without reflection.
// Returns false when the source points coincide (no transform is defined).
bool estimate_similarity(const float* src, const float* dst, int n, Similarity* out);

// Chips of size x size, sampled bilinearly at T^-1(x, y) for each output pixel;
// samples outside the image read as 0. transforms: one per face.
void warp_chips_hwc(const uint8_t* rgb, int height, int width, const Similarity* transforms, size_t n, int size,
                    uint8_t* out);
void warp_chips_nchw(const uint8_t* rgb, int height, int width, const Similarity* transforms, size_t n, int size,
                     const ChannelNorm& norm, float* out);

}  // namespace faceindex::vision
