// millrace/dispatch/detail/worker.hpp: what the dispatcher keeps per task in its rings (job)
// and per worker (worker_rt): the stop source a task sees and the counters merged on read.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stop_token>
#include <thread>

#include "millrace/core/cache.hpp"
#include "millrace/core/unique_function.hpp"
#include "millrace/dispatch/task_context.hpp"
#include "millrace/dispatch/task_handle.hpp"

namespace millrace::detail {

/// A worker's stop source. The worker replaces a source after a stop request so that the next
/// task starts unstopped; the mutex orders that replacement against shutdown's requests, and a
/// handle's cancel reaches the source only while the task runs (state_base::runner_lock).
struct worker_stop {
    std::mutex mutex;
    // Guarded by mutex (written by the owning worker, which alone reads `token` unlocked):
    std::stop_source source;
    std::stop_token token = source.get_token();
};

inline void request_worker_stop(worker_stop* w) noexcept {
    (void)w->source.request_stop();
}

/// The stored form of every task: the callable takes the context and the handle state (null
/// for post).
using job_fn = unique_function<void(task_context&, state_base*)>;

/// What a priority ring holds: a task, or a strand token (kind == token: run the front task of
/// strand `key`).
struct job {
    enum kind_t : std::uint8_t { plain, keyed, token };
    job_fn fn;
    state_base* st = nullptr;
    std::uint64_t key = 0;
    std::uint32_t priority = 0;
    kind_t kind = plain;
};

/// One worker: its stop source, its weighted round-robin cursor and its counters. Padded to
/// cache lines: the counters are written by this worker only (relaxed load + store, no RMW)
/// and merged by readers, so no line is written by two threads per task.
struct alignas(cache_line) worker_rt {
    worker_stop stop;
    std::size_t cursor = 0;                   // position in the queue's round (owner only)
    std::atomic<std::uint64_t> run{0};        // tasks that returned normally
    std::atomic<std::uint64_t> failed{0};     // tasks that threw or called fail()
    std::atomic<std::uint64_t> cancelled{0};  // tasks cancelled when popped
    std::atomic<bool> in_task{false};         // read by shutdown's report
    std::atomic<bool> exited{false};          // (R4) set last by the thread; pairs with (A4)
    std::thread thread;

    /// Adds one to a counter only this worker writes.
    static void bump(std::atomic<std::uint64_t>& c) noexcept {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
};

}  // namespace millrace::detail
