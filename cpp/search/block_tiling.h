// Covers a range of panels and a batch of queries with register blocks.
// A Tiles type names one block shape per query group: Tiles<2, 12, 4, 1> runs
// two panels at a time, against 12 queries while 12 remain, then 4, then 1.
// Each ISA picks the shapes its register file holds; the loops are these.
#pragma once

#include <cstddef>

#include "register_block.h"

namespace faceindex::search {
namespace {

template <int NP, int NQ, int... Fewer, class Step, class Epilogue>
void run_query_groups(const Step& step, const Epilogue& epilogue, size_t p, int j, int n_queries) {
  for (; j + NQ <= n_queries; j += NQ) register_block<NQ, NP>(step, epilogue, p, j);
  if constexpr (sizeof...(Fewer) > 0) run_query_groups<NP, Fewer...>(step, epilogue, p, j, n_queries);
}

template <int NP, int... NQ>
struct Tiles {
  static constexpr int panels = NP;
  static constexpr int group_sizes[] = {NQ...};
  static_assert(group_sizes[sizeof...(NQ) - 1] == 1, "the last query group must take single queries");

  template <class Step, class Epilogue>
  static void run(const Step& step, const Epilogue& epilogue, size_t p, int n_queries) {
    run_query_groups<NP, NQ...>(step, epilogue, p, 0, n_queries);
  }
};

// Groups of Wide::panels panels while they last, then Tail's single panels.
template <class Wide, class Tail = Wide, class Step, class Epilogue>
void tile_blocks(const Step& step, const Epilogue& epilogue, size_t n_panels, int n_queries) {
  static_assert(Tail::panels == 1, "the tail must take single panels");
  size_t p = 0;
  for (; p + Wide::panels <= n_panels; p += Wide::panels) Wide::run(step, epilogue, p, n_queries);
  for (; p < n_panels; ++p) Tail::run(step, epilogue, p, n_queries);
}

}  // namespace
}  // namespace faceindex::search
