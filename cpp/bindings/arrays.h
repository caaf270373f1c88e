// Checks at the boundary: shape, dtype, contiguity. The C++ below assumes
// arrays that passed these.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "faceindex/errors.h"

namespace faceindex::bindings {

inline std::string shape_string(const pybind11::array& a) {
  std::string s = "(";
  for (pybind11::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

inline bool is_c_contiguous(const pybind11::array& a) {
  return (a.flags() & pybind11::array::c_style) != 0;
}

inline void require_c_contiguous(const pybind11::array& a, const char* what) {
  if (!is_c_contiguous(a))
    throw InvalidArgument(std::string(what) + " must be C-contiguous (use numpy.ascontiguousarray)");
}

template <typename T>
void require_dtype(const pybind11::array& a, const char* what, const char* dtype_name) {
  // Equal, not the same object: an array unpickled (as Ray hands it over) carries its own dtype
  // object; equality still refuses another byte order.
  if (!pybind11::isinstance<pybind11::array_t<T>>(a) || !a.dtype().equal(pybind11::dtype::of<T>()))
    throw WrongType(std::string(what) + " must be " + dtype_name + ", got " +
                    std::string(pybind11::str(a.dtype())));
}

struct ImageView {
  const uint8_t* data;
  int height;
  int width;
};

// A uint8 H x W x 3 C-contiguous RGB image.
inline ImageView require_rgb_image(const pybind11::array& a, const char* what = "image") {
  require_dtype<uint8_t>(a, what, "uint8");
  if (a.ndim() != 3 || a.shape(2) != 3)
    throw InvalidArgument(std::string(what) + " must have shape (H, W, 3), got " + shape_string(a));
  if (a.shape(0) < 1 || a.shape(1) < 1)
    throw InvalidArgument(std::string(what) + " is empty: shape " + shape_string(a));
  if (a.shape(0) > (1 << 20) || a.shape(1) > (1 << 20))
    throw InvalidArgument(std::string(what) + " is too large: shape " + shape_string(a));
  require_c_contiguous(a, what);
  return ImageView{static_cast<const uint8_t*>(a.data()), int(a.shape(0)), int(a.shape(1))};
}

}  // namespace faceindex::bindings
