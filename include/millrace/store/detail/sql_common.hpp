// millrace/store/detail/sql_common.hpp: what sqlite_store and postgres_store share: the
// encoding of states and times in SQL columns, record validation and the retry backoff.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>

#include "millrace/store/job.hpp"

namespace millrace::detail {

/// A job_time as the bigint nanoseconds an SQL column keeps (exact: no timestamp type).
[[nodiscard]] constexpr std::int64_t sql_time(job_time t) noexcept {
    return t.time_since_epoch().count();
}
/// The inverse of sql_time.
[[nodiscard]] constexpr job_time sql_time(std::int64_t ns) noexcept {
    return job_time{std::chrono::nanoseconds{ns}};
}
/// A state as the small integer column value (the enum's order: scheduled 0 ... cancelled 5).
[[nodiscard]] constexpr std::int64_t sql_state(job_state s) noexcept {
    return static_cast<std::int64_t>(s);
}
/// An id or token kept in a signed bigint column (bit-for-bit; stores assign them from 1 up).
[[nodiscard]] constexpr std::int64_t sql_u64(std::uint64_t v) noexcept {
    return static_cast<std::int64_t>(v);
}
/// A claim's `max` as an SQL LIMIT (SQL integers are signed).
[[nodiscard]] constexpr std::int64_t sql_limit(std::size_t n) noexcept {
    return static_cast<std::int64_t>(
        std::min<std::size_t>(n, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
}

/// Throws std::invalid_argument for a record enqueue refuses (empty queue, max_attempts 0).
inline void sql_check_record(const job_record& r, const char* who) {
    if (r.queue.empty()) throw std::invalid_argument(std::string(who) + ": empty queue name");
    if (r.max_attempts == 0) throw std::invalid_argument(std::string(who) + ": max_attempts must be >= 1");
}

/// Throws std::invalid_argument unless `s` is terminal (purge removes terminal jobs only).
inline void sql_check_purge_state(job_state s, const char* who) {
    if (is_live(s)) throw std::invalid_argument(std::string(who) + ": purge of a live state");
}

/// Throws std::invalid_argument for a schedule with an empty name or queue.
inline void sql_check_schedule(const schedule_record& r, const char* who) {
    if (r.name.empty()) throw std::invalid_argument(std::string(who) + ": empty schedule name");
    if (r.queue.empty()) throw std::invalid_argument(std::string(who) + ": empty schedule queue");
}

/// Exponential backoff between retries of a busy or lost database: 100 us doubling to 50 ms,
/// never past the deadline. Returns false when the deadline has passed (give up).
class sql_backoff {
public:
    explicit sql_backoff(std::chrono::steady_clock::duration budget)
        : deadline_(std::chrono::steady_clock::now() + budget) {}

    bool wait() {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline_) return false;
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(delay_, deadline_ - now));
        delay_ = std::min<std::chrono::steady_clock::duration>(delay_ * 2, std::chrono::milliseconds{50});
        return true;
    }

private:
    std::chrono::steady_clock::time_point deadline_;
    std::chrono::steady_clock::duration delay_ = std::chrono::microseconds{100};
};

}  // namespace millrace::detail
