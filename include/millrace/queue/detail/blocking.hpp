// millrace/queue/detail/blocking.hpp: what the blocking and timed forms of both queues
// share: deadlines on any clock and the spin-then-sleep loop (the CPU pause is
// detail::cpu_relax from core/config.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>

#include "millrace/core/config.hpp"
#include "millrace/core/event_count.hpp"
#include "millrace/queue/queue_status.hpp"

namespace millrace::detail {

/// Failed attempts a blocking call spins (with a CPU pause) before it sleeps: about 2-4 us
/// here, long enough to catch a partner that is running, short enough that a waiter left
/// alone for 200 ms spends well under 5 ms of CPU (tests/queue measure both).
inline constexpr int queue_spin_tries = 64;

/// steady_clock::now() + d, saturating: durations too long to add (duration::max()) mean
/// "about three years from now", which the waiting loop simply renews.
template <class Rep, class Period>
std::chrono::steady_clock::time_point steady_after(std::chrono::duration<Rep, Period> d) noexcept {
    using std::chrono::steady_clock;
    const auto now = steady_clock::now();
    if (d <= d.zero()) return now;
    const std::chrono::duration<double> secs = d;  // a double never overflows here
    if (secs.count() > 1e8) return now + std::chrono::seconds(100'000'000);
    return now + std::chrono::ceil<steady_clock::duration>(secs);
}

struct no_deadline {
    static constexpr bool expired() noexcept { return false; }
    static bool wait(event_count& ec, event_count::key k) noexcept {
        ec.wait(k);
        return true;
    }
};

template <class Clock, class Duration>
struct clock_deadline {
    std::chrono::time_point<Clock, Duration> when;
    bool expired() const { return Clock::now() >= when; }
    // For any clock, sleep for what is left by that clock's reading, then check again:
    // a clock that jumps is re-read after every wake-up, as std::condition_variable does.
    bool wait(event_count& ec, event_count::key k) const {
        const auto now = Clock::now();
        if (now >= when) {
            ec.cancel_wait();
            return false;
        }
        return ec.wait_until(k, steady_after(when - now));
    }
};

/// The spin-then-sleep loop of every blocking call.
///   try_op():  one attempt (a try_push or try_pop); true when done.
///   busy():    seq_cst check, after a failed attempt, that the other side is half-way
///              through an operation that will change the outcome (a claimed but not yet
///              published slot), or that it already has: do not sleep, retry.
///   drain:     pop semantics: a closed queue still delivers what is left.
/// Lost wake-ups are impossible because the partner changes the state with a seq_cst RMW
/// (or store) before it reads the waiter count, and busy() reads that state with seq_cst
/// after prepare_wait registered us (the event_count protocol).
///   settle:    zero when the partner's state change is seq_cst (mpmc_queue's CAS). Non-zero
///              when it is a release store (spsc_queue): such a store may still sit in the
///              partner's store buffer while it reads the waiter count as zero, so after
///              registering we keep re-checking for `settle` (yielding, still registered)
///              before we sleep; any later notifier reads the count after our registration.
template <class Try, class Busy, class Deadline>
queue_status block_on(event_count& ec, const std::atomic<bool>& closed, bool drain, Try&& try_op, Busy&& busy,
                      const Deadline& deadline,
                      std::chrono::microseconds settle = std::chrono::microseconds::zero()) {
    for (int spin = 0;; ++spin) {
        if (try_op()) return queue_status::ok;
        if (closed.load(std::memory_order_seq_cst)) {
            if (!drain) return queue_status::closed;
            if (!busy()) return try_op() ? queue_status::ok : queue_status::closed;
            std::this_thread::yield();  // a producer is publishing its last item
            continue;
        }
        if (spin < queue_spin_tries) {
            cpu_relax();
            continue;
        }
        if (deadline.expired()) return queue_status::timeout;
        const event_count::key k = ec.prepare_wait();
        if (try_op()) {
            ec.cancel_wait();
            return queue_status::ok;
        }
        if (closed.load(std::memory_order_seq_cst) || busy()) {
            ec.cancel_wait();
            std::this_thread::yield();
            continue;
        }
        if (settle != settle.zero()) {
            bool changed = false;
            for (const auto until = std::chrono::steady_clock::now() + settle;
                 std::chrono::steady_clock::now() < until;) {
                if (try_op()) {
                    ec.cancel_wait();
                    return queue_status::ok;
                }
                if (closed.load(std::memory_order_seq_cst) || busy()) {
                    changed = true;
                    break;
                }
                std::this_thread::yield();  // on a busy machine, let the partner run
            }
            if (changed) {
                ec.cancel_wait();
                continue;
            }
        }
        (void)deadline.wait(ec, k);  // a time-out shows on the next turn as expired()
    }
}

/// bytes = count * size + extra, or std::length_error: a capacity whose storage cannot even
/// be expressed must never wrap an index computation.
inline std::size_t checked_storage_bytes(std::size_t count, std::size_t size, std::size_t extra,
                                         const char* what) {
    constexpr std::size_t max = static_cast<std::size_t>(PTRDIFF_MAX);
    if (size != 0 && count > (max - extra) / size) throw std::length_error(what);
    return count * size + extra;
}

}  // namespace millrace::detail
