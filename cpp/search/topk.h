// The best k (score, id) pairs seen so far: a binary heap with the worst
// kept on top, so that most candidates are turned away by one comparison.
// Equal scores are ordered by id (smaller first), so results do not depend
// on how rows were split over threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

namespace faceindex::search {

class TopK {
 public:
  TopK() = default;
  TopK(float* scores, uint64_t* ids, size_t k) : scores_(scores), ids_(ids), k_(k) {}

  size_t size() const { return size_; }
  size_t capacity() const { return k_; }

  // A score must reach this to have a chance of entering.
  float threshold() const { return size_ < k_ ? -std::numeric_limits<float>::infinity() : scores_[0]; }

  void push(float score, uint64_t id) {
    if (size_ < k_) {
      size_t i = size_++;
      while (i > 0) {
        const size_t parent = (i - 1) / 2;
        if (!worse(score, id, scores_[parent], ids_[parent])) break;
        scores_[i] = scores_[parent];
        ids_[i] = ids_[parent];
        i = parent;
      }
      scores_[i] = score;
      ids_[i] = id;
      return;
    }
    if (k_ == 0 || !worse(scores_[0], ids_[0], score, id)) return;
    sift_down_from_top(score, id);
  }

  // Empties the heap into out (best first). out has room for size() entries.
  void drain_sorted(float* out_scores, uint64_t* out_ids) {
    while (size_ > 0) {
      const size_t last = --size_;
      out_scores[last] = scores_[0];
      out_ids[last] = ids_[0];
      if (last > 0) {
        const float s = scores_[last];
        const uint64_t id = ids_[last];
        sift_down_from_top(s, id);
      }
    }
  }

  static bool worse(float a, uint64_t id_a, float b, uint64_t id_b) {
    return a < b || (a == b && id_a > id_b);
  }

 private:
  // Places (score, id) at the top and restores the heap over size_ entries.
  void sift_down_from_top(float score, uint64_t id) {
    size_t i = 0;
    for (;;) {
      const size_t left = 2 * i + 1;
      if (left >= size_) break;
      size_t child = left;
      const size_t right = left + 1;
      if (right < size_ && worse(scores_[right], ids_[right], scores_[left], ids_[left])) child = right;
      if (!worse(scores_[child], ids_[child], score, id)) break;
      scores_[i] = scores_[child];
      ids_[i] = ids_[child];
      i = child;
    }
    scores_[i] = score;
    ids_[i] = id;
  }

  float* scores_ = nullptr;
  uint64_t* ids_ = nullptr;
  size_t k_ = 0;
  size_t size_ = 0;
};

}  // namespace faceindex::search
