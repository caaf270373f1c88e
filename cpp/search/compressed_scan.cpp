#include "compressed_scan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "faceindex/errors.h"
#include "id_map.h"
#include "scan_sizes.h"
#include "topk.h"

namespace faceindex::search {
namespace {

// ---------------------------------------------------------------------------
// The bound (a proof, not a tuning; docs/ARCHITECTURE.md states it too).
//
// Notation: n = dim, u = 2^-24 (float32 unit roundoff), g = (n+2)u / (1-(n+2)u).
// x is a stored vector as the f32 store holds it (normalised), x^ its code
// decoded to real numbers, q the prepared query (normalised), |.| the 2-norm,
// |.|_1 the 1-norm. s is the f32 kernel's score of (q, x): a dot product summed
// in dimension order, with FMA (AVX2, AVX-512) or a rounded product and a
// rounded sum (scalar), so |s - q.x| <= g sum|q_d x_d| <= g |q| |x| (Higham,
// Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5; g for
// gamma_{n+2} covers both forms; underflow adds at most 2^-150 a step, which
// the absolute term below covers).
//
// i8 codes: scale s_x = fl(max|x_d| / 127), c_d = lrint(x_d / s_x) in double,
// so |x_d - s_x c_d| <= h = s_x (1/2 + 2^-45) (the quotient's rounding is at
// most 2^-53 * 128; |x_d / s_x| stays below 127.5, so the clamp never acts).
// The query has int16 codes k_d with scale s_q: q^ = s_q k. The kernel computes
// a = fl(fl(acc) * fl(s_x s_q)) with acc = sum c_d k_d exact in int32, so
// |a - q^.x^| <= ((1+u)^3 - 1)|q^||x^| <= 4u |q^| |x^|. Then
//   |s - a| <= |s - q.x| + |q.(x - x^)| + |(q - q^).x^| + |q^.x^ - a|
//           <= g|q|(|x^| + h sqrt(n)) + h |q|_1 + |q - q^| |x^| + 4u (|q| + |q - q^|) |x^|
// using |x| <= |x^| + |x - x^| <= |x^| + h sqrt(n) and |q.(x - x^)| <= h |q|_1.
//
// f16 codes: x^_d = the half nearest x_d, |x_d - x^_d| <= 2^-11 |x_d| (normal
// halves) or 2^-25 (subnormal), so |x_d - x^_d| <= r |x^_d| + t with
// r = 2^-11 / (1 - 2^-11), t = 2^-25 / (1 - 2^-11). The f16 kernel sums q_d x^_d
// in f32 as the f32 kernel does: |a - q.x^| <= g |q| |x^|. Then
//   |s - a| <= g|q||x| + |q.(x - x^)| + g|q||x^|
//           <= g|q|((1 + r)|x^| + t sqrt(n)) + r |q| |x^| + t |q|_1 + g |q| |x^|.
//
// Every quantity on the right is taken from above: |x^| = sqrt(stored squared
// norm) (1 + 2^-22) (that norm was summed in double and rounded to float), |q|,
// |q|_1 and |q - q^| summed in double and raised by 2^-30, and the whole bound
// raised by 2^-30 more, far beyond the double rounding of this arithmetic; the
// absolute term (2n + 16) 2^-149 covers underflow in both kernels.
// ---------------------------------------------------------------------------

constexpr double kU = 0x1p-24;
constexpr double kSlack = 1 + 0x1p-30;

// e(row) = per_step * h(row) + per_norm * |x^|(row) + absolute, every factor from above.
struct ScoreBound {
  double per_step;
  double per_norm;
  double absolute;
};

double half_step_of(float scale) { return double(scale) * (0.5 + 0x1p-45); }
double norm_of(float sqnorm) { return std::sqrt(double(sqnorm)) * (1 + 0x1p-22); }

ScoreBound score_bound(const PreparedQueries& q, size_t j, DType dtype) {
  const int n = q.dim;
  const float* qv = q.f32.data() + j * size_t(n);
  const double np2 = double(n + 2) * kU;
  const double g = np2 / (1 - np2);
  const double root_n = std::sqrt(double(n)) * kSlack;
  const double norm = std::sqrt(q.sqnorm[j]) * kSlack;
  double l1 = 0;
  for (int d = 0; d < n; ++d) l1 += std::fabs(double(qv[d]));
  l1 *= kSlack;
  const double underflow = double(2 * n + 16) * 0x1p-149;
  ScoreBound b{};
  if (dtype == DType::I8) {
    const size_t pairs = size_t(n + 1) / 2;
    const uint32_t* codes = q.i16x2.data() + j * pairs;
    const double scale = q.scale[j];
    double residual = 0;
    for (int d = 0; d < n; ++d) {
      const uint32_t word = codes[d / 2];
      const int code = int16_t(d % 2 ? word >> 16 : word & 0xffffu);
      const double diff = double(qv[d]) - scale * code;
      residual += diff * diff;
    }
    residual = std::sqrt(residual) * kSlack;
    b.per_step = g * root_n * norm + l1;
    b.per_norm = g * norm + residual + 4 * kU * (norm + residual);
    b.absolute = underflow;
  } else {
    const double r = 0x1p-11 / (1 - 0x1p-11), t = 0x1p-25 / (1 - 0x1p-11);
    b.per_step = 0;
    b.per_norm = norm * (g * (2 + r) + r);
    b.absolute = g * norm * t * root_n + t * l1 + underflow;
  }
  b.per_step *= kSlack;
  b.per_norm *= kSlack;
  b.absolute *= kSlack;
  return b;
}

// x moved away from zero (up) or towards -inf (down) by more than the
// rounding of the double operation that made it.
double round_up(double x) { return x + std::fabs(x) * 0x1p-50 + 0x1p-1060; }
double round_down(double x) { return x - std::fabs(x) * 0x1p-50 - 0x1p-1060; }

// The largest float <= x.
float float_at_most(double x) {
  if (std::isnan(x)) return -std::numeric_limits<float>::infinity();
  if (x >= double(std::numeric_limits<float>::max())) return std::numeric_limits<float>::max();
  float f = float(x);
  if (double(f) > x) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

struct Kept {
  size_t row;
  double upper;
};

// One thread's state for a batch of queries: the k largest lower bounds seen
// (as a TopK over rows) and the rows kept so far.
struct Worker {
  std::vector<float> lower_scores;
  std::vector<uint64_t> lower_rows;
  std::vector<TopK> lower;
  std::vector<std::vector<Kept>> kept;
  std::vector<float> thresholds;
  std::vector<double> chunk_bound;  // per query: e of the worst row of the current chunk
  AlignedBytes scratch;

  void reset(size_t batch, size_t k) {
    lower_scores.resize(batch * k);
    lower_rows.resize(batch * k);
    lower.resize(batch);
    kept.assign(batch, {});
    thresholds.assign(batch, -std::numeric_limits<float>::infinity());
    chunk_bound.assign(batch, 0);
    for (size_t j = 0; j < batch; ++j) lower[j] = TopK(lower_scores.data() + j * k, lower_rows.data() + j * k, k);
  }
};

struct ScanContext {
  const float* scale;   // whole store
  const float* sqnorm;  // whole store
  const ScoreBound* bounds;
  double min_score;
  Worker* worker;
};

double floor_of(const Worker& w, size_t j, double min_score) {
  return std::max(min_score, double(w.lower[j].threshold()));
}

// The kernel reports a row whose code score reached thresholds[query]; rows
// below it have upper bounds under the floor (see compressed_candidates).
void keep_candidate(void* ctx, int query, size_t row, float score) {
  auto* c = static_cast<ScanContext*>(ctx);
  Worker& w = *c->worker;
  const ScoreBound& b = c->bounds[query];
  const double e = b.per_step * half_step_of(c->scale[row]) + b.per_norm * norm_of(c->sqnorm[row]) + b.absolute;
  const double upper = round_up(double(score) + e);
  w.lower[query].push(float_at_most(round_down(double(score) - e)), row);
  const double floor = floor_of(w, query, c->min_score);
  if (upper >= floor) w.kept[query].push_back({row, upper});
  w.thresholds[query] = float_at_most(round_down(floor - w.chunk_bound[query]));
}

void scan_chunk(const VectorStore& store, const PreparedQueries& queries, const ScoreBound* bounds, size_t first_query,
                size_t batch, double min_score, size_t first_panel, size_t n_panels, const Kernels& kernels,
                bool screened, Worker& w) {
  const PanelRange range = store.range(first_panel, n_panels);
  // The worst row of the chunk bounds every row's error: a code score below
  // floor - worst cannot have an upper bound at the floor.
  // (Both are increasing functions of the stored values, so their maxima come from the largest.)
  float max_scale = 0, max_sqnorm = 0;
  for (size_t i = 0; i < range.n_rows; ++i) {
    max_scale = std::max(max_scale, range.scale[i]);
    max_sqnorm = std::max(max_sqnorm, range.sqnorm[i]);
  }
  const double max_step = half_step_of(max_scale), max_norm = norm_of(max_sqnorm);
  for (size_t j = 0; j < batch; ++j) {
    const ScoreBound& b = bounds[first_query + j];
    w.chunk_bound[j] = b.per_step * max_step + b.per_norm * max_norm + b.absolute;
    w.thresholds[j] = float_at_most(round_down(floor_of(w, j, min_score) - w.chunk_bound[j]));
  }
  const QueryBlock block = queries.block(first_query, batch, w.thresholds.data());
  ScanContext ctx{store.scale(), store.sqnorm(), bounds + first_query, min_score, &w};
  if (screened) {
    const ScreenFn screen = store.dtype() == DType::F16 ? kernels.screen_f16 : kernels.screen_i8;
    screen(range, block, w.scratch.get(), keep_candidate, &ctx);
  } else {
    const ScanFn scan = store.dtype() == DType::F16 ? kernels.scan_f16 : kernels.scan_i8;
    scan(range, block, keep_candidate, &ctx);
  }
}

}  // namespace

CandidateLists compressed_candidates(const VectorStore& store, const PreparedQueries& queries, size_t k,
                                     double min_score, const Kernels& kernels, bool screened,
                                     const InterruptPoll& poll) {
  const size_t nq = queries.n, n = store.count();
  CandidateLists out;
  out.offsets.assign(nq + 1, 0);
  if (n == 0 || nq == 0) return out;
  std::vector<ScoreBound> bounds(nq);
  for (size_t j = 0; j < nq; ++j) bounds[j] = score_bound(queries, j, store.dtype());

  const size_t kk = std::min(k, n);
  size_t threads = num_threads();
  if (n * size_t(store.dim()) * nq < kParallelWork) threads = 1;
  const size_t per_query_heap = kk * (sizeof(float) + sizeof(uint64_t));
  const size_t batch = std::clamp<size_t>(kHeapBudgetBytes / std::max<size_t>(1, threads * per_query_heap), 1,
                                          std::min(nq, kMaxBatch));
  const size_t chunk_bytes = batch >= 4 ? kCacheChunkBytes : kStreamChunkBytes;
  const size_t total_panels = store.n_panels();
  const size_t chunk_panels = std::max<size_t>(1, chunk_bytes / store.panel_bytes());
  const size_t n_chunks = (total_panels + chunk_panels - 1) / chunk_panels;
  threads = std::min(threads, n_chunks);

  std::vector<Worker> workers(threads);
  for (auto& w : workers)
    if (screened) w.scratch = allocate_aligned(chunk_panels * screen_scratch_bytes(store.dim()));
  std::vector<float> merged_scores(kk);
  std::vector<uint64_t> merged_rows(kk);
  std::vector<uint64_t> ids;
  for (size_t first = 0; first < nq; first += batch) {
    const size_t count = std::min(batch, nq - first);
    for (auto& w : workers) w.reset(count, kk);
    parallel_for(n_chunks, threads, [&](size_t chunk, size_t worker) {
      const size_t first_panel = chunk * chunk_panels;
      scan_chunk(store, queries, bounds.data(), first, count, min_score, first_panel,
                 std::min(chunk_panels, total_panels - first_panel), kernels, screened, workers[worker]);
    }, poll);
    for (size_t j = 0; j < count; ++j) {
      // Any set of lower bounds gives a valid floor; all of them give the highest.
      TopK merged(merged_scores.data(), merged_rows.data(), kk);
      for (const Worker& w : workers)
        for (size_t i = 0; i < w.lower[j].size(); ++i)
          merged.push(w.lower_scores[j * kk + i], w.lower_rows[j * kk + i]);
      const double floor = std::max(min_score, double(merged.threshold()));
      ids.clear();
      for (const Worker& w : workers)
        for (const Kept& kept : w.kept[j])
          if (kept.upper >= floor) ids.push_back(store.ids()[kept.row]);
      std::sort(ids.begin(), ids.end());
      out.ids.insert(out.ids.end(), ids.begin(), ids.end());
      out.offsets[first + j + 1] = out.ids.size();
    }
  }
  return out;
}

namespace {

struct RescoreContext {
  TopK* heap;
  float* threshold;
  const uint64_t* ids;
};

void push_rescored(void* ctx, int, size_t row, float score) {
  auto* c = static_cast<RescoreContext*>(ctx);
  c->heap->push(score, c->ids[row]);
  *c->threshold = c->heap->threshold();
}

}  // namespace

void rescore_exact(const PreparedQueries& queries, const CandidateLists& candidates, const VectorsById& vectors,
                   size_t k, double min_score, const Kernels& kernels, int64_t* out_ids, float* out_scores,
                   const InterruptPoll& poll) {
  const size_t nq = queries.n, dim = size_t(queries.dim);
  IdMap row_of;
  row_of.reserve(vectors.n);
  for (size_t i = 0; i < vectors.n; ++i)
    if (!row_of.insert(vectors.ids[i], i))
      throw InvalidArgument("id " + std::to_string(vectors.ids[i]) + " is given twice among the vectors");
  std::vector<size_t> rows(candidates.ids.size());
  for (size_t c = 0; c < rows.size(); ++c) {
    rows[c] = row_of.find(candidates.ids[c]);
    if (rows[c] == IdMap::kNotFound)
      throw InvalidArgument("candidate id " + std::to_string(candidates.ids[c]) + " has no vector");
  }
  const size_t work = candidates.ids.size() * dim;
  const size_t threads = work >= kParallelWork ? std::min(num_threads(), nq) : 1;
  const size_t panel_floats = dim * kPanel;
  parallel_for(nq, threads, [&](size_t j, size_t) {
    const size_t begin = candidates.offsets[j], m = candidates.offsets[j + 1] - begin;
    if (m == 0) return;
    // The candidates in panels, as an f32 store holds them: the f32 kernel
    // scores each lane alone, in dimension order, so a row's score does not
    // depend on which panel or lane it sits in.
    const size_t n_panels = (m + kPanel - 1) / kPanel;
    AlignedBytes panels = allocate_aligned(n_panels * panel_floats * sizeof(float));
    AlignedBytes zeros = allocate_aligned(n_panels * kPanel * sizeof(float));  // scale and norm: no l2 bias
    float* x = reinterpret_cast<float*>(panels.get());
    for (size_t c = 0; c < m; ++c) {
      const float* v = vectors.vectors + rows[begin + c] * dim;
      float* lane = x + (c / kPanel) * panel_floats + c % kPanel;
      for (size_t d = 0; d < dim; ++d) lane[d * kPanel] = v[d];
    }
    const size_t kk = std::min(k, m);
    std::vector<float> heap_scores(kk);
    std::vector<uint64_t> heap_ids(kk);
    TopK heap(heap_scores.data(), heap_ids.data(), kk);
    float threshold = -std::numeric_limits<float>::infinity();
    const float* zero = reinterpret_cast<const float*>(zeros.get());
    const PanelRange range{panels.get(), panel_floats * sizeof(float), n_panels, 0, m, zero, zero};
    QueryBlock block = queries.block(j, 1, &threshold);
    block.bias_factor = 0;
    RescoreContext ctx{&heap, &threshold, candidates.ids.data() + begin};
    kernels.scan_f32(range, block, push_rescored, &ctx);
    const size_t got = heap.size();
    std::vector<float> scores(got);
    std::vector<uint64_t> ids(got);
    heap.drain_sorted(scores.data(), ids.data());
    for (size_t i = 0; i < got && double(scores[i]) >= min_score; ++i) {
      out_ids[j * k + i] = int64_t(ids[i]);
      out_scores[j * k + i] = scores[i];
    }
  }, poll);
}

}  // namespace faceindex::search
