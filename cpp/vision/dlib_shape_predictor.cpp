// dlib's shape_predictor::operator(): for each cascade level, read the feature pixels
// (offsets from the current shape's parts, rotated and scaled with it), then add the
// leaf of every tree. Arithmetic in float where dlib's is float, so pixels match.
#include "faceindex/dlib_shape_predictor.h"

#include <cmath>
#include <string>

#include "faceindex/similarity.h"
#include "faceindex/errors.h"

namespace faceindex::vision {

using dlib_compat::Rect;

void DlibShapePredictor::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw InvalidArgument("shape predictor: " + what);
  };
  need(num_parts > 0 && num_levels > 0 && num_trees > 0 && num_splits > 0 && num_features > 0,
       "empty model");
  need(long(initial_shape.size()) == 2 * num_parts, "initial shape size");
  need(long(anchor.size()) == num_levels * num_features, "anchor size");
  need(long(deltas.size()) == num_levels * num_features * 2, "deltas size");
  need(long(split_idx.size()) == num_levels * num_trees * num_splits * 2, "split index size");
  need(long(split_thresh.size()) == num_levels * num_trees * num_splits, "split threshold size");
  need(long(leaves.size()) == num_levels * num_trees * (num_splits + 1) * 2 * num_parts, "leaf size");
  for (uint32_t a : anchor) need(long(a) < num_parts, "anchor index out of range");
  for (uint32_t s : split_idx) need(long(s) < num_features, "split feature index out of range");
  // Offsets are in units of the face box (dlib's are well under 1): a bound keeps every
  // coordinate predict() computes finite, however many trees add up.
  auto bounded = [](const std::vector<float>& values) {
    for (float v : values)
      if (!(std::abs(v) <= 1e3f)) return false;  // NaN fails too
    return true;
  };
  need(bounded(initial_shape), "initial shape values must be finite, within 1e3");
  need(bounded(deltas), "deltas must be finite, within 1e3");
  need(bounded(leaves), "leaf values must be finite, within 1e3");
  for (float t : split_thresh) need(std::isfinite(t), "split thresholds must be finite");
}

void DlibShapePredictor::predict(const uint8_t* rgb, long rows, long cols, const Rect& box, float* out) const {
  std::vector<float> shape(initial_shape);
  std::vector<float> feature(static_cast<size_t>(num_features), 0.0f);
  // unnormalizing_tform(rect): (0,0) -> top-left, (1,1) -> bottom-right.
  const double w = double(box.right - box.left), h = double(box.bottom - box.top);
  const double l = double(box.left), t = double(box.top);
  const long leaf_size = 2 * num_parts;
  for (long level = 0; level < num_levels; ++level) {
    Similarity s;  // the mean shape's points never coincide: fit_similarity succeeds
    fit_similarity(initial_shape.data(), shape.data(), size_t(num_parts), &s);
    const float m00 = float(s.a), m01 = float(-s.b), m10 = float(s.b), m11 = float(s.a);
    const uint32_t* anchors = anchor.data() + level * num_features;
    const float* d = deltas.data() + level * num_features * 2;
    for (long f = 0; f < num_features; ++f) {
      const float dx = d[2 * f], dy = d[2 * f + 1];
      const float sx = (m00 * dx + m01 * dy) + shape[2 * anchors[f]];
      const float sy = (m10 * dx + m11 * dy) + shape[2 * anchors[f] + 1];
      // Rounded and range-checked as doubles: converting an out-of-range double to long is undefined.
      const double fx = std::floor(w * double(sx) + l + 0.5), fy = std::floor(h * double(sy) + t + 0.5);
      if (fx >= 0 && fy >= 0 && fx < double(cols) && fy < double(rows)) {
        const long px = long(fx), py = long(fy);
        const uint8_t* p = rgb + (py * cols + px) * 3;
        feature[size_t(f)] = float((unsigned(p[0]) + unsigned(p[1]) + unsigned(p[2])) / 3);
      } else {
        feature[size_t(f)] = 0;
      }
    }
    for (long tree = 0; tree < num_trees; ++tree) {
      const long base = level * num_trees + tree;
      const uint32_t* idx = split_idx.data() + base * num_splits * 2;
      const float* thresh = split_thresh.data() + base * num_splits;
      long node = 0;
      while (node < num_splits) {
        const bool left = feature[idx[2 * node]] - feature[idx[2 * node + 1]] > thresh[node];
        node = left ? 2 * node + 1 : 2 * node + 2;
      }
      const float* leaf = leaves.data() + (base * (num_splits + 1) + (node - num_splits)) * leaf_size;
      for (long i = 0; i < leaf_size; ++i) shape[size_t(i)] += leaf[i];
    }
  }
  for (long p = 0; p < num_parts; ++p) {
    out[2 * p] = float(std::floor(w * double(shape[2 * p]) + l + 0.5));  // dlib's round half up
    out[2 * p + 1] = float(std::floor(h * double(shape[2 * p + 1]) + t + 0.5));
  }
}

}  // namespace faceindex::vision
