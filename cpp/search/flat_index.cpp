#include "faceindex/flat_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include "faceindex/errors.h"
#include "id_map.h"
#include "index_file.h"
#include "kernel_dispatch.h"
#include "compressed_scan.h"
#include "exact_scan.h"
#include "query_prep.h"
#include "vector_store.h"

namespace faceindex::search {
namespace {

// Squared norms at or over this are refused: q.x and |x|^2 / 2 must stay
// finite in float32 for every pair.
constexpr double kMaxSquaredNorm = 1e36;
// Largest magnitude that rounds to a finite float16.
constexpr float kMaxHalf = 65504.0f;

// Checks rows before they are stored or searched; throws for the first bad row.
void check_rows(const float* rows, size_t n, int dim, Metric metric, DType dtype, const char* what) {
  const size_t threads = n * size_t(dim) >= (1u << 22) ? num_threads() : 1;
  // Each task records the first bad row it saw; the smallest wins.
  std::vector<size_t> first_bad(threads, SIZE_MAX);
  std::vector<std::string> reason(threads);
  const size_t tasks = std::min<size_t>(n, threads * 8);
  const size_t per_task = (n + tasks - 1) / std::max<size_t>(tasks, 1);
  parallel_for(tasks, threads, [&](size_t task, size_t worker) {
    const size_t begin = task * per_task, end = std::min(n, begin + per_task);
    for (size_t i = begin; i < end && i < first_bad[worker]; ++i) {
      const float* x = rows + i * size_t(dim);
      double sq = 0;
      float max_abs = 0;
      bool finite = true;
      for (int d = 0; d < dim; ++d) {
        finite &= std::isfinite(x[d]);
        sq += double(x[d]) * x[d];
        max_abs = std::max(max_abs, std::fabs(x[d]));
      }
      std::string why;
      if (!finite) why = "holds NaN or inf";
      else if (!(sq < kMaxSquaredNorm)) why = "has a norm too large for float32 arithmetic (squared norm >= 1e36)";
      else if (metric == Metric::Cosine && sq == 0) why = "is all zeros: a zero vector has no cosine";
      else if (dtype == DType::F16 && metric != Metric::Cosine && max_abs > kMaxHalf)
        why = "has a value beyond the float16 range (|x| > 65504)";
      if (!why.empty()) {
        first_bad[worker] = i;
        reason[worker] = why;
        return;
      }
    }
  });
  size_t worst = SIZE_MAX, at = 0;
  for (size_t w = 0; w < threads; ++w)
    if (first_bad[w] < worst) worst = first_bad[w], at = w;
  if (worst != SIZE_MAX) throw InvalidArgument(std::string(what) + " " + std::to_string(worst) + " " + reason[at]);
}

}  // namespace

Metric parse_metric(const std::string& name) {
  if (name == "ip") return Metric::IP;
  if (name == "cosine") return Metric::Cosine;
  if (name == "l2") return Metric::L2;
  throw InvalidArgument("unknown metric '" + name + "': use cosine, ip or l2");
}

DType parse_dtype(const std::string& name) {
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "i8") return DType::I8;
  throw InvalidArgument("unknown dtype '" + name + "': use f32, f16 or i8");
}

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::IP: return "ip";
    case Metric::Cosine: return "cosine";
    case Metric::L2: return "l2";
  }
  return "?";
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::I8: return "i8";
  }
  return "?";
}

FlatIndex::FlatIndex(int dim, Metric metric, DType dtype)
    : FlatIndex(dim, metric, dtype, nullptr) {}

FlatIndex::FlatIndex(int dim, Metric metric, DType dtype, std::unique_ptr<VectorStore> store)
    : dim_(dim), metric_(metric), dtype_(dtype), id_map_(std::make_unique<IdMap>()) {
  if (dim < 1 || dim > kMaxDim)
    throw InvalidArgument("dim must be in [1, " + std::to_string(kMaxDim) + "], got " + std::to_string(dim));
  store_ = store ? std::move(store) : std::make_unique<VectorStore>(dim, dtype);
  const uint64_t* ids = store_->ids();
  id_map_->reserve(store_->count());
  for (size_t row = 0; row < store_->count(); ++row)
    if (!id_map_->insert(ids[row], row))
      throw FileFormatError("corrupt data (id " + std::to_string(ids[row]) + " stored twice)");
}

FlatIndex::~FlatIndex() = default;

size_t FlatIndex::size() const {
  std::shared_lock lock(mutex_);
  return store_->count();
}

size_t FlatIndex::memory_bytes() const {
  std::shared_lock lock(mutex_);
  return store_->memory_bytes() + id_map_->memory_bytes();
}

bool FlatIndex::is_mapped() const {
  std::shared_lock lock(mutex_);
  return store_->mapped();
}

void FlatIndex::add(const uint64_t* ids, const float* vectors, size_t n) {
  if (n == 0) return;
  for (size_t i = 0; i < n; ++i)
    if (ids[i] > kMaxId)
      throw InvalidArgument("id " + std::to_string(ids[i]) + " is out of range: ids must be below 2**63");
  {
    IdMap seen;
    seen.reserve(n);
    for (size_t i = 0; i < n; ++i)
      if (!seen.insert(ids[i], i)) throw InvalidArgument("duplicate id " + std::to_string(ids[i]) + " in one add");
  }
  check_rows(vectors, n, dim_, metric_, dtype_, "vector");

  std::unique_lock lock(mutex_);
  for (size_t i = 0; i < n; ++i)
    if (id_map_->find(ids[i]) != IdMap::kNotFound)
      throw InvalidArgument("id " + std::to_string(ids[i]) + " is already in the index");
  id_map_->reserve(store_->count() + n);  // may throw before anything changed
  const Kernels& kernels = active_kernels();
  const size_t first = store_->count();
  if (metric_ == Metric::Cosine) {
    // Normalise in bounded slices so a large add does not double its memory.
    const size_t slice = std::max<size_t>(1, (size_t(64) << 20) / (sizeof(float) * size_t(dim_)));
    std::vector<float> normalised(std::min(n, slice) * size_t(dim_));
    for (size_t begin = 0; begin < n; begin += slice) {
      const size_t count = std::min(slice, n - begin);
      normalise_rows(vectors + begin * size_t(dim_), count, dim_, normalised.data());
      store_->append(ids + begin, normalised.data(), count, kernels);
    }
  } else {
    store_->append(ids, vectors, n, kernels);
  }
  for (size_t i = 0; i < n; ++i) id_map_->insert(ids[i], first + i);
}

void FlatIndex::reserve(size_t n) {
  std::unique_lock lock(mutex_);
  if (n <= store_->count()) return;
  id_map_->reserve(n);
  store_->reserve(n);
}

size_t FlatIndex::remove(const uint64_t* ids, size_t n) {
  std::unique_lock lock(mutex_);
  size_t removed = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t row = id_map_->find(ids[i]);
    if (row == IdMap::kNotFound) continue;
    const size_t last = store_->count() - 1;
    const uint64_t moved_id = store_->ids()[last];
    store_->remove_by_swap(row);
    id_map_->erase(ids[i]);
    if (row != last) id_map_->set_row(moved_id, row);
    ++removed;
  }
  return removed;
}

bool FlatIndex::contains(uint64_t id) const {
  std::shared_lock lock(mutex_);
  return id_map_->find(id) != IdMap::kNotFound;
}

bool FlatIndex::reconstruct(uint64_t id, float* out) const {
  std::shared_lock lock(mutex_);
  const size_t row = id_map_->find(id);
  if (row == IdMap::kNotFound) return false;
  store_->decode(row, out, active_kernels());
  return true;
}

std::vector<uint64_t> FlatIndex::ids() const {
  std::shared_lock lock(mutex_);
  return std::vector<uint64_t>(store_->ids(), store_->ids() + store_->count());
}

void FlatIndex::search(const float* queries, size_t nq, size_t k, int64_t* out_ids, float* out_scores,
                       const InterruptPoll& poll) const {
  if (k == 0) throw InvalidArgument("k must be >= 1");
  const float pad = metric_ == Metric::L2 ? std::numeric_limits<float>::quiet_NaN()
                                          : -std::numeric_limits<float>::infinity();
  std::fill(out_ids, out_ids + nq * k, int64_t(-1));
  std::fill(out_scores, out_scores + nq * k, pad);
  if (nq == 0) return;
  check_rows(queries, nq, dim_, metric_ == Metric::Cosine ? Metric::Cosine : Metric::IP, DType::F32, "query");

  std::shared_lock lock(mutex_);
  if (store_->count() == 0) return;
  const Kernels& kernels = active_kernels();
  const bool screened = use_screened_scan(*store_, nq, kernels);
  const PreparedQueries prepared = prepare_queries(queries, nq, dim_, metric_, dtype_, screened);
  exact_scan(*store_, prepared, k, kernels, screened, out_ids, out_scores, poll);
  if (metric_ == Metric::L2) {
    // Ranked by q.x - |x|^2/2; report |q - x|^2 = |q|^2 - 2 (q.x - |x|^2/2).
    for (size_t i = 0; i < nq; ++i)
      for (size_t j = 0; j < k && out_ids[i * k + j] >= 0; ++j) {
        const double d = prepared.sqnorm[i] - 2.0 * double(out_scores[i * k + j]);
        out_scores[i * k + j] = float(std::max(0.0, d));
      }
  }
}

namespace {

void check_exact_from_codes(Metric metric, DType dtype, size_t k, double min_score) {
  if (dtype == DType::F32) throw InvalidArgument("exact search from codes needs an f16 or i8 index; this one is f32");
  if (metric != Metric::Cosine)
    throw InvalidArgument(std::string("exact search from codes needs the cosine metric; this index is ") +
                          metric_name(metric));
  if (k == 0) throw InvalidArgument("k must be >= 1");
  if (std::isnan(min_score)) throw InvalidArgument("min_score must not be NaN");
}

}  // namespace

CandidateLists FlatIndex::candidates(const float* queries, size_t nq, size_t k, double min_score,
                                     const InterruptPoll& poll) const {
  check_exact_from_codes(metric_, dtype_, k, min_score);
  check_rows(queries, nq, dim_, Metric::Cosine, DType::F32, "query");
  std::shared_lock lock(mutex_);
  if (nq == 0 || store_->count() == 0) return CandidateLists{std::vector<uint64_t>(nq + 1, 0), {}};
  const Kernels& kernels = active_kernels();
  const bool screened = use_screened_scan(*store_, nq, kernels);
  const PreparedQueries prepared = prepare_queries(queries, nq, dim_, metric_, dtype_, screened);
  return compressed_candidates(*store_, prepared, k, min_score, kernels, screened, poll);
}

void FlatIndex::rescore(const float* queries, size_t nq, const CandidateLists& candidates, const uint64_t* vector_ids,
                        const float* vectors, size_t n_vectors, size_t k, double min_score, int64_t* out_ids,
                        float* out_scores, const InterruptPoll& poll) const {
  check_exact_from_codes(metric_, dtype_, k, min_score);
  if (candidates.offsets.size() != nq + 1 || candidates.offsets[0] != 0 ||
      candidates.offsets[nq] != candidates.ids.size())
    throw InvalidArgument("candidate offsets must hold one more entry than there are queries, from 0 to the number "
                          "of candidate ids");
  for (size_t j = 0; j < nq; ++j)
    if (candidates.offsets[j + 1] < candidates.offsets[j])
      throw InvalidArgument("candidate offsets must not decrease");
  std::fill(out_ids, out_ids + nq * k, int64_t(-1));
  std::fill(out_scores, out_scores + nq * k, -std::numeric_limits<float>::infinity());
  if (nq == 0) return;
  check_rows(queries, nq, dim_, Metric::Cosine, DType::F32, "query");
  check_rows(vectors, n_vectors, dim_, Metric::Cosine, DType::F32, "vector");
  // The f32 rows as add() would store them in an f32 index.
  std::vector<float> normalised(n_vectors * size_t(dim_));
  normalise_rows(vectors, n_vectors, dim_, normalised.data());
  const PreparedQueries prepared = prepare_queries(queries, nq, dim_, metric_, DType::F32, false);
  rescore_exact(prepared, candidates, VectorsById{vector_ids, normalised.data(), n_vectors}, k, min_score,
                active_kernels(), out_ids, out_scores, poll);
}

void FlatIndex::save(const std::string& path) const {
  std::shared_lock lock(mutex_);
  write_index_file(path, metric_, *store_);
}

void FlatIndex::save_to_fd(int fd) const {
  std::shared_lock lock(mutex_);
  write_index_image(fd, metric_, *store_);
}

std::unique_ptr<FlatIndex> FlatIndex::load(const std::string& path, bool mmap) {
  LoadedIndex loaded = read_index_file(path, mmap);
  const int dim = loaded.store->dim();
  const DType dtype = loaded.store->dtype();
  return std::unique_ptr<FlatIndex>(new FlatIndex(dim, loaded.metric, dtype, std::move(loaded.store)));
}

}  // namespace faceindex::search
