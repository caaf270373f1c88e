// The FlatIndex file format (version 1), little-endian:
//
//   header   64 bytes: magic "FIDXFLAT", format version, header size, dim,
//            metric, dtype, panel width, count, file size
//   ids      uint64 x count_padded     (count rounded up to a whole panel)
//   scale    float32 x count_padded    (i8 code scale; 1 for f32/f16)
//   sqnorm   float32 x count_padded    (squared norm of the stored vector)
//   panels   panel_bytes x panels      (the in-memory layout, so that a
//                                       memory-mapped file is searched as is)
//   checksum uint64: XXH64 over 1 MiB block digests of everything before it
//
// Sections start on 64-byte boundaries; the gaps are zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "faceindex/search_types.h"
#include "vector_store.h"

namespace faceindex::search {

constexpr uint32_t kFormatVersion = 1;

struct IndexFileLayout {
  size_t count_padded;
  size_t ids_offset, scale_offset, sqnorm_offset, panels_offset, checksum_offset, file_size;
};

IndexFileLayout index_file_layout(int dim, DType dtype, size_t count);

// Written to a temporary file beside `path`, flushed to disk, then renamed
// over `path`: a reader sees the old file or the new one, never a mix.
void write_index_file(const std::string& path, Metric metric, const VectorStore& store);

// The same bytes written to an open file descriptor at its current offset, with no
// flush or rename: for a caller that encrypts them (from a memfd) before they reach a disk.
void write_index_image(int fd, Metric metric, const VectorStore& store);

struct LoadedIndex {
  Metric metric;
  std::unique_ptr<VectorStore> store;
};

// Verifies everything (magic, version, fields, size, checksum, ids) and
// throws FileFormatError naming the problem.
LoadedIndex read_index_file(const std::string& path, bool mmap);

}  // namespace faceindex::search
