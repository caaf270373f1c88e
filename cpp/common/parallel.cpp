#include "faceindex/parallel.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "faceindex/errors.h"

#if defined(__linux__)
#include <sched.h>
#endif

namespace faceindex {
namespace {

std::atomic<size_t> g_num_threads{0};  // 0: not set, use available_cores()

constexpr auto kPollEvery = std::chrono::milliseconds(25);

}  // namespace

size_t available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return size_t(n);
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

size_t num_threads() {
  const size_t n = g_num_threads.load(std::memory_order_relaxed);
  return n ? n : available_cores();
}

void set_num_threads(size_t n) {
  if (n == 0) throw InvalidArgument("num_threads must be >= 1");
  g_num_threads.store(n, std::memory_order_relaxed);
}

void parallel_for(size_t n_tasks, size_t threads,
                  const std::function<void(size_t, size_t)>& body,
                  const InterruptPoll& poll) {
  if (n_tasks == 0) return;
  if (threads == 0) threads = 1;
  if (threads > n_tasks) threads = n_tasks;

  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;

  auto run_one = [&](size_t worker) -> bool {
    const size_t task = next.fetch_add(1, std::memory_order_relaxed);
    if (task >= n_tasks) return false;
    try {
      body(task, worker);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      stop.store(true);
      return false;
    }
    return true;
  };

  std::mutex done_mutex;
  std::condition_variable done_cv;
  size_t running = 0;
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  for (size_t w = 1; w < threads; ++w) {
    {
      std::lock_guard<std::mutex> lock(done_mutex);
      ++running;
    }
    try {
      workers.emplace_back([&, w] {
        while (!stop.load(std::memory_order_relaxed) && run_one(w)) {
        }
        std::lock_guard<std::mutex> lock(done_mutex);
        --running;
        done_cv.notify_all();
      });
    } catch (...) {
      // Could not start another thread: finish with the ones we have.
      std::lock_guard<std::mutex> lock(done_mutex);
      --running;
      break;
    }
  }

  bool interrupted = false;
  auto check_interrupt = [&] {
    if (poll && !interrupted && poll()) {
      interrupted = true;
      stop.store(true);
    }
  };
  auto last_poll = std::chrono::steady_clock::now();
  while (!stop.load(std::memory_order_relaxed) && run_one(0)) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_poll >= kPollEvery) {
      last_poll = now;
      check_interrupt();
    }
  }
  {
    std::unique_lock<std::mutex> lock(done_mutex);
    while (running > 0) {
      if (!done_cv.wait_for(lock, kPollEvery, [&] { return running == 0; })) {
        lock.unlock();
        check_interrupt();
        lock.lock();
      }
    }
  }
  for (auto& t : workers) t.join();
  if (first_error) std::rethrow_exception(first_error);
  if (interrupted) throw Interrupted();
}

}  // namespace faceindex
