// millrace/sched/detail/recurrence.hpp: when a recurring schedule of sharded_scheduler fires
// next: the fixed-rate grid of schedule_every and the wall-clock waits of schedule_cron.
//
// Fixed rate: the n-th firing is due at start + n*period; missed firings coalesce into one
// and the next is the first grid point after the firing. Cron: the next wall time W is due
// at clock.now() + min(W - wall, R), R = 1 s or one tick if longer, so a wall-clock jump moves
// the very next firing; an entry due before its wall time is re-armed without firing.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <functional>
#include <optional>

#include "millrace/core/unique_function.hpp"

namespace millrace::detail {

/// A type schedule_cron accepts: copyable, with next_after(system time) -> optional time.
template <class Cron>
concept cron_schedule = std::copy_constructible<Cron> &&
    requires(const Cron& c, std::chrono::system_clock::time_point t) {
    { c.next_after(t) } -> std::same_as<std::optional<std::chrono::system_clock::time_point>>;
};

/// How long a cron entry sleeps before its wall time is converted again: at most 1 s, or one
/// tick if longer, so that a wall-clock jump moves the very next firing.
template <class Duration>
Duration cron_wait(Duration tick, std::chrono::system_clock::duration until_wall) {
    const Duration recheck = std::max(tick, std::chrono::ceil<Duration>(std::chrono::seconds(1)));
    if (until_wall >= std::chrono::duration_cast<std::chrono::system_clock::duration>(recheck))
        return recheck;
    return std::chrono::ceil<Duration>(until_wall);
}

/// The record of one recurring schedule: the task factory and either a period (schedule_every)
/// or a wall-time rule (schedule_cron, period zero).
template <class Task, class Clock>
struct recurrence {
    using time_point = typename Clock::time_point;
    using duration = typename Clock::duration;
    using sys_time_point = std::chrono::system_clock::time_point;
    using wall_clock_fn = std::function<sys_time_point()>;

    unique_function<Task()> make;
    time_point start{};
    duration period{};  // zero for cron
    unique_function<std::optional<sys_time_point>(sys_time_point)> next_wall;
    sys_time_point last_wall{};

    /// After a firing at `now`: the next due time, or nullopt when a cron rule has no further
    /// match. Past time_point::max() the grid parks at max() (never firing again).
    std::optional<time_point> next_due(time_point now, const Clock& clock, const wall_clock_fn& wall_clock,
                                       duration tick) {
        if (period > duration::zero()) {
            // The first grid point after `now`: missed firings coalesce into the one just made.
            const auto k = (now - start) / period + 1;
            if (k > (time_point::max() - start) / period) return time_point::max();
            return start + k * period;
        }
        // Clock and wall clock read together (after the sinks of this pass, not at its start).
        const time_point clock_now = clock.now();
        const sys_time_point wall = wall_clock();
        // After the wall time just fired (last_wall): a wall clock set back never repeats it.
        const auto w = next_wall(std::max(wall, last_wall));
        if (!w) return std::nullopt;
        last_wall = *w;
        return clock_now + cron_wait(tick, *w - wall);
    }

    /// A cron entry due before its wall time (the wall clock went back, or a re-check): the
    /// time to re-arm it for, without firing. nullopt: fire now.
    std::optional<time_point> not_yet(const Clock& clock, const wall_clock_fn& wall_clock,
                                      duration tick) const {
        if (period != duration::zero()) return std::nullopt;
        const time_point clock_now = clock.now();
        const sys_time_point wall = wall_clock();
        if (wall >= last_wall) return std::nullopt;
        return clock_now + cron_wait(tick, last_wall - wall);
    }
};

}  // namespace millrace::detail
