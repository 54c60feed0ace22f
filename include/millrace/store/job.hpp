// millrace/store/job.hpp: the durable job record and the small value types of the
// millrace::task_store concept (store/concepts.hpp).
//
// A job lives in one of six states:
//
//   enqueue ──► scheduled ──(run_at reached, seen by claim)──► ready ──claim──► running
//                   ▲                                            ▲              │ │ │ │
//                   └──────────── fail(retry_at) ────────────────┼──────────────┘ │ │ │
//                                         requeue_expired ───────┘ (attempt left) │ │ │
//   succeeded ◄── complete ────────────────────────────────────────────────────────┘ │ │
//   dead      ◄── fail(dead) | fail(retry_at) or requeue_expired with no attempt left─┘ │
//   cancelled ◄── cancel (from scheduled, ready or running) ─────────────────────────────┘
//   dead ──retry_dead──► ready
//
// scheduled, ready and running are "live" (they hold their dedup key); succeeded, dead and
// cancelled are "terminal" (kept for inspection until purge). Times are int64 nanoseconds
// since the Unix epoch (job_time): they are persisted, so they must mean the same after a
// restart, and every store returns exactly the value it was given. Every time is passed in
// by the caller; no store reads a clock. Priority: higher is claimed first.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace millrace {

/// The clock whose time points jobs carry (wall time, meaningful across restarts).
using job_clock = std::chrono::system_clock;
/// 64-bit nanoseconds since the Unix epoch on every platform and every store (SQL stores
/// keep it in a bigint column): a time read back equals the time stored.
using job_time = std::chrono::sys_time<std::chrono::nanoseconds>;
/// Store-assigned, never 0, never reused by the store that assigned it.
using job_id = std::uint64_t;
/// Fresh for every claim; 0 is never a valid token.
using lease_token = std::uint64_t;

enum class job_state : std::uint8_t { scheduled, ready, running, succeeded, dead, cancelled };
inline constexpr std::size_t job_state_count = 6;

inline constexpr std::array<job_state, job_state_count> all_job_states{
    job_state::scheduled, job_state::ready, job_state::running,
    job_state::succeeded, job_state::dead,  job_state::cancelled};

/// scheduled, ready, running: the job will still run (and holds its dedup key).
[[nodiscard]] constexpr bool is_live(job_state s) noexcept {
    return s == job_state::scheduled || s == job_state::ready || s == job_state::running;
}
/// succeeded, dead, cancelled: the job will not run again unless retry_dead revives it.
[[nodiscard]] constexpr bool is_terminal(job_state s) noexcept {
    return !is_live(s);
}

[[nodiscard]] constexpr std::string_view to_string(job_state s) noexcept {
    switch (s) {
        case job_state::scheduled:
            return "scheduled";
        case job_state::ready:
            return "ready";
        case job_state::running:
            return "running";
        case job_state::succeeded:
            return "succeeded";
        case job_state::dead:
            return "dead";
        case job_state::cancelled:
            return "cancelled";
    }
    return "unknown";
}

/// The payload bytes of a string (e.g. JSON text): payload_from("{\"to\":1}").
[[nodiscard]] inline std::vector<std::byte> payload_from(std::string_view text) {
    const auto* b = reinterpret_cast<const std::byte*>(text.data());
    return std::vector<std::byte>(b, b + text.size());
}
/// The payload bytes read back as text (the inverse of payload_from).
[[nodiscard]] inline std::string payload_to_string(std::span<const std::byte> payload) {
    return std::string(reinterpret_cast<const char*>(payload.data()), payload.size());
}

/// One job. On enqueue the caller fills queue, type, payload, priority, run_at, max_attempts,
/// dedup_key, partition_key and created_at; the store assigns id and sets state (scheduled
/// when run_at > created_at, ready otherwise), attempts = 0, updated_at = created_at and
/// clears the lease fields, worker and last_error. A record left with the default
/// created_at / run_at means the epoch (1970): build one with job_record::make.
struct job_record {
    /// Assigned by the store on enqueue; never 0 for a stored job.
    job_id id = 0;
    std::string queue;                ///< required, non-empty
    std::string type;                 ///< the registered job type's name
    std::vector<std::byte> payload;   ///< serialized arguments, opaque to the store
    std::int32_t priority = 0;        ///< higher is claimed first
    job_time run_at{};                ///< not claimable before this
    std::uint32_t attempts = 0;       ///< attempts started (counted by claim)
    std::uint32_t max_attempts = 25;  ///< >= 1; an attempt ending with attempts >= max_attempts is the last
    std::string dedup_key;            ///< empty: no deduplication
    std::string partition_key;        ///< carried for the router; the store does not interpret it
    /// Where the job is in its life; set by the store.
    job_state state = job_state::ready;
    /// When the job was enqueued (the caller's time).
    job_time created_at{};
    job_time updated_at{};   ///< time of the last state change (purge compares it)
    job_time lease_until{};  ///< meaningful while running
    lease_token token = 0;   ///< the current (while running) or last lease token
    std::string worker;      ///< the current or last claimer
    std::string last_error;  ///< the error text of the last fail

    /// A record due at `now` (created_at = run_at = now). Throws std::invalid_argument for
    /// an empty queue name.
    [[nodiscard]] static job_record make(std::string queue, std::string type, std::vector<std::byte> payload,
                                         job_time now) {
        if (queue.empty()) throw std::invalid_argument("job_record::make: empty queue name");
        job_record r;
        r.queue = std::move(queue);
        r.type = std::move(type);
        r.payload = std::move(payload);
        r.run_at = now;
        r.created_at = now;
        return r;
    }

    friend bool operator==(const job_record&, const job_record&) = default;
};

/// A claimed job: a copy of the record as it is after the claim (state running, attempts
/// counted) and the lease token that complete / fail / extend_lease must present.
struct claimed_job {
    /// The record as it is after the claim.
    job_record record;
    /// The lease token complete / fail / extend_lease must present.
    lease_token token = 0;

    /// The job's id.
    [[nodiscard]] job_id id() const noexcept { return record.id; }
    friend bool operator==(const claimed_job&, const claimed_job&) = default;
};

/// What enqueue did: `inserted` false means a live job with the same queue and dedup key
/// exists, and `id` is that job's id.
struct enqueue_result {
    /// The new job's id, or the live duplicate's.
    job_id id = 0;
    /// False when a live job with the same queue and dedup key exists.
    bool inserted = false;
    friend bool operator==(const enqueue_result&, const enqueue_result&) = default;
};

/// The outcome a worker asks for when an attempt fails: run again at a time, or give up.
/// A retry asked for after the last allowed attempt (attempts >= max_attempts) goes dead.
/// Build one with `fail_outcome::retry_at(t)` or `fail_outcome::dead()`.
struct fail_outcome {
    /// True: give up, the job goes dead.
    bool is_dead = false;
    job_time retry_time{};  ///< when !is_dead: the job's new run_at

    /// Run again at `t` (dead instead after the last allowed attempt).
    [[nodiscard]] static constexpr fail_outcome retry_at(job_time t) noexcept { return {false, t}; }
    /// Give up: the job goes dead.
    [[nodiscard]] static constexpr fail_outcome dead() noexcept { return {true, {}}; }
    friend bool operator==(const fail_outcome&, const fail_outcome&) = default;
};

/// The id and lease token of a running job: one item of complete_many.
struct lease_ref {
    job_id id = 0;          ///< the running job
    lease_token token = 0;  ///< the lease token its claim returned
    friend bool operator==(const lease_ref&, const lease_ref&) = default;
};

/// One item of fail_many: the arguments of one fail call.
struct failure {
    job_id id = 0;          ///< the running job
    lease_token token = 0;  ///< the lease token its claim returned
    fail_outcome outcome;   ///< retry at a time, or dead
    std::string error;      ///< the error text, kept as last_error
    friend bool operator==(const failure&, const failure&) = default;
};

/// What a schedule does with the firings it missed while nothing advanced it (the
/// scheduler interprets it; the store only keeps it).
enum class missed_firing : std::uint8_t {
    fire_once,  ///< one firing for all that were missed, then on schedule
    fire_all,   ///< every missed firing
    skip,       ///< none: the next firing after now
};

/// A persisted recurring job: the scheduler enqueues `type` into `queue` with `payload` at
/// each firing, and moves next_run on with advance_schedule (a compare-and-set).
struct schedule_record {
    std::string name;                                 ///< required, non-empty, unique in the store
    std::string queue;                                ///< required, non-empty
    std::string type;                                 ///< the job type each firing enqueues
    std::vector<std::byte> payload;                   ///< each firing's payload
    std::string recurrence;                           ///< cron or interval text, opaque to the store
    job_time next_run{};                              ///< the next firing
    missed_firing missed = missed_firing::fire_once;  ///< what becomes of missed firings
    bool paused = false;                              ///< true: the scheduler does not fire it
    friend bool operator==(const schedule_record&, const schedule_record&) = default;
};

/// Number of jobs per state.
struct state_counts {
    /// Jobs in each state, indexed by the state's value.
    std::array<std::uint64_t, job_state_count> counts{};

    /// Jobs in state `s`.
    [[nodiscard]] std::uint64_t count(job_state s) const noexcept {
        return counts[static_cast<std::size_t>(s)];
    }
    /// The counter of state `s`.
    [[nodiscard]] std::uint64_t& operator[](job_state s) noexcept {
        return counts[static_cast<std::size_t>(s)];
    }
    /// Jobs in state `s`.
    [[nodiscard]] std::uint64_t operator[](job_state s) const noexcept { return count(s); }
    /// Jobs scheduled, ready or running.
    [[nodiscard]] std::uint64_t live() const noexcept {
        return count(job_state::scheduled) + count(job_state::ready) + count(job_state::running);
    }
    /// Jobs in every state.
    [[nodiscard]] std::uint64_t total() const noexcept {
        std::uint64_t t = 0;
        for (auto c : counts)
            t += c;
        return t;
    }
    friend bool operator==(const state_counts&, const state_counts&) = default;
};

/// Number of jobs per state of one queue, in all and per job type (every type with at
/// least one job in the queue). Comparing with a state_counts compares the totals only.
struct store_stats : state_counts {
    std::map<std::string, state_counts, std::less<>> by_type;  ///< the counts of each job type in the queue
    friend bool operator==(const store_stats&, const store_stats&) = default;
};

}  // namespace millrace
