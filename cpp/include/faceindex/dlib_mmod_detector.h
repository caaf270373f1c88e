// dlib's CNN face detector around its network: the image (upsampled 2x `upsample`
// times) tiled into the pyramid canvas the network reads, and the network's score map
// decoded back to rectangles of the image as given. The pyramid layout of an image
// size is computed once and kept: video frames and photo batches share their size.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "faceindex/dlib_mmod.h"
#include "faceindex/dlib_pyramid.h"

namespace faceindex::vision {

// Where one prepared image lies in its canvas, and how many times it was upsampled.
struct DlibCanvasLayout {
  DlibTiledPyramid pyramid;
  long upsample = 0;
};

class DlibMmodDetector {
 public:
  DlibMmodDetector(std::array<float, 3> means, long padding, long outer_padding, DlibMmodConfig decode);

  // The canvas size (height, width) for an image of rows x cols upsampled `upsample` times.
  std::shared_ptr<const DlibCanvasLayout> layout(long rows, long cols, long upsample) const;

  // Fills canvas (3 x layout.pyramid.height x layout.pyramid.width floats).
  void fill(const uint8_t* rgb, long rows, long cols, const DlibCanvasLayout& layout, float* canvas) const;

  // Detections in the coordinates of the image given to fill(), best first.
  std::vector<DlibDetection> decode(const float* scores, long out_rows, long out_cols,
                                    const DlibCanvasLayout& layout, double threshold) const;

  const DlibMmodConfig& config() const { return config_; }

 private:
  std::array<float, 3> means_;
  long padding_, outer_padding_;
  DlibMmodConfig config_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const DlibCanvasLayout> last_;  // the layout of the last image size
  mutable long last_rows_ = -1, last_cols_ = -1;
};

}  // namespace faceindex::vision
