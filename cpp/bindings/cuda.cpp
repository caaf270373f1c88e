// faceindex._core.cuda: device buffers and streams for the TensorRT backend.
// Present in every build; `compiled` says whether it can do anything.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "arrays.h"
#include "bindings.h"
#if FACEINDEX_HAS_CUDA
#include "faceindex/cuda_memory.h"
#endif

namespace py = pybind11;

namespace faceindex::bindings {

void bind_cuda(py::module_& m) {
#if FACEINDEX_HAS_CUDA
  m.attr("compiled") = true;
  using cuda::DeviceBuffer;
  using cuda::Stream;
  py::class_<Stream>(m, "Stream")
      .def(py::init<>())
      .def_property_readonly("handle", &Stream::handle)
      .def("synchronize", [](const Stream& s) {
        py::gil_scoped_release release;
        s.synchronize();
      });
  py::class_<DeviceBuffer>(m, "DeviceBuffer")
      .def(py::init<size_t>(), py::arg("nbytes"))
      .def_property_readonly("address", &DeviceBuffer::address)
      .def_property_readonly("nbytes", &DeviceBuffer::bytes)
      .def("copy_from_host", [](DeviceBuffer& self, const py::array& host, const Stream& stream) {
             require_c_contiguous(host, "host array");
             self.copy_from_host(host.data(), size_t(host.nbytes()), stream.handle());
           }, py::arg("host"), py::arg("stream"), "Asynchronous: keep `host` alive until the stream is synchronised.")
      .def("copy_to_host", [](const DeviceBuffer& self, py::array& host, const Stream& stream) {
             require_c_contiguous(host, "host array");
             if (!host.writeable()) throw InvalidArgument("host array is read-only");
             self.copy_to_host(host.mutable_data(), size_t(host.nbytes()), stream.handle());
           }, py::arg("host"), py::arg("stream"), "Asynchronous: read `host` after the stream is synchronised.");
#else
  m.attr("compiled") = false;
#endif
}

}  // namespace faceindex::bindings
