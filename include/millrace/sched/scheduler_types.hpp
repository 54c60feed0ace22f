// millrace/sched/scheduler_types.hpp: the vocabulary of sharded_scheduler: its options, the
// handle a schedule call returns, the counters, and task_factory for recurring schedules of
// tasks that cannot be copied. See sched/sharded_scheduler.hpp and docs/scheduler.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

#include "millrace/time/clock.hpp"

namespace millrace {

/// Names one scheduled task: (shard, slot, generation). A small value, valid forever: once
/// the task has fired or been cancelled and its slot reused, the handle simply does nothing.
/// A default-constructed (empty) handle is false.
struct schedule_handle {
    /// The shard that holds the task.
    std::uint32_t shard = 0;
    /// The task's slot in that shard.
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;  ///< 0: empty

    /// False for an empty handle.
    explicit operator bool() const noexcept { return generation != 0; }
    friend bool operator==(const schedule_handle&, const schedule_handle&) = default;
};

/// Wraps a callable that returns a fresh Task per firing, for recurring schedules of
/// move-only tasks: `sched.schedule_every(1s, millrace::task_factory([] { return make(); }))`.
template <class F>
struct task_factory_t {
    /// The callable that makes each firing's Task.
    F make;
};
/// Makes a task_factory_t from any callable returning a Task (stored decayed).
template <class F>
task_factory_t<std::decay_t<F>> task_factory(F&& f) {
    return {std::forward<F>(f)};
}

/// Counters, for tests and diagnostics (each a relaxed snapshot).
struct scheduler_stats {
    std::uint64_t wakeups = 0;    ///< wake signals sent to shards by producers and cancellers
                                  ///< (manual mode: the signals a sleeping shard would get)
    std::uint64_t moved = 0;      ///< tasks moved from an inbox into a wheel (or, already due,
                                  ///< straight to firing)
    std::uint64_t fired = 0;      ///< sink calls (each recurring firing counts)
    std::uint64_t cancelled = 0;  ///< cancel() calls that returned true
    std::uint64_t reclaimed = 0;  ///< cancelled entries whose memory was recycled
    std::size_t capacity = 0;     ///< entries in every shard's slab together
};

/// What a sharded_scheduler is built with; every field has a working default.
template <class Clock = steady_clock_policy>
struct scheduler_options {
    /// Shards (and threads, unless manual). 0: std::thread::hardware_concurrency(), at least 1.
    std::size_t shards = 0;
    /// Wheel resolution. A task fires at the first tick boundary at or after its due time.
    typename Clock::duration tick =
        std::chrono::duration_cast<typename Clock::duration>(std::chrono::milliseconds(1));
    /// No threads: the caller delivers due tasks with poll(now).
    bool manual = false;
    /// The clock; copies of a manual_clock share one time.
    Clock clock{};
    /// Receives what a sink or task factory throws. Default: one line on stderr.
    std::function<void(std::exception_ptr)> on_error{};
    /// Wall time for cron schedules. Default: std::chrono::system_clock::now.
    std::function<std::chrono::system_clock::time_point()> wall_clock{};
    /// Entries each shard's slab starts with (rounded up to a power of two); the shard's wheel
    /// is reserved and touched for as many timers at construction.
    std::size_t initial_capacity = 1024;
    /// Cancelled-but-unrecycled entries that make a cancel wake a sleeping shard.
    std::size_t cancel_reclaim_threshold = 4096;
    /// Every wake_batch-th schedule call of a thread wakes its shard if it sleeps, so that far
    /// tasks do not pile up in the inbox of a shard sleeping until a distant expiry.
    std::size_t wake_batch = 1024;
    /// Timer slack of the shard threads (Linux prctl(PR_SET_TIMERSLACK)); 0 leaves it alone.
    std::chrono::nanoseconds timer_slack{1000};
};

}  // namespace millrace
