// How the scans split their work: one set of sizes for the f32 scan
// (exact_scan.cpp) and the compressed one (compressed_scan.cpp), which walk
// the same rows in the same chunks.
#pragma once

#include <cstddef>

namespace faceindex::search {

// Per-thread heaps stay under this many bytes in all (it bounds the batch).
constexpr size_t kHeapBudgetBytes = size_t(256) << 20;
constexpr size_t kMaxBatch = 256;
// Stored bytes per task: large for memory-bound scans (few queries), cache-
// sized when each chunk is reused by many queries.
constexpr size_t kStreamChunkBytes = size_t(1) << 20;
constexpr size_t kCacheChunkBytes = size_t(192) << 10;
// Below this many multiply-adds a search runs on the calling thread alone.
constexpr size_t kParallelWork = size_t(1) << 21;

}  // namespace faceindex::search
