// Exact search from compressed codes: the f32 answer, to the bit, from a scan
// of f16 or i8 codes and a full-precision re-score of a few rows.
//
// Step 1 (compressed_candidates) scans the codes with the f16/i8 kernels. Each
// code score a comes with a proven bound e on |s - a|, where s is the score
// the f32 kernel computes for the same stored vector and query (the bound and
// its proof: compressed_scan.cpp). A row is kept when its upper bound a + e
// reaches max(min_score, L_k), L_k being the k-th largest lower bound a - e
// seen; no other row can be among the k best at or above min_score, ties
// (broken by id) included.
// Step 2 (rescore_exact) scores the candidates with the f32 kernel itself, on
// the f32 vectors the caller supplies, and keeps the k best at or above
// min_score with FlatIndex's own top-k.
#pragma once

#include <cstddef>
#include <cstdint>

#include "faceindex/flat_index.h"
#include "faceindex/parallel.h"
#include "kernels.h"
#include "query_prep.h"
#include "vector_store.h"

namespace faceindex::search {

// The store is f16 or i8 and holds unit vectors (cosine); queries were
// prepared for it (normalised; i8 codes). min_score may be -inf.
CandidateLists compressed_candidates(const VectorStore& store, const PreparedQueries& queries, size_t k,
                                     double min_score, const Kernels& kernels, bool screened,
                                     const InterruptPoll& poll);

// f32 vectors by id, normalised as FlatIndex stores them.
struct VectorsById {
  const uint64_t* ids;
  const float* vectors;  // n x dim
  size_t n;
};

// Writes nq x k (id, score) best first, only scores >= min_score; entries past
// the last are left as they are. Throws InvalidArgument when a candidate has no vector.
void rescore_exact(const PreparedQueries& queries, const CandidateLists& candidates, const VectorsById& vectors,
                   size_t k, double min_score, const Kernels& kernels, int64_t* out_ids, float* out_scores,
                   const InterruptPoll& poll);

}  // namespace faceindex::search
