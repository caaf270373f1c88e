// faceindex._core.search: FlatIndex and the SIMD level in use.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "faceindex/flat_index.h"
#include "search/kernel_dispatch.h"

namespace py = pybind11;

namespace faceindex::bindings {
namespace {

using search::FlatIndex;

// Integer ids of any width, 1-D, C-contiguous, non-negative.
std::vector<uint64_t> ids_from(const py::array& a, const char* what) {
  const char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw WrongType(std::string(what) + " must be an integer array, got " + std::string(py::str(a.dtype())));
  if (a.ndim() != 1) throw InvalidArgument(std::string(what) + " must be 1-D, got shape " + shape_string(a));
  require_c_contiguous(a, what);
  const size_t n = size_t(a.shape(0));
  std::vector<uint64_t> out(n);
  const size_t item = size_t(a.itemsize());
  const auto* bytes = static_cast<const uint8_t*>(a.data());
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = bytes + i * item;
    if (kind == 'u') {
      uint64_t v = 0;
      std::memcpy(&v, p, item);  // little-endian: the low bytes come first
      out[i] = v;
    } else {
      int64_t v = 0;
      switch (item) {
        case 1: v = *reinterpret_cast<const int8_t*>(p); break;
        case 2: { int16_t t; std::memcpy(&t, p, 2); v = t; break; }
        case 4: { int32_t t; std::memcpy(&t, p, 4); v = t; break; }
        default: std::memcpy(&v, p, 8); break;
      }
      if (v < 0) throw InvalidArgument(std::string(what) + " must be non-negative, got " + std::to_string(v));
      out[i] = uint64_t(v);
    }
  }
  return out;
}

// float16/32/64 [n, dim] (or [dim] as one row) -> float32 rows. A float32
// input is used in place; others are converted, refusing values float32
// cannot hold.
struct Rows {
  py::array_t<float, py::array::c_style | py::array::forcecast> holder;
  const float* data = nullptr;
  size_t n = 0;
  bool one_dimensional = false;
};

Rows rows_from(const py::array& a, int dim, const char* what) {
  if (a.dtype().kind() != 'f')
    throw WrongType(std::string(what) + " must be a float array (float32, float16 or float64), got " +
                    std::string(py::str(a.dtype())));
  if (a.itemsize() != 2 && a.itemsize() != 4 && a.itemsize() != 8)
    throw WrongType(std::string(what) + " must be float16, float32 or float64, got " + std::string(py::str(a.dtype())));
  Rows rows;
  if (a.ndim() == 1) {
    rows.one_dimensional = true;
    rows.n = 1;
    if (a.shape(0) != dim)
      throw InvalidArgument(std::string(what) + " has dimension " + std::to_string(a.shape(0)) + ", the index has " +
                            std::to_string(dim));
  } else if (a.ndim() == 2) {
    rows.n = size_t(a.shape(0));
    if (a.shape(1) != dim)
      throw InvalidArgument(std::string(what) + " have dimension " + std::to_string(a.shape(1)) + ", the index has " +
                            std::to_string(dim) + " (shape " + shape_string(a) + ")");
  } else {
    throw InvalidArgument(std::string(what) + " must have shape (n, " + std::to_string(dim) + ") or (" +
                          std::to_string(dim) + ",), got " + shape_string(a));
  }
  require_c_contiguous(a, what);
  if (!a.dtype().is(py::dtype::of<float>()) || !(a.dtype().byteorder() == '=' || a.dtype().byteorder() == '<' ||
                                                  a.dtype().byteorder() == '|')) {
    if (a.itemsize() == 8) {
      const size_t total = size_t(a.size());
      if (a.dtype().byteorder() == '>') throw WrongType(std::string(what) + " must be in native byte order");
      const double* d = static_cast<const double*>(a.data());
      for (size_t i = 0; i < total; ++i)
        if (std::isfinite(d[i]) && std::fabs(d[i]) > double(std::numeric_limits<float>::max()))
          throw InvalidArgument(std::string(what) + " hold a value (" + std::to_string(d[i]) +
                                ") beyond the float32 range");
    }
    rows.holder = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
    if (!rows.holder) throw WrongType(std::string(what) + " could not be converted to float32");
    rows.data = rows.holder.data();
  } else {
    rows.data = static_cast<const float*>(a.data());
  }
  return rows;
}

py::array_t<uint64_t> to_array(const std::vector<uint64_t>& v) {
  py::array_t<uint64_t> out(py::ssize_t(v.size()));
  if (!v.empty()) std::memcpy(out.mutable_data(), v.data(), v.size() * sizeof(uint64_t));
  return out;
}

// Ids and offsets are below 2**63, so they fit int64 as numpy indexes like.
py::array_t<int64_t> to_int64_array(const std::vector<uint64_t>& v) {
  py::array_t<int64_t> out(py::ssize_t(v.size()));
  int64_t* p = out.mutable_data();
  for (size_t i = 0; i < v.size(); ++i) p[i] = int64_t(v[i]);
  return out;
}

size_t checked_k(long long k, size_t nq) {
  if (k < 1) throw InvalidArgument("k must be >= 1, got " + std::to_string(k));
  const size_t kk = size_t(k);
  if (nq > 0 && kk > (size_t(1) << 40) / nq) throw InvalidArgument("k * number of queries is too large");
  return kk;
}

// (ids, scores) arrays of nq x k, or of k for a single query given as one row.
py::tuple result_arrays(const Rows& rows, size_t k, py::array_t<int64_t>& ids, py::array_t<float>& scores) {
  if (rows.one_dimensional)
    return py::make_tuple(ids.attr("reshape")(py::make_tuple(k)), scores.attr("reshape")(py::make_tuple(k)));
  return py::make_tuple(ids, scores);
}

}  // namespace

void bind_search(py::module_& m) {
  // A bad FACEINDEX_SIMD fails the import with its reason, not a later call.
  search::active_kernels();
  m.def("simd_level", [] { return std::string(search::active_kernels().level); },
        "The SIMD level whose kernels run: scalar, avx2 or avx512.");
  m.def("simd_features", [] { return std::string(search::active_kernels().features); },
        "The instruction-set extensions the running kernels use.");
  m.def("set_simd_level", [](const std::string& level) { search::set_simd_level(level); }, py::arg("level"),
        "Force a SIMD level (auto, scalar, avx2, avx512) for searches that start after this call.");
  m.def("supported_simd_levels", [] { return search::supported_simd_levels(); });

  py::class_<FlatIndex>(m, "FlatIndex")
      .def(py::init([](int dim, const std::string& metric, const std::string& dtype) {
             return std::make_unique<FlatIndex>(dim, search::parse_metric(metric), search::parse_dtype(dtype));
           }),
           py::arg("dim"), py::arg("metric"), py::arg("dtype"))
      .def_property_readonly("dim", &FlatIndex::dim)
      .def_property_readonly("metric", [](const FlatIndex& self) { return search::metric_name(self.metric()); })
      .def_property_readonly("dtype", [](const FlatIndex& self) { return search::dtype_name(self.dtype()); })
      .def_property_readonly("memory_bytes", &FlatIndex::memory_bytes)
      .def_property_readonly("is_mapped", &FlatIndex::is_mapped)
      .def("__len__", &FlatIndex::size)
      .def("contains", &FlatIndex::contains, py::arg("id"))
      .def("add", [](FlatIndex& self, const py::array& ids, const py::array& vectors) {
             const std::vector<uint64_t> id_list = ids_from(ids, "ids");
             const Rows rows = rows_from(vectors, self.dim(), "vectors");
             if (rows.n != id_list.size())
               throw InvalidArgument("got " + std::to_string(id_list.size()) + " ids for " + std::to_string(rows.n) +
                                     " vectors");
             py::gil_scoped_release release;
             self.add(id_list.data(), rows.data, rows.n);
           },
           py::arg("ids"), py::arg("vectors"))
      .def("reserve", [](FlatIndex& self, long long n) {
             if (n < 0) throw InvalidArgument("n must be >= 0, got " + std::to_string(n));
             if (n > (1LL << 40)) throw InvalidArgument("n is too large: " + std::to_string(n));
             py::gil_scoped_release release;
             self.reserve(size_t(n));
           },
           py::arg("n"))
      .def("remove", [](FlatIndex& self, const py::array& ids) {
             const std::vector<uint64_t> id_list = ids_from(ids, "ids");
             py::gil_scoped_release release;
             return self.remove(id_list.data(), id_list.size());
           },
           py::arg("ids"))
      .def("reconstruct", [](const FlatIndex& self, uint64_t id) {
             py::array_t<float> out(py::ssize_t(self.dim()));
             if (!self.reconstruct(id, out.mutable_data())) throw py::key_error("id " + std::to_string(id) + " is not in the index");
             return out;
           },
           py::arg("id"))
      .def("ids", [](const FlatIndex& self) { return to_array(self.ids()); })
      .def("search", [](const FlatIndex& self, const py::array& queries, long long k) {
             if (k < 1) throw InvalidArgument("k must be >= 1, got " + std::to_string(k));
             const Rows rows = rows_from(queries, self.dim(), "queries");
             const size_t kk = checked_k(k, rows.n);
             py::array_t<int64_t> ids({py::ssize_t(rows.n), py::ssize_t(kk)});
             py::array_t<float> scores({py::ssize_t(rows.n), py::ssize_t(kk)});
             int64_t* ids_out = ids.mutable_data();
             float* scores_out = scores.mutable_data();
             {
               py::gil_scoped_release release;
               self.search(rows.data, rows.n, kk, ids_out, scores_out, python_interrupt_poll());
             }
             return result_arrays(rows, kk, ids, scores);
           },
           py::arg("queries"), py::arg("k"))
      .def("candidates", [](const FlatIndex& self, const py::array& queries, long long k, double min_score) {
             const Rows rows = rows_from(queries, self.dim(), "queries");
             const size_t kk = checked_k(k, rows.n);
             search::CandidateLists found;
             {
               py::gil_scoped_release release;
               found = self.candidates(rows.data, rows.n, kk, min_score, python_interrupt_poll());
             }
             return py::make_tuple(to_int64_array(found.offsets), to_int64_array(found.ids));
           },
           py::arg("queries"), py::arg("k"), py::arg("min_score"))
      .def("rescore", [](const FlatIndex& self, const py::array& queries, const py::array& offsets,
                         const py::array& candidate_ids, const py::array& vector_ids, const py::array& vectors,
                         long long k, double min_score) {
             const Rows rows = rows_from(queries, self.dim(), "queries");
             const size_t kk = checked_k(k, rows.n);
             search::CandidateLists candidates{ids_from(offsets, "candidate offsets"),
                                               ids_from(candidate_ids, "candidate ids")};
             const std::vector<uint64_t> ids = ids_from(vector_ids, "vector ids");
             const Rows given = rows_from(vectors, self.dim(), "vectors");
             if (given.n != ids.size())
               throw InvalidArgument("got " + std::to_string(ids.size()) + " vector ids for " +
                                     std::to_string(given.n) + " vectors");
             py::array_t<int64_t> out_ids({py::ssize_t(rows.n), py::ssize_t(kk)});
             py::array_t<float> out_scores({py::ssize_t(rows.n), py::ssize_t(kk)});
             int64_t* ids_out = out_ids.mutable_data();
             float* scores_out = out_scores.mutable_data();
             {
               py::gil_scoped_release release;
               self.rescore(rows.data, rows.n, candidates, ids.data(), given.data, given.n, kk, min_score, ids_out,
                            scores_out, python_interrupt_poll());
             }
             return result_arrays(rows, kk, out_ids, out_scores);
           },
           py::arg("queries"), py::arg("offsets"), py::arg("candidate_ids"), py::arg("vector_ids"),
           py::arg("vectors"), py::arg("k"), py::arg("min_score"))
      .def("save", [](const FlatIndex& self, const std::string& path) {
             py::gil_scoped_release release;
             self.save(path);
           },
           py::arg("path"))
      .def("save_to_fd", [](const FlatIndex& self, int fd) {
             py::gil_scoped_release release;
             self.save_to_fd(fd);
           },
           py::arg("fd"))
      .def_static("load", [](const std::string& path, bool mmap) {
                    py::gil_scoped_release release;
                    return FlatIndex::load(path, mmap);
                  },
                  py::arg("path"), py::arg("mmap") = true);
}

}  // namespace faceindex::bindings
