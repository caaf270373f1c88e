// dlib's face chips: get_face_chip_details (5-point similarity to a mean face, padding)
// and extract_image_chips (pyramid_down<2> levels for large faces, bilinear sampling).
#pragma once

#include <cstdint>

namespace faceindex::vision {

// landmarks: the 5 parts of dlib's 5-point predictor as (x, y), in dlib's order.
// chip: size x size x 3 RGB, black outside the image.
void dlib_extract_face_chip(const uint8_t* rgb, long rows, long cols, const float* landmarks,
                            long size, double padding, uint8_t* chip);

// Planar float input for dlib's networks: (pixel - mean) / 256, HWC uint8 -> CHW float.
void dlib_normalize_rgb(const uint8_t* rgb, long rows, long cols, const float means[3], float* out);

// dlib's pyramid_up with pyramid_down<2>: the image at about twice the size.
// Output size: out_rows = 2*rows + 1, out_cols = 2*cols + 2 (dlib's rect_up of the image rect).
void dlib_pyramid_up(const uint8_t* rgb, long rows, long cols, uint8_t* out, long out_rows, long out_cols);

}  // namespace faceindex::vision
