// The Hungarian method with potentials (Kuhn-Munkres, shortest augmenting paths) on a
// square matrix padded with the gate cost; pairs at the gate are dropped afterwards.
#include "faceindex/assignment.h"

#include <algorithm>
#include <limits>

namespace faceindex::vision {

std::vector<int> assign_min_cost(const std::vector<double>& cost, size_t rows, size_t cols, double forbidden) {
  std::vector<int> result(rows, -1);
  if (rows == 0 || cols == 0) return result;
  const size_t n = std::max(rows, cols);
  auto at = [&](size_t r, size_t c) { return (r < rows && c < cols) ? std::min(cost[r * cols + c], forbidden) : forbidden; };
  const double inf = std::numeric_limits<double>::infinity();
  // 1-based arrays as in the classic formulation: p[c] = row matched to column c.
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0), minv(n + 1);
  std::vector<size_t> p(n + 1, 0), way(n + 1, 0);
  std::vector<char> used(n + 1);
  for (size_t r = 1; r <= n; ++r) {
    p[0] = r;
    size_t c0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[c0] = 1;
      const size_t r0 = p[c0];
      double delta = inf;
      size_t c1 = 0;
      for (size_t c = 1; c <= n; ++c) {
        if (used[c]) continue;
        const double reduced = at(r0 - 1, c - 1) - u[r0] - v[c];
        if (reduced < minv[c]) {
          minv[c] = reduced;
          way[c] = c0;
        }
        if (minv[c] < delta) {
          delta = minv[c];
          c1 = c;
        }
      }
      for (size_t c = 0; c <= n; ++c) {
        if (used[c]) {
          u[p[c]] += delta;
          v[c] -= delta;
        } else {
          minv[c] -= delta;
        }
      }
      c0 = c1;
    } while (p[c0] != 0);
    do {
      const size_t c1 = way[c0];
      p[c0] = p[c1];
      c0 = c1;
    } while (c0 != 0);
  }
  for (size_t c = 1; c <= n; ++c) {
    const size_t r = p[c] - 1;
    if (r < rows && c - 1 < cols && cost[r * cols + (c - 1)] < forbidden) result[r] = int(c - 1);
  }
  return result;
}

}  // namespace faceindex::vision
