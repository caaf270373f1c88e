// The stored vectors of a FlatIndex in panels of 16, with their per-row
// scale, squared norm and id. Memory is either owned (growable) or borrowed
// from a loaded file image (read-only, possibly memory-mapped) until the
// first change copies it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "faceindex/search_types.h"
#include "kernels.h"

namespace faceindex::search {

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<uint8_t, AlignedFree>;
AlignedBytes allocate_aligned(size_t bytes);  // zeroed, 64-byte aligned; throws std::bad_alloc

// Bytes one panel of 16 vectors takes for a dim and dtype.
size_t panel_bytes_for(int dim, DType dtype);

// A loaded index file kept alive for the stores that borrow from it.
struct FileImage {
  virtual ~FileImage() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  virtual bool mapped() const = 0;
};

class VectorStore {
 public:
  VectorStore(int dim, DType dtype);

  // Borrow count rows laid out as in an index file.
  static std::unique_ptr<VectorStore> borrow(int dim, DType dtype, size_t count, std::shared_ptr<const FileImage> image,
                                             const uint64_t* ids, const float* scale, const float* sqnorm,
                                             const uint8_t* panels);

  int dim() const { return dim_; }
  DType dtype() const { return dtype_; }
  size_t count() const { return count_; }
  size_t panel_bytes() const { return panel_bytes_; }
  size_t n_panels() const { return (count_ + kPanel - 1) / kPanel; }
  bool borrowed() const { return image_ != nullptr; }
  bool mapped() const { return image_ && image_->mapped(); }
  size_t memory_bytes() const;

  const uint8_t* panels() const { return panels_; }
  const float* scale() const { return scale_; }
  const float* sqnorm() const { return sqnorm_; }
  const uint64_t* ids() const { return ids_; }

  PanelRange range(size_t first_panel, size_t n_panels) const;

  // Room for `rows` rows in owned memory, so that appending up to them copies nothing.
  void reserve(size_t rows);
  // Appends rows (finite, normalised already for cosine), encoding them to the
  // store's dtype, in parallel when there are many.
  void append(const uint64_t* ids, const float* rows, size_t n, const Kernels& kernels);
  // Moves the last row into `row` and drops the last row.
  void remove_by_swap(size_t row);
  // The stored row decoded to float32.
  void decode(size_t row, float* out, const Kernels& kernels) const;

 private:
  void grow(size_t rows);         // room for rows, growing by half at least
  void reallocate(size_t rows);   // owned buffers of that capacity, the rows copied over
  void own();  // copy borrowed memory into owned buffers
  void encode_row(size_t row, const float* values, const Kernels& kernels, float* scratch);
  void copy_row(size_t from, size_t to);
  void zero_row(size_t row);

  int dim_;
  DType dtype_;
  size_t panel_bytes_;
  size_t count_ = 0;
  size_t capacity_ = 0;  // rows, a multiple of kPanel

  uint8_t* panels_ = nullptr;
  float* scale_ = nullptr;
  float* sqnorm_ = nullptr;
  uint64_t* ids_ = nullptr;

  AlignedBytes owned_panels_, owned_scale_, owned_sqnorm_, owned_ids_;
  std::shared_ptr<const FileImage> image_;
};

}  // namespace faceindex::search
