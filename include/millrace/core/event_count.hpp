// millrace/core/event_count.hpp: an event count, the wait/wake primitive under every
// blocking call in millrace (queues now; the scheduler and the token bucket may reuse it).
//
// What it guarantees: a thread that waits for a condition ("the queue is not empty") sleeps
// in the kernel, uses no CPU while asleep, can sleep with a deadline, and is never lost: a
// notifier that changes the condition after the waiter last looked always wakes it. A
// notifier that finds nobody registered makes no system call at all, so the fast path of a
// producer whose consumers are busy costs one load of a line nobody writes.
//
// The protocol (Dmitry Vyukov's eventcount, as in folly::EventCount and Eigen's EventCount):
//   waiter:   k = ec.prepare_wait();            // registers, then reads the epoch
//             if (condition_holds()) { ec.cancel_wait(); ... }   // seq_cst re-check
//             else ec.wait(k) / ec.wait_until(k, deadline);      // sleeps unless notified since
//   notifier: make the condition true with a seq_cst read-modify-write (or seq_cst store);
//             ec.notify_one() / notify_all();  // syscall only when someone is registered
// Why no wake-up is lost: the waiter's registration (S1, a seq_cst RMW) precedes its seq_cst
// re-check of the condition; the notifier's seq_cst change of the condition precedes its
// seq_cst read of the waiter count (S2). In the single total order of seq_cst operations,
// either the re-check sees the change (the waiter does not sleep) or the registration comes
// first and the notifier sees it, bumps the epoch (S3) and wakes: the futex compares the
// epoch atomically with going to sleep, so a bump between prepare_wait and wait makes the
// wait return at once. All of it is ordinary atomics, so ThreadSanitizer checks it; no
// fence is used.
//
// Sleeping: Linux futex (FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC deadline, the
// clock of std::chrono::steady_clock), private to the process. std::atomic::wait has no
// timeout; std::counting_semaphore::try_acquire_for has one, but costs an RMW on every
// release, which is exactly what the waiter count avoids (docs/queues.md has the
// measurement). Elsewhere a mutex and condition variable stand in for the futex; they are
// touched only by waiters and by notifiers that found a waiter.
//
// Test hook: detail::event_count_wake_calls() counts the wake-up system calls made by every
// event_count in the process (one relaxed increment on the slow path only).
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#else
#include <condition_variable>
#include <mutex>
#endif

namespace millrace {

namespace detail {

/// Wake-up system calls made so far by all event counts (test hook).
inline std::atomic<std::uint64_t>& event_count_wake_calls() noexcept {
    static std::atomic<std::uint64_t> calls{0};
    return calls;
}

#if defined(__linux__)
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "the futex word must be a plain 32-bit integer");

// Sleeps while *word == expected, until woken or `deadline` (absolute, CLOCK_MONOTONIC).
// Returns false only on time-out; spurious returns are the caller's to re-check.
inline bool futex_wait_until(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                             const std::chrono::steady_clock::time_point* deadline) noexcept {
    timespec ts{};
    if (deadline != nullptr) {
        const auto ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(deadline->time_since_epoch()).count();
        if (ns <= 0) return false;
        ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    }
    const long rc = ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_BITSET_PRIVATE,
                              expected, deadline != nullptr ? &ts : nullptr, nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc == -1 && errno == ETIMEDOUT) return false;
    return true;
}

inline void futex_wake(std::atomic<std::uint32_t>* word, int count) noexcept {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr,
              0);
}
#endif

}  // namespace detail

/// Lets threads sleep until another thread reports that a condition may have changed.
/// Thread-safe; not copyable or movable (waiters hold its address).
class event_count {
public:
    /// The value prepare_wait() returns and wait() takes: a generation of notifications.
    using key = std::uint32_t;
    /// The clock of the timed waits.
    using clock = std::chrono::steady_clock;

    event_count() = default;
    event_count(const event_count&) = delete;
    event_count& operator=(const event_count&) = delete;

    /// Registers the caller as a waiter; re-check the condition (with a seq_cst load)
    /// afterwards, then call wait/wait_until with the key, or cancel_wait.
    [[nodiscard]] key prepare_wait() noexcept {
        waiters_.fetch_add(1, std::memory_order_seq_cst);  // (S1) pairs with (S2)
        return epoch_.load(std::memory_order_seq_cst);     // read before any bump that must wake us
    }

    /// Withdraws a registration made by prepare_wait without sleeping.
    void cancel_wait() noexcept {
        waiters_.fetch_sub(1, std::memory_order_relaxed);
    }  // only a hint to notifiers

    /// Sleeps until a notify after prepare_wait (returns at once if one already came).
    /// Consumes the registration. May return spuriously: re-check the condition.
    void wait(key k) noexcept { (void)sleep(k, nullptr); }

    /// As wait, but gives up at `deadline`; false when it timed out.
    [[nodiscard]] bool wait_until(key k, clock::time_point deadline) noexcept { return sleep(k, &deadline); }

    /// Whether a thread is registered (seq_cst: the second half of the Dekker pair).
    [[nodiscard]] bool has_waiters() const noexcept {
        return waiters_.load(std::memory_order_seq_cst) != 0;  // (S2) pairs with (S1)
    }

    /// Wakes one registered waiter, if any: no system call when none is registered.
    void notify_one() noexcept {
        if (has_waiters()) wake(1);
    }
    /// Wakes up to n registered waiters.
    void notify(int n) noexcept {
        if (n > 0 && has_waiters()) wake(n);
    }
    /// Wakes every registered waiter.
    void notify_all() noexcept {
        if (has_waiters()) wake(INT_MAX);
    }

private:
    bool sleep(key k, const clock::time_point* deadline) noexcept {
        bool woken = true;
#if defined(__linux__)
        if (epoch_.load(std::memory_order_seq_cst) == k) {
            woken = detail::futex_wait_until(&epoch_, k, deadline);
            // Read the epoch again: when this reads the notifier's bump (S3) it synchronizes
            // with it, so everything the notifier did before notifying is visible to the
            // caller's re-check in the C++ model (and to TSan), not only through the kernel.
            woken = epoch_.load(std::memory_order_seq_cst) != k || woken;
        }
#else
        {
            std::unique_lock lock(mutex_);
            while (epoch_.load(std::memory_order_seq_cst) == k) {
                if (deadline == nullptr) {
                    cv_.wait(lock);
                } else if (cv_.wait_until(lock, *deadline) == std::cv_status::timeout) {
                    woken = epoch_.load(std::memory_order_seq_cst) != k;
                    break;
                }
            }
        }
#endif
        waiters_.fetch_sub(1, std::memory_order_relaxed);
        return woken;
    }

    void wake(int n) noexcept {
        epoch_.fetch_add(1, std::memory_order_seq_cst);  // (S3) a waiter past prepare_wait sees a new epoch
        detail::event_count_wake_calls().fetch_add(1, std::memory_order_relaxed);
#if defined(__linux__)
        detail::futex_wake(&epoch_, n);
#else
        { std::lock_guard lock(mutex_); }  // a waiter between its epoch check and cv wait holds the mutex
        if (n == 1)
            cv_.notify_one();
        else
            cv_.notify_all();
#endif
    }

    std::atomic<std::uint32_t> epoch_{0};
    std::atomic<std::uint32_t> waiters_{0};
#if !defined(__linux__)
    std::mutex mutex_;
    std::condition_variable cv_;
#endif
};

}  // namespace millrace
