// dlib's loss_mmod_::to_label: every output position scoring above the threshold is a
// detector window centred on the position it maps to in the canvas, mapped back to the
// image; then greedy non-max suppression, highest score first, on integer rectangles.
#include "faceindex/dlib_mmod.h"

#include <algorithm>

namespace faceindex::vision {

using dlib_compat::DRect;
using dlib_compat::Rect;

namespace {

// dlib's test_box_overlap (note: "IoU" over the bounding box of the two, as dlib computes it).
bool overlaps(const Rect& a, const Rect& b, double iou_thresh, double covered_thresh) {
  const double inner = dlib_compat::intersect(a, b).area();
  if (inner == 0) return false;
  const double outer = dlib_compat::bounding_union(a, b).area();
  return inner / outer > iou_thresh || inner / a.area() > covered_thresh || inner / b.area() > covered_thresh;
}

}  // namespace

std::vector<DlibDetection> dlib_mmod_decode(const float* scores, long out_rows, long out_cols,
                                            const DlibTiledPyramid& pyramid, const DlibMmodConfig& cfg) {
  struct Candidate {
    DRect rect;
    double score;
  };
  std::vector<Candidate> candidates;
  if (pyramid.levels.empty()) return {};
  for (size_t k = 0; k < cfg.windows.size(); ++k) {
    const float* plane = scores + long(k) * out_rows * out_cols;
    for (long r = 0; r < out_rows; ++r) {
      for (long c = 0; c < out_cols; ++c) {
        const double score = plane[r * out_cols + c];
        if (!(score > cfg.threshold)) continue;
        const double x = double(c * cfg.scale_x + cfg.offset_x);
        const double y = double(r * cfg.scale_y + cfg.offset_y);
        const DRect window = dlib_compat::centered_drect(x, y, double(cfg.windows[k].first),
                                                         double(cfg.windows[k].second));
        candidates.push_back({dlib_pyramid_to_image(pyramid, window), score});
      }
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<DlibDetection> kept;
  for (const Candidate& cand : candidates) {
    const Rect rect = dlib_compat::to_rect(cand.rect);
    bool suppressed = false;
    for (const DlibDetection& k : kept) {
      if (overlaps(k.rect, rect, cfg.nms_iou, cfg.nms_covered)) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push_back({rect, cand.score});
  }
  return kept;
}

}  // namespace faceindex::vision
