// Detector input preparation: the image resized with its aspect ratio kept,
// placed at the top-left of a fixed canvas, padded, normalised per channel and
// written as one NCHW float tensor.
#pragma once

#include <cstdint>

namespace faceindex::vision {

// How pixels become network input: out[c] = (pixel[src(c)] - mean[c]) * inv_std[c],
// where src(c) = c for RGB input and 2 - c for BGR input.
struct ChannelNorm {
  bool bgr = false;
  float mean[3] = {0, 0, 0};
  float inv_std[3] = {1, 1, 1};
};

// Where the image lands on the canvas: canvas = image * scale, content in
// [0, width) x [0, height), the rest padding.
struct LetterboxGeometry {
  float scale;
  int width;
  int height;
};

// The largest scale at which the whole image fits the canvas.
LetterboxGeometry letterbox_geometry(int image_height, int image_width, int canvas_height, int canvas_width);

// rgb: image_height x image_width x 3 uint8. out: 3 x canvas_height x canvas_width
// float. Bilinear resampling with pixel centres at +0.5 (as OpenCV's INTER_LINEAR);
// padding is pixel value 0 passed through the same normalisation.
void letterbox_nchw(const uint8_t* rgb, int image_height, int image_width, const LetterboxGeometry& geometry,
                    int canvas_height, int canvas_width, const ChannelNorm& norm, float* out);

}  // namespace faceindex::vision
