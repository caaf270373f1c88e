// faceindex._core.search: FlatIndex and SIMD dispatch.
#include <pybind11/pybind11.h>

#include "bindings.h"

namespace py = pybind11;

namespace faceindex::bindings {

void bind_search(py::module_& m) {}

}  // namespace faceindex::bindings
