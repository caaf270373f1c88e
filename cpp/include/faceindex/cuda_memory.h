// Device memory and streams for host-driven inference (TensorRT bindings
// take raw device addresses). Only in CUDA builds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace faceindex::cuda {

// Owns cudaMalloc'd bytes.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  uintptr_t address() const { return reinterpret_cast<uintptr_t>(data_); }
  size_t bytes() const { return bytes_; }

  // Asynchronous on `stream` (0: the default stream); the host memory must
  // stay valid until the stream is synchronised.
  void copy_from_host(const void* src, size_t bytes, uintptr_t stream);
  void copy_to_host(void* dst, size_t bytes, uintptr_t stream) const;

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uintptr_t handle() const { return reinterpret_cast<uintptr_t>(stream_); }
  void synchronize() const;

 private:
  void* stream_ = nullptr;
};

}  // namespace faceindex::cuda
