#include "faceindex/dlib_mmod_detector.h"

#include <utility>

#include "faceindex/dlib_face_chips.h"
#include "faceindex/dlib_geometry.h"

namespace faceindex::vision {

using dlib_compat::DRect;
using dlib_compat::Rect;

DlibMmodDetector::DlibMmodDetector(std::array<float, 3> means, long padding, long outer_padding,
                                   DlibMmodConfig decode)
    : means_(means), padding_(padding), outer_padding_(outer_padding), config_(std::move(decode)) {}

std::shared_ptr<const DlibCanvasLayout> DlibMmodDetector::layout(long rows, long cols, long upsample) const {
  // pyramid_up of rows x cols gives (2 rows + 1) x (2 cols + 2).
  for (long i = 0; i < upsample; ++i) rows = 2 * rows + 1, cols = 2 * cols + 2;
  std::lock_guard<std::mutex> lock(mutex_);
  if (last_ && rows == last_rows_ && cols == last_cols_ && last_->upsample == upsample) return last_;
  auto made = std::make_shared<DlibCanvasLayout>();
  made->pyramid = dlib_pyramid_layout(rows, cols, padding_, outer_padding_);
  made->upsample = upsample;
  last_ = made, last_rows_ = rows, last_cols_ = cols;
  return made;
}

void DlibMmodDetector::fill(const uint8_t* rgb, long rows, long cols, const DlibCanvasLayout& layout,
                            float* canvas) const {
  std::vector<uint8_t> up, next;
  const uint8_t* image = rgb;
  for (long i = 0; i < layout.upsample; ++i) {
    const long up_rows = 2 * rows + 1, up_cols = 2 * cols + 2;
    next.resize(size_t(up_rows) * size_t(up_cols) * 3);
    dlib_pyramid_up(image, rows, cols, next.data(), up_rows, up_cols);
    up.swap(next);
    image = up.data(), rows = up_rows, cols = up_cols;
  }
  dlib_fill_pyramid(image, rows, cols, means_.data(), layout.pyramid, canvas);
}

std::vector<DlibDetection> DlibMmodDetector::decode(const float* scores, long out_rows, long out_cols,
                                                    const DlibCanvasLayout& layout, double threshold) const {
  DlibMmodConfig config = config_;
  config.threshold = threshold;
  std::vector<DlibDetection> found = dlib_mmod_decode(scores, out_rows, out_cols, layout.pyramid, config);
  if (layout.upsample == 0) return found;
  // Back from the upsampled image: rect_down once per pyramid_up, rounded once at the end.
  for (DlibDetection& d : found) {
    DRect r{double(d.rect.left), double(d.rect.top), double(d.rect.right), double(d.rect.bottom)};
    for (long i = 0; i < layout.upsample; ++i) r = dlib_compat::rect_down_2(r);
    d.rect = dlib_compat::to_rect(r);
  }
  return found;
}

}  // namespace faceindex::vision
