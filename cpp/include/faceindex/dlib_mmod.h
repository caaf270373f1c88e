// Decoding the mmod detector's score map into face rectangles: dlib's loss_mmod_::to_label
// (sliding detector windows, score threshold, non-max suppression).
#pragma once

#include <vector>

#include "faceindex/dlib_geometry.h"
#include "faceindex/dlib_pyramid.h"

namespace faceindex::vision {

struct DlibMmodConfig {
  std::vector<std::pair<long, long>> windows;  // detector window (width, height) per output channel
  long scale_y = 1, offset_y = 0, scale_x = 1, offset_x = 0;  // output position -> canvas position
  double threshold = 0;  // scores above this are detections
  double nms_iou = 0.5;  // overlapping boxes: IoU above this ...
  double nms_covered = 1.0;  // ... or this fraction of either box covered
};

struct DlibDetection {
  dlib_compat::Rect rect;
  double score;
};

// scores: windows.size() x out_rows x out_cols, highest score first on return.
std::vector<DlibDetection> dlib_mmod_decode(const float* scores, long out_rows, long out_cols,
                                            const DlibTiledPyramid& pyramid,
                                            const DlibMmodConfig& config);

}  // namespace faceindex::vision
