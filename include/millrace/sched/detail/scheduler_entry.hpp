// millrace/sched/detail/scheduler_entry.hpp: sharded_scheduler's entry and its state word.
//
// One atomic word per entry, generation << 4 | recurring << 3 | kind, settles every race
// (cancel against arm, cancel against fire, a stale handle against reuse) with one CAS. The
// entry is an inbox node (detail/mpsc_inbox.hpp), so scheduling allocates nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <new>

#include "millrace/sched/detail/mpsc_inbox.hpp"
#include "millrace/time/timing_wheel.hpp"

namespace millrace::detail {

/// The kind bits of an entry's state word.
enum entry_kind : std::uint64_t {
    k_free = 0,
    k_queued = 1,            // in the inbox
    k_armed = 2,             // in the wheel
    k_firing = 3,            // the sink is running
    k_cancelled = 4,         // cancelled while armed; a notice is on the cancel list
    k_cancelled_queued = 5,  // cancelled while in the inbox; recycled when drained
    k_cancelled_firing = 6,  // recurring, cancelled while firing; recycled after the sink
};
inline constexpr std::uint64_t kind_mask = 7;
inline constexpr std::uint64_t recurring_bit = 8;
inline constexpr unsigned generation_shift = 4;

/// One scheduled task: its state word, due time, wheel timer and payload (the Task in place,
/// or a recurrence record when the recurring bit is set).
template <class Task, class TimePoint, class Recurrence>
struct scheduler_entry : inbox_node {
    // generation starts at 1 so that a zero generation means "empty handle".
    std::atomic<std::uint64_t> state{std::uint64_t{1} << generation_shift};
    std::atomic<scheduler_entry*> cancel_next{nullptr};
    TimePoint due{};
    Recurrence* rec = nullptr;
    timer_id tid{};
    alignas(Task) unsigned char task_buf[sizeof(Task)];

    Task& task() noexcept { return *std::launder(reinterpret_cast<Task*>(task_buf)); }
};

}  // namespace millrace::detail
