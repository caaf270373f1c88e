// faceindex._core.vision: the dlib pack's kernels (the mmod detector around its network,
// shape predictor, face chips). Everything Python hands in is checked here; the loops run without the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "faceindex/dlib_face_chips.h"
#include "faceindex/dlib_mmod_detector.h"
#include "faceindex/dlib_shape_predictor.h"

namespace py = pybind11;

namespace faceindex::bindings {
namespace {

using vision::dlib_compat::Rect;

// Coordinates beyond this are nonsense for any image we accept (and keep the arithmetic exact).
constexpr double kMaxCoordinate = 1e7;

template <typename T>
const T* checked(const py::array& a, const char* what, const char* dtype, std::vector<py::ssize_t> shape) {
  require_dtype<T>(a, what, dtype);
  bool ok = a.ndim() == py::ssize_t(shape.size());
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] < 0 || a.shape(py::ssize_t(i)) == shape[i];
  if (!ok) {
    std::string want = "(";
    for (size_t i = 0; i < shape.size(); ++i)
      want += (i ? ", " : "") + (shape[i] < 0 ? std::string("n") : std::to_string(shape[i]));
    throw InvalidArgument(std::string(what) + " must have shape " + want + (shape.size() == 1 ? ",)" : ")") +
                          ", got " + shape_string(a));
  }
  require_c_contiguous(a, what);
  return static_cast<const T*>(a.data());
}

std::array<float, 3> means_of(const std::vector<float>& means) {
  if (means.size() != 3) throw InvalidArgument("means must hold 3 values (R, G, B)");
  for (float m : means)
    if (!std::isfinite(m)) throw InvalidArgument("means must be finite");
  return {means[0], means[1], means[2]};
}

vision::DlibMmodConfig decode_config(const py::array& windows, std::tuple<long, long, long, long> mapping,
                                     double nms_iou, double nms_covered) {
  const int64_t* w = checked<int64_t>(windows, "windows", "int64", {-1, 2});
  if (!(nms_iou >= 0 && nms_iou <= 1) || !(nms_covered >= 0 && nms_covered <= 1))
    throw InvalidArgument("the NMS thresholds must be in [0, 1]");
  vision::DlibMmodConfig cfg;
  for (py::ssize_t i = 0; i < windows.shape(0); ++i) {
    if (w[2 * i] < 1 || w[2 * i + 1] < 1 || w[2 * i] > 100000 || w[2 * i + 1] > 100000)
      throw InvalidArgument("detector windows must be 1..100000 pixels");
    cfg.windows.emplace_back(long(w[2 * i]), long(w[2 * i + 1]));
  }
  if (cfg.windows.empty()) throw InvalidArgument("the detector needs at least one window");
  std::tie(cfg.scale_y, cfg.offset_y, cfg.scale_x, cfg.offset_x) = mapping;
  if (cfg.scale_x < 1 || cfg.scale_y < 1 || cfg.scale_x > 64 || cfg.scale_y > 64 || std::abs(cfg.offset_x) > 1000 ||
      std::abs(cfg.offset_y) > 1000)
    throw InvalidArgument("the output-to-canvas mapping must have scales in [1, 64] and offsets within 1000");
  cfg.nms_iou = nms_iou, cfg.nms_covered = nms_covered;
  return cfg;
}

std::shared_ptr<vision::DlibMmodDetector> make_mmod_detector(const std::vector<float>& means, long padding,
                                                             long outer_padding, const py::array& windows,
                                                             std::tuple<long, long, long, long> mapping,
                                                             double nms_iou, double nms_covered) {
  const auto m = means_of(means);
  if (padding < 0 || outer_padding < 0 || padding > 1000 || outer_padding > 1000)
    throw InvalidArgument("pyramid paddings must be in [0, 1000]");
  return std::make_shared<vision::DlibMmodDetector>(m, padding, outer_padding,
                                                    decode_config(windows, mapping, nms_iou, nms_covered));
}

constexpr long kMaxUpsample = 4;

py::tuple prepare(const vision::DlibMmodDetector& detector, const py::array& image, long upsample) {
  const ImageView img = require_rgb_image(image);
  if (upsample < 0 || upsample > kMaxUpsample)
    throw InvalidArgument("upsample must be in [0, " + std::to_string(kMaxUpsample) + "]");
  if (double(img.height) * double(img.width) * double(1L << (2 * upsample)) > 4e9)
    throw InvalidArgument("the image upsampled " + std::to_string(upsample) + " times would exceed 4e9 pixels");
  std::shared_ptr<const vision::DlibCanvasLayout> layout = detector.layout(img.height, img.width, upsample);
  const vision::DlibTiledPyramid& p = layout->pyramid;
  py::array_t<float> canvas({py::ssize_t(1), py::ssize_t(3), py::ssize_t(p.height), py::ssize_t(p.width)});
  float* out = canvas.mutable_data();
  {
    py::gil_scoped_release release;
    detector.fill(img.data, img.height, img.width, *layout, out);
  }
  return py::make_tuple(canvas, layout);
}

py::tuple decode(const vision::DlibMmodDetector& detector, const py::array& scores,
                 const vision::DlibCanvasLayout& layout, double threshold) {
  const float* s = checked<float>(scores, "scores", "float32", {1, -1, -1, -1});
  const auto& cfg = detector.config();
  if (size_t(scores.shape(1)) != cfg.windows.size())
    throw InvalidArgument("scores need one channel per detector window (" + std::to_string(cfg.windows.size()) +
                          "), got " + shape_string(scores));
  if (scores.shape(2) > layout.pyramid.height || scores.shape(3) > layout.pyramid.width)
    throw InvalidArgument("a score map of " + shape_string(scores) + " cannot come from a canvas of " +
                          std::to_string(layout.pyramid.height) + " x " + std::to_string(layout.pyramid.width));
  if (!std::isfinite(threshold)) throw InvalidArgument("threshold must be finite");
  std::vector<vision::DlibDetection> dets;
  {
    py::gil_scoped_release release;
    dets = detector.decode(s, long(scores.shape(2)), long(scores.shape(3)), layout, threshold);
  }
  py::array_t<int64_t> boxes({py::ssize_t(dets.size()), py::ssize_t(4)});
  py::array_t<double> confidences(py::ssize_t(dets.size()));
  auto b = boxes.mutable_unchecked<2>();
  auto c = confidences.mutable_unchecked<1>();
  for (size_t i = 0; i < dets.size(); ++i) {
    b(i, 0) = dets[i].rect.left, b(i, 1) = dets[i].rect.top, b(i, 2) = dets[i].rect.right, b(i, 3) = dets[i].rect.bottom;
    c(i) = dets[i].score;
  }
  return py::make_tuple(boxes, confidences);
}

py::array_t<int64_t> levels_of(const vision::DlibCanvasLayout& layout) {
  const auto& levels = layout.pyramid.levels;
  py::array_t<int64_t> out({py::ssize_t(levels.size()), py::ssize_t(4)});
  auto lv = out.mutable_unchecked<2>();
  for (size_t i = 0; i < levels.size(); ++i)
    lv(i, 0) = levels[i].left, lv(i, 1) = levels[i].top, lv(i, 2) = levels[i].right, lv(i, 3) = levels[i].bottom;
  return out;
}

std::vector<Rect> boxes_of(const py::array& boxes) {
  const int64_t* b = checked<int64_t>(boxes, "boxes", "int64", {-1, 4});
  std::vector<Rect> rects;
  for (py::ssize_t i = 0; i < boxes.shape(0); ++i) {
    Rect r{long(b[4 * i]), long(b[4 * i + 1]), long(b[4 * i + 2]), long(b[4 * i + 3])};
    for (long v : {r.left, r.top, r.right, r.bottom})
      if (std::abs(double(v)) > kMaxCoordinate) throw InvalidArgument("boxes hold coordinates beyond 1e7");
    rects.push_back(r);
  }
  return rects;
}

std::shared_ptr<vision::DlibShapePredictor> make_shape_predictor(const py::array& initial_shape,
                                                                  const py::array& anchors,
                                                                  const py::array& deltas,
                                                                  const py::array& split_idx,
                                                                  const py::array& split_thresh,
                                                                  const py::array& leaves) {
  auto sp = std::make_shared<vision::DlibShapePredictor>();
  const float* init = checked<float>(initial_shape, "initial_shape", "float32", {-1});
  const uint32_t* anc = checked<uint32_t>(anchors, "anchors", "uint32", {-1, -1});
  const float* del = checked<float>(deltas, "deltas", "float32", {anchors.shape(0), anchors.shape(1), 2});
  const uint32_t* idx = checked<uint32_t>(split_idx, "split_idx", "uint32", {anchors.shape(0), -1, -1, 2});
  const float* thr = checked<float>(split_thresh, "split_thresh", "float32",
                                    {anchors.shape(0), split_idx.shape(1), split_idx.shape(2)});
  const float* lv = checked<float>(leaves, "leaves", "float32",
                                   {anchors.shape(0), split_idx.shape(1), split_idx.shape(2) + 1, initial_shape.shape(0)});
  if (initial_shape.shape(0) % 2) throw InvalidArgument("initial_shape must hold x, y pairs");
  sp->num_parts = long(initial_shape.shape(0) / 2);
  sp->num_levels = long(anchors.shape(0));
  sp->num_features = long(anchors.shape(1));
  sp->num_trees = long(split_idx.shape(1));
  sp->num_splits = long(split_idx.shape(2));
  auto copy = [](auto* p, py::ssize_t n) { return std::vector<std::remove_const_t<std::remove_pointer_t<decltype(p)>>>(p, p + n); };
  sp->initial_shape = copy(init, initial_shape.size());
  sp->anchor = copy(anc, anchors.size());
  sp->deltas = copy(del, deltas.size());
  sp->split_idx = copy(idx, split_idx.size());
  sp->split_thresh = copy(thr, split_thresh.size());
  sp->leaves = copy(lv, leaves.size());
  for (float v : sp->initial_shape)
    if (!std::isfinite(v)) throw InvalidArgument("initial_shape holds NaN or inf");
  sp->validate();
  return sp;
}

py::array_t<float> predict_shapes(const vision::DlibShapePredictor& sp, const py::array& image, const py::array& boxes) {
  const ImageView img = require_rgb_image(image);
  const std::vector<Rect> rects = boxes_of(boxes);
  py::array_t<float> out({py::ssize_t(rects.size()), py::ssize_t(sp.num_parts), py::ssize_t(2)});
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    parallel_for(rects.size(), num_threads(), [&](size_t i, size_t) {
      sp.predict(img.data, img.height, img.width, rects[i], o + i * size_t(sp.num_parts) * 2);
    });
  }
  return out;
}

py::array_t<uint8_t> face_chips(const py::array& image, const py::array& landmarks, long size, double padding) {
  const ImageView img = require_rgb_image(image);
  const float* lm = checked<float>(landmarks, "landmarks", "float32", {-1, 5, 2});
  if (size < 1 || size > 4096) throw InvalidArgument("chip size must be in [1, 4096]");
  if (!(padding >= 0 && padding <= 10)) throw InvalidArgument("chip padding must be in [0, 10]");
  for (py::ssize_t i = 0; i < landmarks.size(); ++i)
    if (!std::isfinite(lm[i]) || std::abs(lm[i]) > kMaxCoordinate)
      throw InvalidArgument("landmarks must be finite and within 1e7 pixels");
  const size_t n = size_t(landmarks.shape(0));
  py::array_t<uint8_t> chips({py::ssize_t(n), py::ssize_t(size), py::ssize_t(size), py::ssize_t(3)});
  uint8_t* out = chips.mutable_data();
  {
    py::gil_scoped_release release;
    parallel_for(n, num_threads(), [&](size_t i, size_t) {
      vision::dlib_extract_face_chip(img.data, img.height, img.width, lm + i * 10, size, padding,
                                     out + i * size_t(size * size * 3));
    });
  }
  return chips;
}

py::array_t<float> chips_to_tensor(const py::array& chips, const std::vector<float>& means) {
  const uint8_t* c = checked<uint8_t>(chips, "chips", "uint8", {-1, -1, -1, 3});
  const auto m = means_of(means);
  const py::ssize_t n = chips.shape(0), h = chips.shape(1), w = chips.shape(2);
  py::array_t<float> out({n, py::ssize_t(3), h, w});
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    parallel_for(size_t(n), num_threads(), [&](size_t i, size_t) {
      vision::dlib_normalize_rgb(c + i * size_t(h * w * 3), long(h), long(w), m.data(), o + i * size_t(3 * h * w));
    });
  }
  return out;
}

}  // namespace

void bind_vision_dlib(py::module_& m) {
  py::class_<vision::DlibCanvasLayout, std::shared_ptr<vision::DlibCanvasLayout>>(m, "DlibCanvasLayout",
      "Where one prepared image lies in the detector's canvas (made by DlibMmodDetector.prepare).")
      .def_property_readonly("levels", &levels_of, "int64 [L, 4]: each pyramid level's left, top, right, bottom")
      .def_property_readonly("canvas_size", [](const vision::DlibCanvasLayout& l) {
        return std::make_pair(l.pyramid.width, l.pyramid.height);
      }, "(width, height) of the canvas")
      .def_property_readonly("upsample", [](const vision::DlibCanvasLayout& l) { return l.upsample; });
  py::class_<vision::DlibMmodDetector, std::shared_ptr<vision::DlibMmodDetector>>(m, "DlibMmodDetector",
      "dlib's CNN face detector around its network: image -> pyramid canvas, score map -> image rectangles.")
      .def(py::init(&make_mmod_detector), py::arg("means"), py::arg("padding"), py::arg("outer_padding"),
           py::arg("windows"), py::arg("mapping"), py::arg("nms_iou"), py::arg("nms_covered"))
      .def("prepare", &prepare, py::arg("image"), py::arg("upsample") = 0,
           "The network's input canvas float32 [1, 3, H, W] for the image upsampled 2x `upsample` times, and its "
           "layout (to hand to decode).")
      .def("decode", &decode, py::arg("scores"), py::arg("layout"), py::arg("threshold"),
           "Detections from the score map: (boxes int64 [n, 4] left, top, right, bottom, inclusive, in the image "
           "given to prepare; scores float64 [n]), best first.");
  py::class_<vision::DlibShapePredictor, std::shared_ptr<vision::DlibShapePredictor>>(m, "DlibShapePredictor")
      .def(py::init(&make_shape_predictor), py::arg("initial_shape"), py::arg("anchors"), py::arg("deltas"),
           py::arg("split_idx"), py::arg("split_thresh"), py::arg("leaves"))
      .def_property_readonly("num_parts", [](const vision::DlibShapePredictor& s) { return s.num_parts; })
      .def("predict", &predict_shapes, py::arg("image"), py::arg("boxes"),
           "Landmarks float32 [n, parts, 2] for boxes int64 [n, 4] (left, top, right, bottom, inclusive).");
  m.def("dlib_face_chips", &face_chips, py::arg("image"), py::arg("landmarks"), py::arg("size") = 150,
        py::arg("padding") = 0.25, "Aligned face chips uint8 [n, size, size, 3] from 5-point landmarks.");
  m.def("dlib_chips_to_tensor", &chips_to_tensor, py::arg("chips"), py::arg("means"),
        "(chip - mean) / 256 as float32 [n, 3, h, w].");
}

}  // namespace faceindex::bindings
