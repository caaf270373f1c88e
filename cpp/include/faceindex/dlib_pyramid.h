// The mmod detector's input: dlib's input_rgb_image_pyramid<pyramid_down<6>>, the image
// and its 5/6-scaled copies tiled into one canvas, and the way back from canvas
// coordinates to image coordinates.
#pragma once

#include <cstdint>
#include <vector>

#include "faceindex/dlib_geometry.h"

namespace faceindex::vision {

struct DlibTiledPyramid {
  std::vector<dlib_compat::Rect> levels;  // where each level sits in the canvas
  long height = 0;
  long width = 0;
};

// dlib's impl::compute_tiled_image_pyramid_details for pyramid_down<6>.
DlibTiledPyramid dlib_pyramid_layout(long rows, long cols, long padding, long outer_padding);

// Fills `canvas` (3 x height x width floats, planar RGB) with (pixel - mean)/256 for the
// first level and bilinear downscales of it for the others; the rest is 0.
void dlib_fill_pyramid(const uint8_t* rgb, long rows, long cols, const float means[3],
                       const DlibTiledPyramid& pyramid, float* canvas);

// A rectangle in canvas coordinates back in the image (dlib's tiled_pyramid_to_image).
dlib_compat::DRect dlib_pyramid_to_image(const DlibTiledPyramid& pyramid, const dlib_compat::DRect& r);

}  // namespace faceindex::vision
