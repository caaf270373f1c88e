#include "exact_scan.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "scan_sizes.h"
#include "topk.h"

namespace faceindex::search {
namespace {

struct SinkContext {
  TopK* heaps;
  float* thresholds;
  const uint64_t* ids;
};

void push_candidate(void* ctx, int query, size_t row, float score) {
  auto* c = static_cast<SinkContext*>(ctx);
  TopK& heap = c->heaps[query];
  heap.push(score, c->ids[row]);
  c->thresholds[query] = heap.threshold();
}

// One thread's top-k heaps for a batch of queries.
struct WorkerState {
  std::vector<float> heap_scores;
  std::vector<uint64_t> heap_ids;
  std::vector<TopK> heaps;
  std::vector<float> thresholds;
  AlignedBytes scratch;

  void reset(size_t batch, size_t k) {
    heap_scores.resize(batch * k);
    heap_ids.resize(batch * k);
    heaps.resize(batch);
    thresholds.resize(batch);
    for (size_t j = 0; j < batch; ++j) {
      heaps[j] = TopK(heap_scores.data() + j * k, heap_ids.data() + j * k, k);
      thresholds[j] = -std::numeric_limits<float>::infinity();
    }
  }
};

void scan_range(const VectorStore& store, const PreparedQueries& queries, size_t first_query, size_t batch,
                size_t first_panel, size_t n_panels, const Kernels& kernels, bool screened, WorkerState& w) {
  const PanelRange range = store.range(first_panel, n_panels);
  const QueryBlock block = queries.block(first_query, batch, w.thresholds.data());
  SinkContext ctx{w.heaps.data(), w.thresholds.data(), store.ids()};
  if (screened) {
    const ScreenFn screen = store.dtype() == DType::F32   ? kernels.screen_f32
                            : store.dtype() == DType::F16 ? kernels.screen_f16
                                                          : kernels.screen_i8;
    screen(range, block, w.scratch.get(), push_candidate, &ctx);
    return;
  }
  const ScanFn scan = store.dtype() == DType::F32 ? kernels.scan_f32
                      : store.dtype() == DType::F16 ? kernels.scan_f16
                                                    : kernels.scan_i8;
  scan(range, block, push_candidate, &ctx);
}

void drain(TopK& heap, size_t k, int64_t* out_ids, float* out_scores, std::vector<uint64_t>& id_buffer) {
  const size_t got = heap.size();
  id_buffer.resize(got);
  heap.drain_sorted(out_scores, id_buffer.data());
  for (size_t i = 0; i < got; ++i) out_ids[i] = int64_t(id_buffer[i]);
  (void)k;
}

}  // namespace

bool use_screened_scan(const VectorStore& store, size_t nq, const Kernels& kernels) {
  if (store.dtype() == DType::I8) return nq >= kScreenMinQueriesI8 && kernels.screen_i8 != nullptr;
  if (nq < kScreenMinQueries) return false;
  if (store.dtype() == DType::F32) return kernels.screen_f32 != nullptr;
  return kernels.screen_f16 != nullptr;
}

void exact_scan(const VectorStore& store, const PreparedQueries& queries, size_t k, const Kernels& kernels,
                bool screened, int64_t* out_ids, float* out_scores, const InterruptPoll& poll) {
  const size_t nq = queries.n;
  const size_t n = store.count();
  const size_t kk = std::min(k, n);
  const size_t total_panels = store.n_panels();

  size_t threads = num_threads();
  if (n * size_t(store.dim()) * nq < kParallelWork) threads = 1;

  const size_t per_query_heap = kk * (sizeof(float) + sizeof(uint64_t));
  const size_t batch = std::clamp<size_t>(kHeapBudgetBytes / std::max<size_t>(1, threads * per_query_heap), 1,
                                          std::min(nq, kMaxBatch));
  const size_t chunk_bytes = batch >= 4 ? kCacheChunkBytes : kStreamChunkBytes;
  const size_t chunk_panels = std::max<size_t>(1, chunk_bytes / store.panel_bytes());
  const size_t n_chunks = (total_panels + chunk_panels - 1) / chunk_panels;

  std::vector<WorkerState> workers(threads);
  for (auto& w : workers)
    if (screened) w.scratch = allocate_aligned(chunk_panels * screen_scratch_bytes(store.dim()));
  std::vector<uint64_t> id_buffer;

  if (n_chunks >= 2 * threads || nq < 2 * threads) {
    // Split the stored vectors: every thread sees every query of the batch.
    for (size_t first = 0; first < nq; first += batch) {
      const size_t count = std::min(batch, nq - first);
      for (auto& w : workers) w.reset(count, kk);
      parallel_for(n_chunks, threads, [&](size_t chunk, size_t worker) {
        const size_t first_panel = chunk * chunk_panels;
        scan_range(store, queries, first, count, first_panel, std::min(chunk_panels, total_panels - first_panel),
                   kernels, screened, workers[worker]);
      }, poll);
      for (size_t j = 0; j < count; ++j) {
        TopK& merged = workers[0].heaps[j];
        for (size_t w = 1; w < threads; ++w) {
          const TopK& other = workers[w].heaps[j];
          const float* s = workers[w].heap_scores.data() + j * kk;
          const uint64_t* ids = workers[w].heap_ids.data() + j * kk;
          for (size_t i = 0; i < other.size(); ++i) merged.push(s[i], ids[i]);
        }
        drain(merged, k, out_ids + (first + j) * k, out_scores + (first + j) * k, id_buffer);
      }
    }
    return;
  }
  // Few stored vectors, many queries: split the queries instead.
  const size_t per_task = std::clamp<size_t>((nq + 4 * threads - 1) / (4 * threads), 1, batch);
  const size_t tasks = (nq + per_task - 1) / per_task;
  std::vector<std::vector<uint64_t>> id_buffers(threads);
  parallel_for(tasks, threads, [&](size_t task, size_t worker) {
    const size_t first = task * per_task, count = std::min(per_task, nq - first);
    WorkerState& w = workers[worker];
    w.reset(count, kk);
    for (size_t first_panel = 0; first_panel < total_panels; first_panel += chunk_panels)
      scan_range(store, queries, first, count, first_panel, std::min(chunk_panels, total_panels - first_panel),
                 kernels, screened, w);
    for (size_t j = 0; j < count; ++j)
      drain(w.heaps[j], k, out_ids + (first + j) * k, out_scores + (first + j) * k, id_buffers[worker]);
  }, poll);
}

}  // namespace faceindex::search
