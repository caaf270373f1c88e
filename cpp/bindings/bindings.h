// Each bindings file registers one part of faceindex._core.
#pragma once

#include <pybind11/pybind11.h>

#include "faceindex/parallel.h"

namespace faceindex::bindings {

void bind_build_info(pybind11::module_& m);
void bind_search(pybind11::module_& m);
void bind_cuda(pybind11::module_& m);
void bind_vision(pybind11::module_& m);
void bind_vision_dlib(pybind11::module_& m);  // dlib pack: pyramid, mmod decode, shape predictor, chips
void bind_vision_onnx(pybind11::module_& m);  // ONNX packs: detector pre/post-processing, alignment
void bind_vision_video(pybind11::module_& m);  // video: face tracker, shot changes

// Interrupt poll for parallel loops that run with the GIL released: takes
// the GIL and lets Python run its signal handlers (Ctrl-C raises there).
InterruptPoll python_interrupt_poll();

}  // namespace faceindex::bindings
