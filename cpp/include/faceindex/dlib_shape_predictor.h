// dlib's shape_predictor: a cascade of regression-tree forests over pixel-difference
// features (Kazemi and Sullivan 2014), as dlib evaluates it.
#pragma once

#include <cstdint>
#include <vector>

#include "faceindex/dlib_geometry.h"

namespace faceindex::vision {

struct DlibShapePredictor {
  long num_parts = 0;
  long num_levels = 0;  // cascade levels
  long num_trees = 0;  // trees per level
  long num_splits = 0;  // split nodes per tree (a complete binary tree)
  long num_features = 0;  // feature pixels per level
  std::vector<float> initial_shape;  // 2*num_parts, normalised to the detection box
  std::vector<uint32_t> anchor;  // [level][feature]: the part each feature pixel hangs off
  std::vector<float> deltas;  // [level][feature][2]: its offset in the normalised shape
  std::vector<uint32_t> split_idx;  // [level][tree][split][2]: the two features compared
  std::vector<float> split_thresh;  // [level][tree][split]
  std::vector<float> leaves;  // [level][tree][num_splits+1][2*num_parts]

  // Throws InvalidArgument when the arrays do not fit together.
  void validate() const;

  // Parts of the face in `box`, rounded to pixels as dlib's full_object_detection holds
  // them; out: num_parts x 2 (x, y).
  void predict(const uint8_t* rgb, long rows, long cols, const dlib_compat::Rect& box, float* out) const;
};

}  // namespace faceindex::vision
