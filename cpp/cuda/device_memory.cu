#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "faceindex/cuda_memory.h"

namespace faceindex::cuda {
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear a sticky error so later calls report their own
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
  }
}

cudaStream_t as_stream(uintptr_t s) { return reinterpret_cast<cudaStream_t>(s); }

}  // namespace

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  check(cudaMalloc(&data_, bytes), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

void DeviceBuffer::copy_from_host(const void* src, size_t bytes, uintptr_t stream) {
  if (bytes > bytes_) throw std::invalid_argument("copy of " + std::to_string(bytes) + " bytes into a device buffer of " + std::to_string(bytes_));
  if (bytes) check(cudaMemcpyAsync(data_, src, bytes, cudaMemcpyHostToDevice, as_stream(stream)), "cudaMemcpyAsync to device");
}

void DeviceBuffer::copy_to_host(void* dst, size_t bytes, uintptr_t stream) const {
  if (bytes > bytes_) throw std::invalid_argument("copy of " + std::to_string(bytes) + " bytes out of a device buffer of " + std::to_string(bytes_));
  if (bytes) check(cudaMemcpyAsync(dst, data_, bytes, cudaMemcpyDeviceToHost, as_stream(stream)), "cudaMemcpyAsync to host");
}

Stream::Stream() {
  cudaStream_t s = nullptr;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  stream_ = s;
}

Stream::~Stream() {
  if (stream_) cudaStreamDestroy(as_stream(handle()));
}

void Stream::synchronize() const { check(cudaStreamSynchronize(as_stream(handle())), "cudaStreamSynchronize"); }

}  // namespace faceindex::cuda
