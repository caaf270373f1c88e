// FlatIndex: exact nearest-neighbour search over face embeddings.
//
// Vectors live in panels of 16 (dimension-major inside a panel) so that one
// SIMD register holds one dimension of 16 vectors and a query block reads the
// stored vectors once. Search is exact for the stored values: f32 scores are
// bit-identical across the AVX2 and AVX-512 kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "faceindex/parallel.h"
#include "faceindex/search_types.h"

namespace faceindex::search {

class VectorStore;
class IdMap;

// Candidate ids per query of an exact search from codes:
// ids[offsets[j] .. offsets[j + 1]) ascending, for query j.
struct CandidateLists {
  std::vector<uint64_t> offsets;
  std::vector<uint64_t> ids;
};

class FlatIndex {
 public:
  FlatIndex(int dim, Metric metric, DType dtype);
  ~FlatIndex();
  FlatIndex(const FlatIndex&) = delete;
  FlatIndex& operator=(const FlatIndex&) = delete;

  int dim() const { return dim_; }
  Metric metric() const { return metric_; }
  DType dtype() const { return dtype_; }
  size_t size() const;
  size_t memory_bytes() const;
  bool is_mapped() const;

  // Vectors are float32 row-major n x dim, finite. All of a call's input is
  // checked before anything changes: on error the index is as it was.
  void add(const uint64_t* ids, const float* vectors, size_t n);
  size_t remove(const uint64_t* ids, size_t n);
  // Room for n vectors in all: adding up to them then copies nothing (memory grows once, to n).
  void reserve(size_t n);
  bool contains(uint64_t id) const;
  // The stored vector as float32 (normalised for cosine, decoded for f16/i8).
  bool reconstruct(uint64_t id, float* out) const;
  std::vector<uint64_t> ids() const;

  // Writes nq x k ids (-1 where fewer than k are stored) and scores, best
  // first: similarity for ip and cosine (padding -inf), squared L2 distance
  // for l2 (padding NaN). Queries are float32 nq x dim, finite.
  void search(const float* queries, size_t nq, size_t k, int64_t* out_ids, float* out_scores,
              const InterruptPoll& poll = nullptr) const;

  // Exact search from the codes of an f16 or i8 cosine index, in two steps
  // (compressed_scan.h): the ids whose f32 score could be among the k best at
  // or above min_score, then their f32 scores from the caller's f32 vectors
  // (as given to add(), normalised here as add() normalises), scored by the
  // f32 kernel. The result is that of search() on an f32 index holding the
  // same vectors, less the scores below min_score (padding as search()'s).
  CandidateLists candidates(const float* queries, size_t nq, size_t k, double min_score,
                            const InterruptPoll& poll = nullptr) const;
  void rescore(const float* queries, size_t nq, const CandidateLists& candidates, const uint64_t* vector_ids,
               const float* vectors, size_t n_vectors, size_t k, double min_score, int64_t* out_ids,
               float* out_scores, const InterruptPoll& poll = nullptr) const;

  void save(const std::string& path) const;
  // The file's bytes written to fd (no flush, no rename): an encrypted cache writes them to a memfd.
  void save_to_fd(int fd) const;
  static std::unique_ptr<FlatIndex> load(const std::string& path, bool mmap);

 private:
  FlatIndex(int dim, Metric metric, DType dtype, std::unique_ptr<VectorStore> store);

  int dim_;
  Metric metric_;
  DType dtype_;
  std::unique_ptr<VectorStore> store_;
  std::unique_ptr<IdMap> id_map_;
  mutable std::shared_mutex mutex_;
};

}  // namespace faceindex::search
