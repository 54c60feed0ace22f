// millrace/time/clock.hpp: clock policies and the mapping between time points and ticks.
//
// Every millrace component that reads time takes a clock policy, so tests drive time with
// `manual_clock` and never sleep to wait for a timer. A clock policy is a small object:
//   - `now()`                      the current time point;
//   - `wait_until(tp, stop_token)` blocks until `now() >= tp` (true) or until stop is
//                                  requested first (false); it may return true late, never
//                                  early, and returns true at once when `tp` has passed,
//                                  stop or no stop;
//   - the std::chrono typedefs `rep`, `period`, `duration`, `time_point`.
// `steady_clock_policy` and `system_clock_policy` use the std::chrono clocks' own time points,
// so users pass the time points they already have. `manual_clock` is a steady clock that only
// moves when told: its copies share one time, and `advance`/`set` wake every waiter.
// `tick_converter` maps a clock's time points to the abstract ticks of a timing wheel.
//
// What throws: manual_clock::advance/set (std::invalid_argument when time would go back),
// tick_converter's constructor (std::invalid_argument for a tick that is not positive);
// waits, waiters() and wait_for_waiters() may throw what std::mutex and
// std::condition_variable_any throw (std::system_error, std::bad_alloc). now() and the
// converter's conversions are noexcept.
//
// Memory ordering: manual_clock's time is an atomic written only under the state's mutex
// with a release store (R1) and read by now() with an acquire load (A1), so a thread that
// sees the new time also sees everything the advancing thread wrote before advancing it;
// waiters read it under the mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <type_traits>

#include "millrace/core/detail/planted.hpp"

namespace millrace {

template <class C>
concept clock_policy = requires(const C& c, typename C::time_point tp, std::stop_token st) {
    typename C::rep;
    typename C::period;
    typename C::duration;
    typename C::time_point;
    { c.now() } -> std::same_as<typename C::time_point>;
    { c.wait_until(tp, st) } -> std::same_as<bool>;
};

/// A std::chrono clock as a policy, using the clock's own time points so users pass the time
/// points they already have.
template <class ChronoClock>
requires std::chrono::is_clock_v<ChronoClock>
struct chrono_clock_policy {
    /// The std::chrono clock it reads.
    using clock = ChronoClock;
    /// The clock's rep.
    using rep = typename clock::rep;
    /// The clock's period.
    using period = typename clock::period;
    /// The clock's duration.
    using duration = typename clock::duration;
    /// The clock's own time point.
    using time_point = typename clock::time_point;

    /// The clock's current time.
    time_point now() const noexcept { return clock::now(); }

    /// Sleeps until `tp` or until `st` is stopped. The condition variable is only a way to be
    /// woken by the stop callback (or the timeout); the loop re-checks both. Without a stop
    /// token a steady clock simply sleeps; a clock that is not steady always waits on a
    /// condition variable, whose timed wait follows the wall clock (a jump forward ends it
    /// early, where sleep_until would sleep the old interval) and is re-checked.
    bool wait_until(time_point tp, std::stop_token st = {}) const {
        if (!st.stop_possible() && clock::is_steady) {
            std::this_thread::sleep_until(tp);
            return true;
        }
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock lock(m);
        while (clock::now() < tp) {
            if (st.stop_requested()) return false;
            cv.wait_until(lock, st, tp, [] { return false; });  // woken by the stop callback or tp
        }
        return true;
    }
};

/// std::chrono::steady_clock as a policy: monotonic, unaffected by wall-clock changes.
using steady_clock_policy = chrono_clock_policy<std::chrono::steady_clock>;

/// std::chrono::system_clock as a policy: wall time, which can jump.
using system_clock_policy = chrono_clock_policy<std::chrono::system_clock>;

/// A steady clock that moves only when told. Copies share one time. `advance` and `set`
/// wake every thread blocked in `wait_until`, so threaded components run under it in tests
/// without sleeping. Starts at `manual_clock::epoch`, one hour past the steady clock's zero,
/// so code may subtract up to an hour from the start time without going below zero.
/// Its time_point is std::chrono::steady_clock's own with nanosecond duration (the very
/// type of steady_clock::time_point on libstdc++ and libc++).
class manual_clock {
public:
    /// Nanoseconds, signed 64-bit.
    using rep = std::int64_t;
    /// Nanoseconds.
    using period = std::nano;
    /// Nanoseconds.
    using duration = std::chrono::nanoseconds;
    /// A steady-clock time point with nanosecond duration.
    using time_point = std::chrono::time_point<std::chrono::steady_clock, duration>;

    /// Where every manual_clock starts unless told: one hour past the steady clock's zero.
    static constexpr time_point epoch{std::chrono::hours{1}};

    manual_clock() : manual_clock(epoch) {}
    /// A clock that starts at `start`.
    explicit manual_clock(time_point start) : state_(std::make_shared<state>(start)) {}

    /// The time now: the start plus every advance, or the last set().
    time_point now() const noexcept {
        // Acquire pairs with the release stores in advance/set (R1): whoever sees the new
        // time also sees what the advancing thread wrote before moving it.
        return time_point(duration(state_->now.load(std::memory_order_acquire)));  // (A1)
    }

    /// Moves time forward by `d` (a negative `d` throws std::invalid_argument: steady time
    /// never goes back) and wakes every waiter. Saturates at time_point::max() rather than
    /// overflow, so `advance(duration::max())` means "past every deadline".
    void advance(duration d) {
        if (d < duration::zero()) throw std::invalid_argument("manual_clock::advance: negative duration");
        {
            std::lock_guard lock(state_->mutex);
            const rep cur = state_->now.load(std::memory_order_relaxed);
            // max - cur overflows for a negative cur; cur + d cannot overflow then (d >= 0).
            const rep next = cur >= 0 && d.count() > std::numeric_limits<rep>::max() - cur
                                 ? std::numeric_limits<rep>::max()
                                 : cur + d.count();
            // Written under the mutex so a waiter cannot check the old time and then miss
            // the notify; atomic so now() needs no lock. (R1) pairs with (A1).
            state_->now.store(next, std::memory_order_release);
        }
        state_->cv.notify_all();
    }

    /// Sets the time (which may not move backwards: that throws std::invalid_argument)
    /// and wakes every waiter.
    void set(time_point tp) {
        {
            std::lock_guard lock(state_->mutex);
            const auto t = tp.time_since_epoch().count();
            if (t < state_->now.load(std::memory_order_relaxed))
                throw std::invalid_argument("manual_clock::set: time would go backwards");
            state_->now.store(t, std::memory_order_release);  // (R1) pairs with (A1)
        }
        state_->cv.notify_all();
    }

    /// Blocks until the time reaches `tp` (true) or `st` is stopped first (false).
    bool wait_until(time_point tp, std::stop_token st = {}) const {
        std::unique_lock lock(state_->mutex);
        ++state_->waiters;
        state_->cv.notify_all();  // a waiter count change is news for wait_for_waiters
        const auto t = tp.time_since_epoch().count();
        // Relaxed: the mutex orders this read after every store made under it.
        const bool reached =
            state_->cv.wait(lock, st, [&] { return state_->now.load(std::memory_order_relaxed) >= t; });
        --state_->waiters;
        return reached;
    }

    /// How many threads are blocked in wait_until right now.
    std::size_t waiters() const {
        std::lock_guard lock(state_->mutex);
        return state_->waiters;
    }

    /// Test helper: blocks until at least `n` threads wait on this clock, so a test can
    /// advance time knowing that a component's thread has gone to sleep.
    void wait_for_waiters(std::size_t n) const {
        std::unique_lock lock(state_->mutex);
        state_->cv.wait(lock, [&] { return state_->waiters >= n; });
    }

    /// As above, but gives up after `real_timeout` of real (steady) time and returns false,
    /// so a test whose component never goes to sleep fails instead of hanging.
    bool wait_for_waiters(std::size_t n, std::chrono::nanoseconds real_timeout) const {
        std::unique_lock lock(state_->mutex);
        return state_->cv.wait_for(lock, real_timeout, [&] { return state_->waiters >= n; });
    }

private:
    struct state {
        explicit state(time_point start) : now(start.time_since_epoch().count()) {}
        mutable std::mutex mutex;
        std::condition_variable_any cv;
        std::atomic<rep> now;
        std::size_t waiters = 0;
    };
    std::shared_ptr<state> state_;
};

static_assert(clock_policy<steady_clock_policy>);
static_assert(clock_policy<system_clock_policy>);
static_assert(clock_policy<manual_clock>);

/// Maps time points of one clock to abstract ticks of a fixed duration, counted from an
/// origin. Expiries round up (a timer never fires early), "now" rounds down. Times at or
/// before the origin map to tick 0. Every later time maps exactly: with a signed 64-bit rep,
/// tp - origin is below 2^64, so the tick (ceil or floor of that difference over the tick
/// length) always fits in uint64 and nothing saturates; UINT64_MAX is reached only with a
/// 1-unit tick, origin time_point::min() and tp time_point::max(). to_time saturates: a tick
/// whose start lies beyond time_point::max() maps to time_point::max().
template <class TimePoint>
class tick_converter {
public:
    /// The time point it maps.
    using time_point = TimePoint;
    /// The time point's duration.
    using duration = typename TimePoint::duration;
    static_assert(std::is_integral_v<typename duration::rep> && std::is_signed_v<typename duration::rep>,
                  "tick_converter: the time point's duration must have a signed integral rep");

    /// Throws std::invalid_argument when `tick` is not positive.
    tick_converter(time_point origin, duration tick) : origin_(origin), tick_(tick) {
        if (tick <= duration::zero()) throw std::invalid_argument("tick_converter: tick must be positive");
    }

    /// The time of tick 0.
    time_point origin() const noexcept { return origin_; }
    /// The length of one tick.
    duration tick() const noexcept { return tick_; }

    /// The first tick at or after `tp`: the tick an expiry at `tp` fires on.
    std::uint64_t to_tick_ceil(time_point tp) const noexcept {
        if (tp <= origin_) return 0;
        const auto q = div_since_origin(tp);
        if constexpr (detail::planted("tick_round_down"))
            return q.quot;  // an expiry between ticks fires early
        // No overflow: a remainder needs a tick longer than 1 unit, and then quot < 2^63.
        return q.rem != 0 ? q.quot + 1 : q.quot;
    }

    /// The last tick at or before `tp`: how far time has advanced.
    std::uint64_t to_tick_floor(time_point tp) const noexcept {
        if (tp <= origin_) return 0;
        return div_since_origin(tp).quot;
    }

    /// The time point at which `tick` begins, saturating at time_point::max().
    time_point to_time(std::uint64_t tick) const noexcept {
        using rep = typename duration::rep;
        // Unsigned arithmetic is exact here: the room above the origin is below 2^64 even
        // for a negative origin, and the sum is converted back (modular since C++20) only
        // when it is known to fit.
        const auto origin = static_cast<std::uint64_t>(origin_.time_since_epoch().count());
        const auto room = static_cast<std::uint64_t>(std::numeric_limits<rep>::max()) - origin;
        const auto per = static_cast<std::uint64_t>(tick_.count());
        if (tick > room / per) return time_point::max();
        return time_point(duration(static_cast<rep>(origin + tick * per)));
    }

private:
    struct quot_rem {
        std::uint64_t quot;
        std::uint64_t rem;
    };
    // tp > origin_. The difference fits in uint64 even when it overflows rep.
    quot_rem div_since_origin(time_point tp) const noexcept {
        const auto diff = static_cast<std::uint64_t>(tp.time_since_epoch().count()) -
                          static_cast<std::uint64_t>(origin_.time_since_epoch().count());
        const auto per = static_cast<std::uint64_t>(tick_.count());
        return {diff / per, diff % per};
    }

    time_point origin_;
    duration tick_;
};

}  // namespace millrace
