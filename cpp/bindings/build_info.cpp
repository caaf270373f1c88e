#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings.h"
#include "faceindex/cpu_features.h"
#include "faceindex/errors.h"
#include "faceindex/parallel.h"
#if FACEINDEX_HAS_CUDA
#include "faceindex/cuda_devices.h"
#endif

namespace py = pybind11;

namespace faceindex::bindings {
namespace {

py::list split_csv(const std::string& s) {
  py::list out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t end = s.find(',', start);
    const std::string item = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!item.empty()) out.append(item);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

py::dict cpu_dict() {
  const CpuFeatures& f = cpu_features();
  py::dict d;
  d["avx2"] = f.avx2;
  d["avx512"] = f.avx512;
  d["avx512_vnni"] = f.avx512_vnni;
  d["avx512_bf16"] = f.avx512_bf16;
  d["avx512_fp16"] = f.avx512_fp16;
  d["cores"] = available_cores();
  return d;
}

py::dict cuda_dict() {
  py::dict d;
#if FACEINDEX_HAS_CUDA
  d["compiled"] = true;
  d["toolkit"] = FACEINDEX_CUDA_VERSION;
  std::string why_none;
  py::list devices;
  for (const auto& dev : cuda::visible_devices(&why_none)) {
    py::dict one;
    one["name"] = dev.name;
    one["compute_capability"] = py::make_tuple(dev.compute_major, dev.compute_minor);
    one["memory_bytes"] = dev.memory_bytes;
    devices.append(one);
  }
  d["devices"] = devices;
  d["gpu_found"] = py::len(devices) > 0;
  if (py::len(devices) == 0) d["why_no_gpu"] = why_none;
#else
  d["compiled"] = false;
  d["gpu_found"] = false;
  d["devices"] = py::list();
#endif
  return d;
}

}  // namespace

void bind_build_info(py::module_& m) {
  m.def("build_info", [] {
    py::dict d;
    d["version"] = FACEINDEX_VERSION;
    d["compiler"] = FACEINDEX_COMPILER;
    d["build_type"] = FACEINDEX_BUILD_TYPE;
    d["isas"] = split_csv(FACEINDEX_COMPILED_ISAS);
    d["cpu"] = cpu_dict();
    d["cuda"] = cuda_dict();
    return d;
  }, "What this module was compiled with, and what the running machine offers.");
  m.def("set_num_threads", [](long n) {
    if (n < 1) throw InvalidArgument("num_threads must be >= 1, got " + std::to_string(n));
    set_num_threads(size_t(n));
  }, py::arg("n"));
  m.def("get_num_threads", [] { return num_threads(); });
}

}  // namespace faceindex::bindings
