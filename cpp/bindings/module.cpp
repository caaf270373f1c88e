// faceindex._core: one compiled module, one submodule per part of the core.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "faceindex/errors.h"

namespace py = pybind11;

namespace faceindex::bindings {

InterruptPoll python_interrupt_poll() {
  return [] {
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
  };
}

}  // namespace faceindex::bindings

PYBIND11_MODULE(_core, m) {
  m.doc() = "faceindex compiled core";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const faceindex::Interrupted&) {
      // The interrupt poll left Python's KeyboardInterrupt pending.
      if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
    } catch (const faceindex::FileFormatError& e) {
      // The class lives in faceindex/errors.py, inside faceindex's one error tree.
      py::object error_class = py::module_::import("faceindex.errors").attr("IndexFileError");
      PyErr_SetString(error_class.ptr(), e.what());
    } catch (const faceindex::WrongType& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const faceindex::FileSystemError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    }
  });

  faceindex::bindings::bind_build_info(m);
  auto search = m.def_submodule("search", "exact nearest-neighbour search");
  faceindex::bindings::bind_search(search);
  auto cuda = m.def_submodule("cuda", "device memory and streams (CUDA builds)");
  faceindex::bindings::bind_cuda(cuda);
  auto vision = m.def_submodule("vision", "image pre- and post-processing");
  faceindex::bindings::bind_vision(vision);
}
