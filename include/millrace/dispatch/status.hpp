// millrace/dispatch/status.hpp: the outcomes of submits, tasks and shutdowns.
//
// Expected outcomes are values (submit_status, task_state, shutdown_report); only a task's own
// failure or cancellation surfaces as an exception, and only from task_handle::get().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace millrace {

/// The answer to a submit. `timeout` is submit_for's: no room or token within the time given.
enum class submit_status {
    accepted,
    rejected_full,
    rejected_rate,
    closed,
    unknown_queue,
    duplicate,
    timeout
};

/// Where a task is. retrying and dead are reserved for the reliability layer.
enum class task_state : std::uint8_t {
    queued,
    scheduled,
    running,
    retrying,
    succeeded,
    failed,
    cancelled,
    dead
};

/// True for the states a task never leaves.
[[nodiscard]] constexpr bool is_terminal(task_state s) noexcept {
    return s == task_state::succeeded || s == task_state::failed || s == task_state::cancelled ||
           s == task_state::dead;
}

/// The name of a submit_status, for messages.
[[nodiscard]] constexpr const char* to_string(submit_status s) noexcept {
    switch (s) {
        case submit_status::accepted:
            return "accepted";
        case submit_status::rejected_full:
            return "rejected_full";
        case submit_status::rejected_rate:
            return "rejected_rate";
        case submit_status::closed:
            return "closed";
        case submit_status::unknown_queue:
            return "unknown_queue";
        case submit_status::duplicate:
            return "duplicate";
        case submit_status::timeout:
            return "timeout";
    }
    return "?";
}

/// What shutdown did: tasks run to completion during it, tasks cancelled, tasks still running
/// when it returned (their threads were detached), and whether it only recorded a request
/// (called from inside a task).
struct shutdown_report {
    std::size_t run = 0;            ///< tasks that finished (succeeded or failed) during shutdown
    std::size_t cancelled = 0;      ///< tasks that will never start
    std::size_t still_running = 0;  ///< tasks that ignored their stop token past the grace period
    bool requested_only = false;    ///< called from a task: takes effect when the task returns
};

/// Thrown by task_handle::get() for a task that was cancelled before it started.
class task_cancelled : public std::runtime_error {
public:
    task_cancelled() : std::runtime_error("millrace: the task was cancelled before it started") {}
};

/// Thrown by task_handle::get() for a task that called task_context::fail(reason).
class task_failed : public std::runtime_error {
public:
    /// Carries the reason the task gave to task_context::fail().
    explicit task_failed(const std::string& reason)
        : std::runtime_error("millrace: task failed: " + reason) {}
};

}  // namespace millrace
