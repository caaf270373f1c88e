// faceindex._core.vision: pre- and post-processing kernels for the face pipeline.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "faceindex/face_quality.h"

namespace py = pybind11;

namespace faceindex::bindings {
namespace {

py::array_t<float> face_quality(const py::array& image, const py::array& boxes) {
  const ImageView img = require_rgb_image(image);
  require_dtype<float>(boxes, "boxes", "float32");
  if (boxes.ndim() != 2 || boxes.shape(1) != 4)
    throw InvalidArgument("boxes must have shape (n, 4), got " + shape_string(boxes));
  require_c_contiguous(boxes, "boxes");
  const size_t n = size_t(boxes.shape(0));
  const float* b = static_cast<const float*>(boxes.data());
  for (size_t i = 0; i < 4 * n; ++i)
    if (!std::isfinite(b[i])) throw InvalidArgument("boxes hold NaN or inf");
  py::array_t<float> out({py::ssize_t(n), py::ssize_t(2)});
  auto* o = reinterpret_cast<vision::FaceQuality*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    vision::face_quality(img.data, img.height, img.width, b, n, o);
  }
  return out;
}

}  // namespace

void bind_vision(py::module_& m) {
  m.def("face_quality", &face_quality, py::arg("image"), py::arg("boxes"),
        "Per box: (sharpness, brightness) of the face resampled to 64x64.");
  bind_vision_dlib(m);
  bind_vision_onnx(m);
  bind_vision_video(m);
}

}  // namespace faceindex::bindings
