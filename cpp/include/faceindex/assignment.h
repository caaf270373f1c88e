// Minimum-cost assignment (the Hungarian method) of rows to columns of a cost matrix,
// with a gate: a pair whose cost is at or above `forbidden` is never assigned.
#pragma once

#include <cstddef>
#include <vector>

namespace faceindex::vision {

// cost: rows x cols, row-major. Returns, for each row, its column or -1. O(n^3) in
// max(rows, cols): meant for the tens of faces of one frame, not for millions.
std::vector<int> assign_min_cost(const std::vector<double>& cost, size_t rows, size_t cols, double forbidden);

}  // namespace faceindex::vision
