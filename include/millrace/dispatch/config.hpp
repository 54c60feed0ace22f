// millrace/dispatch/config.hpp: what a dispatcher is built from (dispatcher_config,
// queue_config) and what a submit asks for (submit_options).
//
// Every field is plain data with a default; the dispatcher validates the whole configuration in
// its constructor and throws std::invalid_argument naming the queue and the field at fault.
// Retry and timeout fields are stored per queue and per submit for the reliability layer; the
// dispatcher keeps them but does not act on them yet (a task runs once).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "millrace/core/hash.hpp"

namespace millrace {

/// What admission does when a queue is at capacity: wait for room, or refuse at once.
enum class when_full { block, reject };

/// Run-time admission of one queue: a capacity mode, optionally a watermark (shed from
/// `high_watermark` queued tasks until the depth falls below `low_watermark`) and a token bucket
/// (`rate` tasks per second, `burst` tokens); every enabled part must accept.
struct admission_config {
    when_full mode = when_full::block;  ///< at capacity: block (or time out) or reject_full
    std::size_t high_watermark = 0;     ///< 0: no watermark
    std::size_t low_watermark = 0;      ///< 1 ... high_watermark when a watermark is set
    double rate = 0.0;                  ///< tokens per second; 0: no rate limit
    double burst = 0.0;                 ///< bucket size; 0 with a rate: one second's worth
};

/// Exponential back-off of a failed task, stored for the reliability layer.
struct retry_policy {
    std::uint32_t max_attempts = 1;    ///< 1: no retry
    std::chrono::nanoseconds base{0};  ///< first back-off
    std::chrono::nanoseconds cap{0};   ///< longest back-off
};

/// One named queue: its workers, bound and priority levels.
struct queue_config {
    std::string name;                                ///< unique, non-empty; thread names start with it
    std::size_t workers = 1;                         ///< worker threads; 0 only with max_workers > 0
    std::size_t max_workers = 0;                     ///< upper bound for scaling (0: = workers)
    std::size_t capacity = 4096;                     ///< tasks queued + scheduled (delayed) + running, >= 1
    std::vector<std::uint32_t> priority_weights{1};  ///< level i served weight[i] times a round
    admission_config admission{};                    ///< run-time admission
    std::optional<retry_policy> retry{};             ///< default retry (stored)
    std::chrono::nanoseconds timeout{0};             ///< default run timeout (stored; 0: none)
};

/// The whole dispatcher: its queues, mode and lifecycle callbacks.
struct dispatcher_config {
    std::vector<queue_config> queues;  ///< at least one; the first is the default queue
    bool manual = false;               ///< no threads: run_pending() runs due work on the caller
    std::chrono::nanoseconds destructor_timeout =
        std::chrono::seconds(5);  ///< drain budget of ~basic_dispatcher
    std::chrono::nanoseconds stop_grace =
        std::chrono::seconds(1);  ///< wait for stopped tasks before detaching
    std::function<void(std::string_view queue, std::size_t worker)>
        on_thread_start{};  ///< on each worker thread
    std::function<void(std::string_view queue, std::size_t worker)> on_thread_stop{};  ///< before it exits
};

/// A partition key: any value millrace::hash64 accepts (integers, strings, ...), kept as its hash.
/// Tasks of one queue with equal keys run one at a time, in submission order. A default-made
/// partition_key means "no key".
struct partition_key {
    std::uint64_t hash = 0;  ///< hash64 of the key
    bool present = false;    ///< false: no key

    partition_key() = default;
    /// Any hashable key (hash64); implicit, so `.partition_key = user_id` reads naturally.
    template <class K>
    requires(!std::is_same_v<std::decay_t<K>, partition_key>) partition_key(const K& key)
    noexcept : hash(hash64(key)), present(true) {}  // NOLINT: implicit on purpose
    /// Whether a key was given.
    explicit operator bool() const noexcept { return present; }
};

/// Per-submit options; every field has a default (the first queue, level 0, now, no key).
struct submit_options {
    std::string_view queue{};                 ///< queue name; empty: the first queue
    std::uint32_t priority = 0;               ///< 0 ... levels-1, higher is more urgent
    std::chrono::nanoseconds delay{0};        ///< run no earlier than now + delay
    millrace::partition_key partition_key{};  ///< per-key order (a strand); none by default
    std::string_view dedup_key{};             ///< refused as duplicate while a task with it lives
    std::optional<retry_policy> retry{};      ///< stored for the reliability layer
    std::chrono::nanoseconds timeout{0};      ///< stored for the reliability layer
};

/// Shutdown mode: run everything admitted, or cancel what has not started.
enum class shutdown_mode { drain, cancel };

/// In a drain, what happens to delayed tasks that are not due yet.
enum class delayed_on_drain { run_now, wait, cancel };

}  // namespace millrace
