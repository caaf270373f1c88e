// The register-blocked scan skeleton, written once for every instruction set:
// NQ x NP accumulators (queries x panels) stay in registers through one pass
// over the stored dimensions, then an epilogue takes each accumulator.
//
// It names no vector type and no intrinsic: a step policy brings those, so
// the AVX2 and the AVX-512 files both instantiate it, each under its own
// flags. Internal linkage, as for everything a wide-ISA file compiles (see
// cmake/check_isa_objects.cmake): each file gets its own copy.
//
// Step policy (one step: a dimension, or a pair or quad of dimensions):
//   int steps() const                    steps per vector
//   panel(size_t panel) const            where a panel's rows start
//   query(int query) const               where a query's values start
//   static zero()                        an empty accumulator
//   static load(panel pointer, int k)    step k of a panel's 16 lanes
//   static broadcast(query pointer, k)   step k of a query, in every lane
//   static madd(acc, row, query)         acc + row * query, lane by lane
// Epilogue policy:
//   Panel panel(size_t panel) const      what every query needs of a panel
//   operator()(const Panel&, acc, int query) const
#pragma once

#include <cstddef>

namespace faceindex::search {
namespace {

// Each lane accumulates in step order: a policy's madd alone decides how it
// rounds, so a kernel's results depend on neither NQ nor NP. Never inlined:
// each block shape gets the whole register file to itself, not what is left
// of it inside the caller's loops.
template <int NQ, int NP, class Step, class Epilogue>
__attribute__((noinline)) void register_block(const Step& step, const Epilogue& epilogue, size_t p0, int j0) {
  // Unrolled in full, so that the arrays below become registers.
  decltype(Step::zero()) acc[NQ][NP];
#pragma GCC unroll 32
  for (int j = 0; j < NQ; ++j)
#pragma GCC unroll 32
    for (int p = 0; p < NP; ++p) acc[j][p] = Step::zero();
  decltype(step.query(0)) qv[NQ];
  for (int j = 0; j < NQ; ++j) qv[j] = step.query(j0 + j);
  decltype(step.panel(0)) panel[NP];
  for (int p = 0; p < NP; ++p) panel[p] = step.panel(p0 + p);
  const int steps = step.steps();
  for (int k = 0; k < steps; ++k) {
    decltype(Step::load(panel[0], 0)) x[NP];
#pragma GCC unroll 32
    for (int p = 0; p < NP; ++p) x[p] = Step::load(panel[p], k);
#pragma GCC unroll 32
    for (int j = 0; j < NQ; ++j) {
      const auto qb = Step::broadcast(qv[j], k);
#pragma GCC unroll 32
      for (int p = 0; p < NP; ++p) acc[j][p] = Step::madd(acc[j][p], x[p], qb);
    }
  }
  for (int p = 0; p < NP; ++p) {
    const auto state = epilogue.panel(p0 + p);
    for (int j = 0; j < NQ; ++j) epilogue(state, acc[j][p], j0 + j);
  }
}

}  // namespace
}  // namespace faceindex::search
