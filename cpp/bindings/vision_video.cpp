// faceindex._core.vision: the video path's kernels (face tracker, frame signatures for
// shot changes). Everything Python hands in is checked here.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "faceindex/assignment.h"
#include "faceindex/face_tracker.h"
#include "faceindex/frame_signature.h"

namespace py = pybind11;

namespace faceindex::bindings {
namespace {

using vision::FaceTracker;

const float* finite_float_rows(const py::array& a, const char* what, py::ssize_t n, py::ssize_t cols) {
  require_dtype<float>(a, what, "float32");
  const bool ok = cols == 0 ? (a.ndim() == 1 && a.shape(0) == n) : (a.ndim() == 2 && a.shape(0) == n && a.shape(1) == cols);
  if (!ok)
    throw InvalidArgument(std::string(what) + " must have shape (" + std::to_string(n) +
                          (cols ? ", " + std::to_string(cols) + ")" : ",)") + ", got " + shape_string(a));
  require_c_contiguous(a, what);
  const float* p = static_cast<const float*>(a.data());
  const py::ssize_t count = n * (cols ? cols : 1);
  for (py::ssize_t i = 0; i < count; ++i)
    if (!std::isfinite(p[i])) throw InvalidArgument(std::string(what) + " hold NaN or inf");
  return p;
}

py::array_t<int64_t> associate(FaceTracker& tracker, double t, const py::array& boxes, const py::array& scores) {
  require_dtype<float>(boxes, "boxes", "float32");
  if (boxes.ndim() != 2 || boxes.shape(1) != 4)
    throw InvalidArgument("boxes must have shape (n, 4), got " + shape_string(boxes));
  const py::ssize_t n = boxes.shape(0);
  const float* b = finite_float_rows(boxes, "boxes", n, 4);
  const float* s = finite_float_rows(scores, "scores", n, 0);
  for (py::ssize_t i = 0; i < n; ++i)
    if (!(b[4 * i + 2] >= b[4 * i] && b[4 * i + 3] >= b[4 * i + 1]) || std::fabs(b[4 * i]) > 1e7 ||
        std::fabs(b[4 * i + 1]) > 1e7 || std::fabs(b[4 * i + 2]) > 1e7 || std::fabs(b[4 * i + 3]) > 1e7)
      throw InvalidArgument("boxes must be x1 <= x2, y1 <= y2, within 1e7 pixels; box " + std::to_string(i) + " is not");
  py::array_t<int64_t> out(n);
  tracker.associate(t, b, s, size_t(n), out.mutable_data());
  return out;
}

py::array_t<int64_t> admit(FaceTracker& tracker, const py::array& faces, const py::object& embeddings) {
  require_dtype<int64_t>(faces, "faces", "int64");
  if (faces.ndim() != 1) throw InvalidArgument("faces must be 1-d, got " + shape_string(faces));
  require_c_contiguous(faces, "faces");
  const py::ssize_t n = faces.shape(0);
  const float* e = nullptr;
  size_t dim = 0;
  py::array emb;
  if (!embeddings.is_none()) {
    emb = py::array::ensure(embeddings);
    if (!emb || emb.ndim() != 2) throw InvalidArgument("embeddings must have shape (n, d)");
    dim = size_t(emb.shape(1));
    if (dim == 0) throw InvalidArgument("embeddings must have at least one column");
    e = finite_float_rows(emb, "embeddings", n, py::ssize_t(dim));
  }
  py::array_t<int64_t> out(n);
  tracker.admit(static_cast<const int64_t*>(faces.data()), size_t(n), e, dim, out.mutable_data());
  return out;
}

void set_appearance(FaceTracker& tracker, int64_t id, const py::array& embedding) {
  require_dtype<float>(embedding, "embedding", "float32");
  if (embedding.ndim() != 1 || embedding.shape(0) < 1)
    throw InvalidArgument("embedding must be 1-d and not empty, got " + shape_string(embedding));
  const float* e = finite_float_rows(embedding, "embedding", embedding.shape(0), 0);
  tracker.set_appearance(id, e, size_t(embedding.shape(0)));
}

py::tuple tracks(const FaceTracker& tracker) {
  const auto views = tracker.tracks();
  const py::ssize_t n = py::ssize_t(views.size());
  py::array_t<int64_t> ids(n), hits(n);
  py::array_t<float> boxes({n, py::ssize_t(4)});
  py::array_t<double> seen({n, py::ssize_t(2)});
  py::array_t<bool> lost(n);
  for (py::ssize_t i = 0; i < n; ++i) {
    const auto& v = views[size_t(i)];
    ids.mutable_at(i) = v.id;
    hits.mutable_at(i) = v.hits;
    for (py::ssize_t k = 0; k < 4; ++k) boxes.mutable_at(i, k) = v.box[size_t(k)];
    seen.mutable_at(i, 0) = v.first_seen;
    seen.mutable_at(i, 1) = v.last_seen;
    lost.mutable_at(i) = v.lost;
  }
  return py::make_tuple(ids, boxes, seen, hits, lost);
}

py::array_t<float> frame_signature(const py::array& image) {
  const ImageView img = require_rgb_image(image);
  py::array_t<float> out(vision::kSignatureSize);
  {
    py::gil_scoped_release release;
    vision::frame_signature(img.data, img.height, img.width, out.mutable_data());
  }
  return out;
}

float signature_distance(const py::array& a, const py::array& b) {
  const float* pa = finite_float_rows(a, "a", vision::kSignatureSize, 0);
  const float* pb = finite_float_rows(b, "b", vision::kSignatureSize, 0);
  return vision::signature_distance(pa, pb);
}

py::array_t<int> assign_min_cost(const py::array& cost, double forbidden) {
  require_dtype<double>(cost, "cost", "float64");
  if (cost.ndim() != 2) throw InvalidArgument("cost must have shape (rows, cols), got " + shape_string(cost));
  require_c_contiguous(cost, "cost");
  if (cost.shape(0) > 4096 || cost.shape(1) > 4096) throw InvalidArgument("cost is larger than 4096 x 4096");
  // Bounded so that the potentials' sums stay exact enough and never overflow.
  if (!(std::fabs(forbidden) <= 1e12)) throw InvalidArgument("forbidden must be finite, within +-1e12");
  const size_t rows = size_t(cost.shape(0)), cols = size_t(cost.shape(1));
  const double* c = static_cast<const double*>(cost.data());
  std::vector<double> values(c, c + rows * cols);
  for (double v : values)
    if (std::isnan(v) || v < -1e12) throw InvalidArgument("cost holds NaN or values below -1e12");
  std::vector<int> match;
  {
    py::gil_scoped_release release;
    match = vision::assign_min_cost(values, rows, cols, forbidden);
  }
  auto out = py::array_t<int>(static_cast<py::ssize_t>(rows));
  for (size_t r = 0; r < rows; ++r) out.mutable_at(py::ssize_t(r)) = match[r];
  return out;
}

}  // namespace

void bind_vision_video(py::module_& m) {
  py::class_<vision::TrackerConfig>(m, "TrackerConfig")
      .def(py::init<>())
      .def_readwrite("high_score", &vision::TrackerConfig::high_score)
      .def_readwrite("low_score", &vision::TrackerConfig::low_score)
      .def_readwrite("min_diou", &vision::TrackerConfig::min_diou)
      .def_readwrite("max_lost_seconds", &vision::TrackerConfig::max_lost_seconds)
      .def_readwrite("reid_similarity", &vision::TrackerConfig::reid_similarity);
  py::class_<FaceTracker>(m, "FaceTracker")
      .def(py::init<const vision::TrackerConfig&>(), py::arg("config"))
      .def("associate", &associate, py::arg("t"), py::arg("boxes"), py::arg("scores"))
      .def("admit", &admit, py::arg("faces"), py::arg("embeddings"))
      .def("set_appearance", &set_appearance, py::arg("track_id"), py::arg("embedding"))
      .def("shot_change", &FaceTracker::shot_change)
      .def("take_ended", &FaceTracker::take_ended)
      .def("end_all", &FaceTracker::end_all)
      .def("tracks", &tracks);
  m.def("assign_min_cost", &assign_min_cost, py::arg("cost"), py::arg("forbidden"),
        "Minimum-cost assignment of rows to columns (Hungarian method); pairs costing >= forbidden are never made. "
        "Per row: its column or -1.");
  m.def("frame_signature", &frame_signature, py::arg("image"),
        "A frame's colour histograms (R, G, B; 16 bins each, each summing to 1) for shot-change detection.");
  m.def("signature_distance", &signature_distance, py::arg("a"), py::arg("b"),
        "0 (same colours) .. 1 (disjoint): how far apart two frame signatures are.");
}

}  // namespace faceindex::bindings
