// Splitting loops over threads. Threads are started per call (no pool), so
// the module stays safe across fork() and across concurrent callers; a call
// whose work is small runs on the caller's thread alone.
#pragma once

#include <cstddef>
#include <functional>

namespace faceindex {

// Threads a parallel loop may use: set_num_threads(n >= 1), default all the
// cores this process may run on.
size_t num_threads();
void set_num_threads(size_t n);
size_t available_cores();

// Polled by the calling thread every few tens of milliseconds; returns true
// when the loop must stop (a pending Ctrl-C). May be empty.
using InterruptPoll = std::function<bool()>;

// Runs body(task, worker) for task in [0, n_tasks) on up to `threads` threads
// (worker in [0, threads)); tasks are handed out dynamically. The first
// exception thrown by a body is rethrown here after every thread has stopped;
// an interrupt stops the loop and throws faceindex::Interrupted.
void parallel_for(size_t n_tasks, size_t threads,
                  const std::function<void(size_t task, size_t worker)>& body,
                  const InterruptPoll& poll = nullptr);

}  // namespace faceindex
