// Checksums for index files: XXH64 (the published algorithm, our own code)
// over 1 MiB blocks, then XXH64 over the block digests, so that verifying a
// large file runs on every core.
#pragma once

#include <cstddef>
#include <cstdint>

namespace faceindex::search {

constexpr size_t kChecksumBlock = size_t(1) << 20;

uint64_t xxh64(const void* data, size_t size, uint64_t seed);

// Checksum of size bytes, hashing blocks on up to `threads` threads.
uint64_t file_checksum(const uint8_t* data, size_t size, size_t threads);

}  // namespace faceindex::search
