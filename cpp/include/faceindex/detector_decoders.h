// Turning detector network outputs into candidate faces on the canvas, one
// function per family. Each appends candidates scoring >= score_threshold;
// non-finite candidates are dropped. NMS and unscaling follow separately.
#pragma once

#include <vector>

#include "faceindex/detection.h"

namespace faceindex::vision {

// One stride of an SCRFD head (insightface): `anchors` anchors per cell of a
// rows x cols grid, anchor centre (col, row) * stride. scores: n, boxes: n x 4
// distances (left, top, right, bottom) in stride units, landmarks: n x 10 offsets
// in stride units or null; n = rows * cols * anchors.
struct ScrfdLevel {
  const float* scores;
  const float* boxes;
  const float* landmarks;
  int rows, cols, stride, anchors;
};
void decode_scrfd(const ScrfdLevel& level, float score_threshold, std::vector<Detection>& out);

// One stride of a YuNet head (OpenCV Zoo, 2023 format): score = sqrt(cls * obj)
// with both clamped to [0, 1]; box centre (col + dx, row + dy) * stride, size
// exp(dw, dh) * stride; landmarks (col + lx, row + ly) * stride. n = rows * cols.
struct YunetLevel {
  const float* cls;
  const float* obj;
  const float* boxes;
  const float* landmarks;
  int rows, cols, stride;
};
void decode_yunet(const YunetLevel& level, float score_threshold, std::vector<Detection>& out);

// RetinaFace (Pytorch_Retinaface layout): priors over strides 8/16/32 with two
// square sizes each, centre-size encoding with variances (0.1, 0.2).
// loc: p x 4, conf: p x 2 (softmaxed; column 1 is "face"), landmarks: p x 10.
struct RetinafacePriors {
  int canvas_height, canvas_width;
};
int retinaface_prior_count(const RetinafacePriors& priors);
void decode_retinaface(const RetinafacePriors& priors, const float* loc, const float* conf, const float* landmarks,
                       float score_threshold, std::vector<Detection>& out);

}  // namespace faceindex::vision
