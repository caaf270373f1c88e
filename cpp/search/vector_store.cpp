#include "vector_store.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include <sys/mman.h>

#include "faceindex/parallel.h"

namespace faceindex::search {

AlignedBytes allocate_aligned(size_t bytes) {
  // Large buffers are streamed through by every search: ask for transparent
  // huge pages (2 MiB alignment) so the scan is not bound by TLB misses.
  constexpr size_t kHugePage = size_t(2) << 20;
  const bool huge = bytes >= kHugePage;
  const size_t alignment = huge ? kHugePage : 64;
  const size_t rounded = std::max<size_t>(64, (bytes + alignment - 1) / alignment * alignment);
  void* p = std::aligned_alloc(alignment, rounded);
  if (!p) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
  if (huge) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
  std::memset(p, 0, rounded);
  return AlignedBytes(static_cast<uint8_t*>(p));
}

size_t panel_bytes_for(int dim, DType dtype) {
  switch (dtype) {
    case DType::F32: return size_t(dim) * kPanel * 4;
    case DType::F16: return size_t(dim) * kPanel * 2;
    case DType::I8: return size_t((dim + 1) / 2) * 2 * kPanel;
  }
  return 0;
}

VectorStore::VectorStore(int dim, DType dtype) : dim_(dim), dtype_(dtype), panel_bytes_(panel_bytes_for(dim, dtype)) {}

std::unique_ptr<VectorStore> VectorStore::borrow(int dim, DType dtype, size_t count,
                                                 std::shared_ptr<const FileImage> image, const uint64_t* ids,
                                                 const float* scale, const float* sqnorm, const uint8_t* panels) {
  auto store = std::make_unique<VectorStore>(dim, dtype);
  store->count_ = count;
  store->capacity_ = (count + kPanel - 1) / kPanel * kPanel;
  store->ids_ = const_cast<uint64_t*>(ids);  // never written while borrowed: own() copies first
  store->scale_ = const_cast<float*>(scale);
  store->sqnorm_ = const_cast<float*>(sqnorm);
  store->panels_ = const_cast<uint8_t*>(panels);
  store->image_ = std::move(image);
  return store;
}

size_t VectorStore::memory_bytes() const {
  if (borrowed() && mapped()) return 0;  // the page cache holds it, shared
  return capacity_ / kPanel * panel_bytes_ + capacity_ * (2 * sizeof(float) + sizeof(uint64_t));
}

PanelRange VectorStore::range(size_t first_panel, size_t n) const {
  const size_t first_row = first_panel * kPanel;
  const size_t rows = std::min(count_ - first_row, n * kPanel);
  return PanelRange{panels_ + first_panel * panel_bytes_, panel_bytes_, n, first_row, rows,
                    scale_ + first_row, sqnorm_ + first_row};
}

void VectorStore::reserve(size_t rows) {
  if (rows <= capacity_ && !borrowed()) return;
  reallocate(std::max(rows, count_));
}

void VectorStore::grow(size_t rows) {
  if (rows <= capacity_ && !borrowed()) return;
  reallocate(std::max<size_t>(capacity_ + capacity_ / 2, rows));  // grow by half: amortised O(1)
}

void VectorStore::reallocate(size_t rows) {
  size_t capacity = std::max<size_t>(rows, kPanel);
  capacity = (capacity + kPanel - 1) / kPanel * kPanel;
  if (capacity / kPanel > SIZE_MAX / panel_bytes_) throw std::bad_alloc();
  AlignedBytes panels = allocate_aligned(capacity / kPanel * panel_bytes_);
  AlignedBytes scale = allocate_aligned(capacity * sizeof(float));
  AlignedBytes sqnorm = allocate_aligned(capacity * sizeof(float));
  AlignedBytes ids = allocate_aligned(capacity * sizeof(uint64_t));
  if (count_ > 0) {
    std::memcpy(panels.get(), panels_, n_panels() * panel_bytes_);
    std::memcpy(scale.get(), scale_, count_ * sizeof(float));
    std::memcpy(sqnorm.get(), sqnorm_, count_ * sizeof(float));
    std::memcpy(ids.get(), ids_, count_ * sizeof(uint64_t));
  }
  owned_panels_ = std::move(panels);
  owned_scale_ = std::move(scale);
  owned_sqnorm_ = std::move(sqnorm);
  owned_ids_ = std::move(ids);
  panels_ = owned_panels_.get();
  scale_ = reinterpret_cast<float*>(owned_scale_.get());
  sqnorm_ = reinterpret_cast<float*>(owned_sqnorm_.get());
  ids_ = reinterpret_cast<uint64_t*>(owned_ids_.get());
  capacity_ = capacity;
  image_.reset();
}

void VectorStore::own() {
  if (borrowed()) reallocate(count_);
}

void VectorStore::encode_row(size_t row, const float* values, const Kernels& kernels, float* scratch) {
  uint8_t* panel = panels_ + (row / kPanel) * panel_bytes_;
  const size_t lane = row % kPanel;
  double sq = 0;
  float scale = 1.0f;
  switch (dtype_) {
    case DType::F32: {
      float* x = reinterpret_cast<float*>(panel);
      for (int d = 0; d < dim_; ++d) {
        x[size_t(d) * kPanel + lane] = values[d];
        sq += double(values[d]) * values[d];
      }
      break;
    }
    case DType::F16: {
      uint16_t* x = reinterpret_cast<uint16_t*>(panel);
      uint16_t* halves = reinterpret_cast<uint16_t*>(scratch);
      float* decoded = scratch + dim_;
      kernels.f32_to_f16(values, halves, size_t(dim_));
      kernels.f16_to_f32(halves, decoded, size_t(dim_));
      for (int d = 0; d < dim_; ++d) {
        x[size_t(d) * kPanel + lane] = halves[d];
        sq += double(decoded[d]) * decoded[d];
      }
      break;
    }
    case DType::I8: {
      // Symmetric per-vector codes: scale = max|x| / 127, code = round(x / scale).
      int8_t* x = reinterpret_cast<int8_t*>(panel);
      float max_abs = 0;
      for (int d = 0; d < dim_; ++d) max_abs = std::max(max_abs, std::fabs(values[d]));
      scale = max_abs / 127.0f;
      long code_sq = 0;
      for (int d = 0; d < dim_; ++d) {
        long code = scale > 0 ? std::lrint(double(values[d]) / double(scale)) : 0;
        code = std::clamp(code, -127L, 127L);
        x[size_t(d / 2) * 2 * kPanel + lane * 2 + (d % 2)] = int8_t(code);
        code_sq += code * code;
      }
      sq = double(scale) * double(scale) * double(code_sq);
      break;
    }
  }
  scale_[row] = scale;
  sqnorm_[row] = float(sq);
}

void VectorStore::append(const uint64_t* ids, const float* rows, size_t n, const Kernels& kernels) {
  if (n == 0) return;
  grow(count_ + n);  // owned memory, with room for n more
  const size_t first = count_;
  std::memcpy(ids_ + first, ids, n * sizeof(uint64_t));
  // Rows of one panel share cache lines: hand out whole panels per task.
  const size_t first_panel = first / kPanel, last_panel = (first + n - 1) / kPanel;
  const size_t n_tasks = last_panel - first_panel + 1;
  const size_t threads = n * size_t(dim_) >= (1u << 20) ? num_threads() : 1;
  std::vector<std::vector<float>> scratch(std::min(threads, n_tasks), std::vector<float>(size_t(dim_) * 2));
  parallel_for(n_tasks, scratch.size(), [&](size_t task, size_t worker) {
    const size_t panel = first_panel + task;
    const size_t begin = std::max(first, panel * kPanel), end = std::min(first + n, (panel + 1) * kPanel);
    for (size_t row = begin; row < end; ++row)
      encode_row(row, rows + (row - first) * size_t(dim_), kernels, scratch[worker].data());
  });
  count_ += n;
}

void VectorStore::copy_row(size_t from, size_t to) {
  const uint8_t* src = panels_ + (from / kPanel) * panel_bytes_;
  uint8_t* dst = panels_ + (to / kPanel) * panel_bytes_;
  const size_t ls = from % kPanel, ld = to % kPanel;
  switch (dtype_) {
    case DType::F32:
      for (int d = 0; d < dim_; ++d)
        reinterpret_cast<float*>(dst)[size_t(d) * kPanel + ld] = reinterpret_cast<const float*>(src)[size_t(d) * kPanel + ls];
      break;
    case DType::F16:
      for (int d = 0; d < dim_; ++d)
        reinterpret_cast<uint16_t*>(dst)[size_t(d) * kPanel + ld] =
            reinterpret_cast<const uint16_t*>(src)[size_t(d) * kPanel + ls];
      break;
    case DType::I8:
      for (int k = 0; k < (dim_ + 1) / 2; ++k) {
        dst[size_t(k) * 2 * kPanel + ld * 2] = src[size_t(k) * 2 * kPanel + ls * 2];
        dst[size_t(k) * 2 * kPanel + ld * 2 + 1] = src[size_t(k) * 2 * kPanel + ls * 2 + 1];
      }
      break;
  }
  scale_[to] = scale_[from];
  sqnorm_[to] = sqnorm_[from];
  ids_[to] = ids_[from];
}

void VectorStore::zero_row(size_t row) {
  uint8_t* panel = panels_ + (row / kPanel) * panel_bytes_;
  const size_t lane = row % kPanel;
  const size_t elem = dtype_ == DType::F32 ? 4 : dtype_ == DType::F16 ? 2 : 1;
  if (dtype_ == DType::I8) {
    for (int k = 0; k < (dim_ + 1) / 2; ++k) panel[size_t(k) * 2 * kPanel + lane * 2] = panel[size_t(k) * 2 * kPanel + lane * 2 + 1] = 0;
  } else {
    for (int d = 0; d < dim_; ++d) std::memset(panel + (size_t(d) * kPanel + lane) * elem, 0, elem);
  }
  scale_[row] = 0;
  sqnorm_[row] = 0;
  ids_[row] = 0;
}

void VectorStore::remove_by_swap(size_t row) {
  own();
  const size_t last = count_ - 1;
  if (row != last) copy_row(last, row);
  zero_row(last);  // padding lanes stay zero, so saved files are deterministic
  --count_;
}

void VectorStore::decode(size_t row, float* out, const Kernels& kernels) const {
  const uint8_t* panel = panels_ + (row / kPanel) * panel_bytes_;
  const size_t lane = row % kPanel;
  switch (dtype_) {
    case DType::F32:
      for (int d = 0; d < dim_; ++d) out[d] = reinterpret_cast<const float*>(panel)[size_t(d) * kPanel + lane];
      break;
    case DType::F16: {
      std::vector<uint16_t> halves(static_cast<size_t>(dim_));
      for (int d = 0; d < dim_; ++d) halves[d] = reinterpret_cast<const uint16_t*>(panel)[size_t(d) * kPanel + lane];
      kernels.f16_to_f32(halves.data(), out, size_t(dim_));
      break;
    }
    case DType::I8:
      for (int d = 0; d < dim_; ++d)
        out[d] = float(reinterpret_cast<const int8_t*>(panel)[size_t(d / 2) * 2 * kPanel + lane * 2 + (d % 2)]) * scale_[row];
      break;
  }
}

}  // namespace faceindex::search
