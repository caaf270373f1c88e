// id -> row, open addressing with linear probing. Ids are below 2**63, so
// the all-ones key marks an empty slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace faceindex::search {

class IdMap {
 public:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static constexpr size_t kNotFound = ~size_t(0);

  size_t size() const { return size_; }

  void reserve(size_t n) {
    size_t want = 16;
    while (want < n + n / 2 + 1) want *= 2;  // load factor <= 2/3
    if (want > keys_.size()) rehash(want);
  }

  size_t find(uint64_t id) const {
    if (keys_.empty()) return kNotFound;
    for (size_t i = slot(id);; i = (i + 1) & mask_) {
      if (keys_[i] == id) return rows_[i];
      if (keys_[i] == kEmpty) return kNotFound;
    }
  }

  // False if the id is already present.
  bool insert(uint64_t id, size_t row) {
    reserve(size_ + 1);
    for (size_t i = slot(id);; i = (i + 1) & mask_) {
      if (keys_[i] == id) return false;
      if (keys_[i] == kEmpty) {
        keys_[i] = id;
        rows_[i] = row;
        ++size_;
        return true;
      }
    }
  }

  void set_row(uint64_t id, size_t row) {
    for (size_t i = slot(id);; i = (i + 1) & mask_) {
      if (keys_[i] == id) {
        rows_[i] = row;
        return;
      }
      if (keys_[i] == kEmpty) return;
    }
  }

  // Backward-shift deletion keeps probe chains intact without tombstones.
  bool erase(uint64_t id) {
    if (keys_.empty()) return false;
    size_t i = slot(id);
    for (;; i = (i + 1) & mask_) {
      if (keys_[i] == id) break;
      if (keys_[i] == kEmpty) return false;
    }
    size_t hole = i;
    for (size_t j = (hole + 1) & mask_; keys_[j] != kEmpty; j = (j + 1) & mask_) {
      const size_t home = slot(keys_[j]);
      // Move j into the hole if its home is not cyclically in (hole, j].
      const bool home_after_hole = ((j - home) & mask_) >= ((j - hole) & mask_);
      if (home_after_hole) {
        keys_[hole] = keys_[j];
        rows_[hole] = rows_[j];
        hole = j;
      }
    }
    keys_[hole] = kEmpty;
    --size_;
    return true;
  }

  void clear() {
    keys_.clear();
    rows_.clear();
    size_ = 0;
    mask_ = 0;
    shift_ = 64;
  }

  size_t memory_bytes() const { return keys_.capacity() * sizeof(uint64_t) + rows_.capacity() * sizeof(size_t); }

 private:
  size_t slot(uint64_t id) const {
    // Fibonacci hashing: the high bits of the product spread consecutive ids.
    return size_t((id * 0x9E3779B97F4A7C15ull) >> shift_);
  }

  void rehash(size_t capacity) {
    std::vector<uint64_t> old_keys(capacity, kEmpty);
    std::vector<size_t> old_rows(capacity, 0);
    old_keys.swap(keys_);
    old_rows.swap(rows_);
    mask_ = capacity - 1;
    shift_ = 64;
    for (size_t c = capacity; c > 1; c >>= 1) --shift_;
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (old_keys[i] == kEmpty) continue;
      for (size_t s = slot(old_keys[i]);; s = (s + 1) & mask_) {
        if (keys_[s] == kEmpty) {
          keys_[s] = old_keys[i];
          rows_[s] = old_rows[i];
          ++size_;
          break;
        }
      }
    }
  }

  std::vector<uint64_t> keys_;
  std::vector<size_t> rows_;
  size_t size_ = 0;
  size_t mask_ = 0;
  unsigned shift_ = 64;
};

}  // namespace faceindex::search
