// faceindex._core.vision: the onnx packs' kernels (detector input, decoders,
// NMS, alignment). Everything Python hands in is checked here; the kernels
// below assume valid input.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "faceindex/detection.h"
#include "faceindex/detector_decoders.h"
#include "faceindex/face_align.h"
#include "faceindex/letterbox.h"

namespace py = pybind11;

namespace faceindex::bindings {
namespace {

using vision::ChannelNorm;
using vision::Detection;

constexpr int kMaxCanvas = 16384;
constexpr int kMaxChip = 1024;
constexpr size_t kRowWidth = 4 + 1 + 2 * vision::kLandmarks;  // box, score, landmarks

void require_finite(double v, const char* what) {
  if (!std::isfinite(v)) throw InvalidArgument(std::string(what) + " must be finite, got " + std::to_string(v));
}

ChannelNorm channel_norm(bool bgr, const std::array<float, 3>& mean, const std::array<float, 3>& std_dev) {
  ChannelNorm norm;
  norm.bgr = bgr;
  for (int c = 0; c < 3; ++c) {
    require_finite(mean[c], "mean");
    require_finite(std_dev[c], "std");
    if (std_dev[c] == 0.0f) throw InvalidArgument("std must not be 0");
    norm.mean[c] = mean[c];
    norm.inv_std[c] = 1.0f / std_dev[c];
  }
  return norm;
}

std::pair<int, int> canvas_size(const std::pair<int, int>& canvas) {
  const auto [w, h] = canvas;
  if (w < 1 || h < 1 || w > kMaxCanvas || h > kMaxCanvas)
    throw InvalidArgument("canvas must be (width, height) in 1.." + std::to_string(kMaxCanvas) + ", got (" +
                          std::to_string(w) + ", " + std::to_string(h) + ")");
  return {w, h};
}

// A float32 C-contiguous network output holding exactly `expected` values.
const float* output_values(const py::array& a, size_t expected, const std::string& what) {
  require_dtype<float>(a, what.c_str(), "float32");
  require_c_contiguous(a, what.c_str());
  if (size_t(a.size()) != expected)
    throw InvalidArgument(what + " has shape " + shape_string(a) + " (" + std::to_string(a.size()) +
                          " values); expected " + std::to_string(expected) + " for this input size");
  return static_cast<const float*>(a.data());
}

void check_decode_options(float scale, float score_threshold, float nms_threshold, long top_k) {
  if (!(std::isfinite(scale) && scale > 0.0f)) throw InvalidArgument("scale must be finite and > 0");
  require_finite(score_threshold, "score_threshold");
  if (!(nms_threshold >= 0.0f && nms_threshold <= 1.0f)) throw InvalidArgument("nms_threshold must be in [0, 1]");
  if (top_k < 1) throw InvalidArgument("top_k must be >= 1");
}

py::array_t<float> finish(std::vector<Detection>&& candidates, float scale, float nms_threshold, long top_k) {
  std::vector<Detection> kept;
  {
    py::gil_scoped_release release;
    kept = vision::non_maximum_suppression(std::move(candidates), nms_threshold, size_t(top_k));
    vision::unscale(kept, scale);
  }
  py::array_t<float> out({py::ssize_t(kept.size()), py::ssize_t(kRowWidth)});
  float* o = out.mutable_data();
  for (const Detection& d : kept) {
    *o++ = d.x1, *o++ = d.y1, *o++ = d.x2, *o++ = d.y2, *o++ = d.score;
    for (float v : d.landmarks) *o++ = v;
  }
  return out;
}

std::vector<int> checked_strides(const std::vector<int>& strides, size_t levels, int w, int h) {
  if (strides.size() != levels)
    throw InvalidArgument("got " + std::to_string(levels) + " output levels but " + std::to_string(strides.size()) +
                          " strides");
  for (int s : strides) {
    if (s < 1) throw InvalidArgument("strides must be >= 1");
    if (w % s || h % s)
      throw InvalidArgument("canvas (" + std::to_string(w) + ", " + std::to_string(h) +
                            ") is not a multiple of stride " + std::to_string(s));
  }
  return strides;
}

py::tuple letterbox(const py::array& image, std::pair<int, int> canvas, bool bgr, std::array<float, 3> mean,
                    std::array<float, 3> std_dev, std::optional<py::array> into,
                    std::optional<std::pair<int, int>> fit) {
  const ImageView img = require_rgb_image(image);
  const auto [w, h] = canvas_size(canvas);
  const auto [fit_w, fit_h] = fit ? canvas_size(*fit) : std::make_pair(w, h);
  if (fit_w > w || fit_h > h)
    throw InvalidArgument("fit (" + std::to_string(fit_w) + ", " + std::to_string(fit_h) +
                          ") must lie within the canvas (" + std::to_string(w) + ", " + std::to_string(h) + ")");
  const ChannelNorm norm = channel_norm(bgr, mean, std_dev);
  const vision::LetterboxGeometry g = vision::letterbox_geometry(img.height, img.width, fit_h, fit_w);
  // Writing into the caller's buffer spares a fresh 5 MB tensor, and its page
  // faults, on every image.
  py::array out = into ? *into : py::array_t<float>({py::ssize_t(1), py::ssize_t(3), py::ssize_t(h), py::ssize_t(w)});
  if (into) {
    require_dtype<float>(out, "into", "float32");
    require_c_contiguous(out, "into");
    if (out.ndim() != 4 || out.shape(0) != 1 || out.shape(1) != 3 || out.shape(2) != h || out.shape(3) != w)
      throw InvalidArgument("into must have shape (1, 3, " + std::to_string(h) + ", " + std::to_string(w) +
                            "), got " + shape_string(out));
    if (!out.writeable()) throw InvalidArgument("into must be writeable");
  }
  float* o = static_cast<float*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    vision::letterbox_nchw(img.data, img.height, img.width, g, h, w, norm, o);
  }
  return py::make_tuple(out, g.scale, py::make_tuple(g.width, g.height));
}

py::array_t<float> decode_scrfd(const std::vector<py::array>& scores, const std::vector<py::array>& boxes,
                                const std::optional<std::vector<py::array>>& landmarks,
                                const std::vector<int>& strides, int anchors, std::pair<int, int> canvas,
                                float scale, float score_threshold, float nms_threshold, long top_k) {
  const auto [w, h] = canvas_size(canvas);
  check_decode_options(scale, score_threshold, nms_threshold, top_k);
  if (anchors < 1) throw InvalidArgument("anchors must be >= 1");
  if (boxes.size() != scores.size() || (landmarks && landmarks->size() != scores.size()))
    throw InvalidArgument("scores, boxes and landmarks must have one array per stride");
  checked_strides(strides, scores.size(), w, h);
  std::vector<vision::ScrfdLevel> levels;
  for (size_t i = 0; i < scores.size(); ++i) {
    const int s = strides[i], rows = h / s, cols = w / s;
    const size_t n = size_t(rows) * size_t(cols) * size_t(anchors);
    const std::string at = " of stride " + std::to_string(s);
    levels.push_back(vision::ScrfdLevel{output_values(scores[i], n, "scores" + at),
                                        output_values(boxes[i], 4 * n, "boxes" + at),
                                        landmarks ? output_values((*landmarks)[i], 10 * n, "landmarks" + at) : nullptr,
                                        rows, cols, s, anchors});
  }
  std::vector<Detection> candidates;
  {
    py::gil_scoped_release release;
    for (const auto& level : levels) vision::decode_scrfd(level, score_threshold, candidates);
  }
  return finish(std::move(candidates), scale, nms_threshold, top_k);
}

py::array_t<float> decode_yunet(const std::vector<py::array>& cls, const std::vector<py::array>& obj,
                                const std::vector<py::array>& boxes, const std::vector<py::array>& landmarks,
                                const std::vector<int>& strides, std::pair<int, int> canvas, float scale,
                                float score_threshold, float nms_threshold, long top_k) {
  const auto [w, h] = canvas_size(canvas);
  check_decode_options(scale, score_threshold, nms_threshold, top_k);
  if (obj.size() != cls.size() || boxes.size() != cls.size() || landmarks.size() != cls.size())
    throw InvalidArgument("cls, obj, boxes and landmarks must have one array per stride");
  checked_strides(strides, cls.size(), w, h);
  std::vector<vision::YunetLevel> levels;
  for (size_t i = 0; i < cls.size(); ++i) {
    const int s = strides[i], rows = h / s, cols = w / s;
    const size_t n = size_t(rows) * size_t(cols);
    const std::string at = " of stride " + std::to_string(s);
    levels.push_back(vision::YunetLevel{output_values(cls[i], n, "cls" + at), output_values(obj[i], n, "obj" + at),
                                        output_values(boxes[i], 4 * n, "boxes" + at),
                                        output_values(landmarks[i], 10 * n, "landmarks" + at), rows, cols, s});
  }
  std::vector<Detection> candidates;
  {
    py::gil_scoped_release release;
    for (const auto& level : levels) vision::decode_yunet(level, score_threshold, candidates);
  }
  return finish(std::move(candidates), scale, nms_threshold, top_k);
}

py::array_t<float> decode_retinaface(const py::array& loc, const py::array& conf, const py::array& landmarks,
                                     std::pair<int, int> canvas, float scale, float score_threshold,
                                     float nms_threshold, long top_k) {
  const auto [w, h] = canvas_size(canvas);
  check_decode_options(scale, score_threshold, nms_threshold, top_k);
  const vision::RetinafacePriors priors{h, w};
  const size_t n = size_t(vision::retinaface_prior_count(priors));
  const float* l = output_values(loc, 4 * n, "loc");
  const float* c = output_values(conf, 2 * n, "conf");
  const float* m = output_values(landmarks, 10 * n, "landmarks");
  std::vector<Detection> candidates;
  {
    py::gil_scoped_release release;
    vision::decode_retinaface(priors, l, c, m, score_threshold, candidates);
  }
  return finish(std::move(candidates), scale, nms_threshold, top_k);
}

py::array_t<int64_t> nms(const py::array& boxes, const py::array& scores, float iou_threshold) {
  require_dtype<float>(boxes, "boxes", "float32");
  require_dtype<float>(scores, "scores", "float32");
  require_c_contiguous(boxes, "boxes");
  require_c_contiguous(scores, "scores");
  if (boxes.ndim() != 2 || boxes.shape(1) != 4)
    throw InvalidArgument("boxes must have shape (n, 4), got " + shape_string(boxes));
  if (scores.ndim() != 1 || scores.shape(0) != boxes.shape(0))
    throw InvalidArgument("scores must have shape (n,) matching boxes, got " + shape_string(scores));
  if (!(iou_threshold >= 0.0f && iou_threshold <= 1.0f)) throw InvalidArgument("iou_threshold must be in [0, 1]");
  const size_t n = size_t(boxes.shape(0));
  const float* b = static_cast<const float*>(boxes.data());
  const float* s = static_cast<const float*>(scores.data());
  std::vector<Detection> candidates(n);
  for (size_t i = 0; i < n; ++i) {
    // The index rides in the first landmark so that the caller learns which boxes were kept.
    candidates[i] = Detection{b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3], s[i], {float(i)}};
    if (!vision::is_finite(candidates[i], false)) throw InvalidArgument("boxes and scores must be finite");
  }
  if (n >= (size_t(1) << 24)) throw InvalidArgument("too many boxes for nms");
  std::vector<Detection> kept;
  {
    py::gil_scoped_release release;
    kept = vision::non_maximum_suppression(std::move(candidates), iou_threshold, n ? n : 1);
  }
  py::array_t<int64_t> out(py::ssize_t(kept.size()));
  for (size_t i = 0; i < kept.size(); ++i) out.mutable_data()[i] = int64_t(kept[i].landmarks[0]);
  return out;
}

// (n, 2) float32 points.
const float* points(const py::array& a, const char* what) {
  require_dtype<float>(a, what, "float32");
  require_c_contiguous(a, what);
  if (a.ndim() != 2 || a.shape(1) != 2 || a.shape(0) < 2)
    throw InvalidArgument(std::string(what) + " must have shape (n >= 2, 2), got " + shape_string(a));
  const float* p = static_cast<const float*>(a.data());
  for (py::ssize_t i = 0; i < 2 * a.shape(0); ++i)
    if (!std::isfinite(p[i])) throw InvalidArgument(std::string(what) + " hold NaN or inf");
  return p;
}

py::array_t<double> similarity_transform(const py::array& src, const py::array& dst) {
  const float* s = points(src, "src");
  const float* d = points(dst, "dst");
  if (src.shape(0) != dst.shape(0))
    throw InvalidArgument("src and dst must have the same number of points, got " + shape_string(src) + " and " +
                          shape_string(dst));
  vision::Similarity t;
  if (!vision::fit_similarity(s, d, size_t(src.shape(0)), &t))
    throw InvalidArgument("src points coincide: no similarity transform is defined");
  py::array_t<double> out({py::ssize_t(2), py::ssize_t(3)});
  double* o = out.mutable_data();
  o[0] = t.a, o[1] = -t.b, o[2] = t.tx, o[3] = t.b, o[4] = t.a, o[5] = t.ty;
  return out;
}

// One similarity per face: its landmarks (n, k, 2) onto the template (k, 2).
std::vector<vision::Similarity> face_transforms(const py::array& landmarks, const py::array& tmpl, int size) {
  if (size < 1 || size > kMaxChip)
    throw InvalidArgument("size must be in 1.." + std::to_string(kMaxChip) + ", got " + std::to_string(size));
  const float* t = points(tmpl, "template");
  const py::ssize_t k = tmpl.shape(0);
  require_dtype<float>(landmarks, "landmarks", "float32");
  require_c_contiguous(landmarks, "landmarks");
  if (landmarks.ndim() != 3 || landmarks.shape(1) != k || landmarks.shape(2) != 2)
    throw InvalidArgument("landmarks must have shape (n, " + std::to_string(k) + ", 2), got " +
                          shape_string(landmarks));
  const float* l = static_cast<const float*>(landmarks.data());
  const size_t n = size_t(landmarks.shape(0));
  std::vector<vision::Similarity> transforms(n);
  for (size_t i = 0; i < n; ++i) {
    const float* face = l + i * size_t(2 * k);
    for (py::ssize_t j = 0; j < 2 * k; ++j)
      if (!std::isfinite(face[j])) throw InvalidArgument("landmarks of face " + std::to_string(i) + " hold NaN or inf");
    if (!vision::fit_similarity(face, t, size_t(k), &transforms[i]))
      throw InvalidArgument("landmarks of face " + std::to_string(i) + " coincide: the face cannot be aligned");
  }
  return transforms;
}

py::array_t<uint8_t> align_chips(const py::array& image, const py::array& landmarks, const py::array& tmpl,
                                 int size) {
  const ImageView img = require_rgb_image(image);
  const std::vector<vision::Similarity> transforms = face_transforms(landmarks, tmpl, size);
  py::array_t<uint8_t> out({py::ssize_t(transforms.size()), py::ssize_t(size), py::ssize_t(size), py::ssize_t(3)});
  uint8_t* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    vision::warp_chips_hwc(img.data, img.height, img.width, transforms.data(), transforms.size(), size, o);
  }
  return out;
}

py::array_t<float> align_tensor(const py::array& image, const py::array& landmarks, const py::array& tmpl, int size,
                                bool bgr, std::array<float, 3> mean, std::array<float, 3> std_dev) {
  const ImageView img = require_rgb_image(image);
  const ChannelNorm norm = channel_norm(bgr, mean, std_dev);
  const std::vector<vision::Similarity> transforms = face_transforms(landmarks, tmpl, size);
  py::array_t<float> out({py::ssize_t(transforms.size()), py::ssize_t(3), py::ssize_t(size), py::ssize_t(size)});
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    vision::warp_chips_nchw(img.data, img.height, img.width, transforms.data(), transforms.size(), size, norm, o);
  }
  return out;
}

}  // namespace

void bind_vision_onnx(py::module_& m) {
  m.def("letterbox", &letterbox, py::arg("image"), py::arg("canvas"), py::arg("bgr"), py::arg("mean"),
        py::arg("std"), py::arg("into") = py::none(), py::arg("fit") = py::none(),
        "Detector input: the image resized with its aspect kept to fit `fit` (width, height; default the whole "
        "canvas), placed at the top-left of a canvas (width, height), padded, normalised, as float32 "
        "(1, 3, H, W). Returns (tensor, scale, (content_width, content_height)).");
  m.def("decode_scrfd", &decode_scrfd, py::arg("scores"), py::arg("boxes"), py::arg("landmarks"), py::arg("strides"),
        py::arg("anchors"), py::arg("canvas"), py::arg("scale"), py::arg("score_threshold"),
        py::arg("nms_threshold"), py::arg("top_k") = 5000,
        "SCRFD outputs (one array per stride) -> float32 (n, 15): x1, y1, x2, y2, score, 5 landmark (x, y) in "
        "image pixels, best first.");
  m.def("decode_yunet", &decode_yunet, py::arg("cls"), py::arg("obj"), py::arg("boxes"), py::arg("landmarks"),
        py::arg("strides"), py::arg("canvas"), py::arg("scale"), py::arg("score_threshold"),
        py::arg("nms_threshold"), py::arg("top_k") = 5000, "YuNet outputs (one array per stride) -> (n, 15).");
  m.def("decode_retinaface", &decode_retinaface, py::arg("loc"), py::arg("conf"), py::arg("landmarks"),
        py::arg("canvas"), py::arg("scale"), py::arg("score_threshold"), py::arg("nms_threshold"),
        py::arg("top_k") = 5000, "RetinaFace loc/conf/landmarks -> (n, 15).");
  m.def("nms", &nms, py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"),
        "Indices of the boxes greedy NMS keeps, best first.");
  m.def("similarity_transform", &similarity_transform, py::arg("src"), py::arg("dst"),
        "The least-squares similarity (Umeyama) taking src points onto dst, as a 2x3 matrix.");
  m.def("align_chips", &align_chips, py::arg("image"), py::arg("landmarks"), py::arg("template"), py::arg("size"),
        "Aligned uint8 chips (n, size, size, 3).");
  m.def("align_tensor", &align_tensor, py::arg("image"), py::arg("landmarks"), py::arg("template"), py::arg("size"),
        py::arg("bgr"), py::arg("mean"), py::arg("std"), "Aligned, normalised recognizer input (n, 3, size, size).");
}

}  // namespace faceindex::bindings
