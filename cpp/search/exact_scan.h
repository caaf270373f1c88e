// One exact search over a store: queries in batches, stored panels in
// cache-sized chunks, spread over threads, each thread keeping its own
// top-k per query, merged at the end.
#pragma once

#include <cstddef>
#include <cstdint>

#include "faceindex/parallel.h"
#include "kernels.h"
#include "query_prep.h"
#include "vector_store.h"

namespace faceindex::search {

// Queries per batch from which a screened scan pays (when available), measured
// on 200k x 512: the bf16 screen from about 16-24 queries, the 8-bit i8 screen
// (no f32 re-scoring, a cheap chunk conversion) already at 2 to 4.
constexpr size_t kScreenMinQueries = 24;
constexpr size_t kScreenMinQueriesI8 = 4;

bool use_screened_scan(const VectorStore& store, size_t nq, const Kernels& kernels);

// Writes nq x k (id, raw score) best first, score = q.x - bias_factor |x|^2;
// entries past the store's size are left as they are.
void exact_scan(const VectorStore& store, const PreparedQueries& queries, size_t k, const Kernels& kernels,
                bool screened, int64_t* out_ids, float* out_scores, const InterruptPoll& poll);

}  // namespace faceindex::search
