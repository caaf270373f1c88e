// faceindex._core.vision: the onnx pack's kernels.
#include <pybind11/pybind11.h>

#include "bindings.h"

namespace py = pybind11;

namespace faceindex::bindings {

void bind_vision_onnx(py::module_& m) {}

}  // namespace faceindex::bindings
