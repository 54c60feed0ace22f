// millrace/dispatch/policies.hpp: the compile-time policies of basic_dispatcher, their
// defaults, and the concept that checks a policies struct.
//
// A user replaces one policy by deriving: `struct my : millrace::default_policies { using
// metrics = millrace::no_metrics; };`. basic_dispatcher checks each policy with its own
// static_assert, so a policy that does not fit fails with a message naming it
// ("millrace::dispatch_policies: Policies::router ..."); `dispatch_policies<P>` is the
// conjunction, for users who want to check a struct themselves.
//   queue      template <class T> ring: bounded, try_push(T&&) / try_pop(T&), built from a capacity
//   clock      a millrace::clock_policy: time of delays and of the token bucket
//   scheduler  template <class Item, class Clock> delay scheduler built from (const Clock&,
//              delay_sink<Item>, bool manual) with start(), schedule(due, Item&&), poll(now),
//              take_all(sink) and stop() (heap_scheduler.hpp has the contract)
//   router     maps (key hash, shard count) to the home shard of a key's strand
//   admission  template <class Clock> class built from (const queue_config&, const Clock&) with
//              admit(const queue_state&) -> admission, cancel(const queue_state&) and
//              retry_after() -> std::chrono::nanoseconds; one instance per queue
//   metrics    `static constexpr bool enabled`: false compiles every optional counter away
//   store      no_store (durable jobs live behind a task_store in the reliability layer)
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "millrace/dispatch/config.hpp"
#include "millrace/dispatch/heap_scheduler.hpp"
#include "millrace/flow/admission.hpp"
#include "millrace/flow/token_bucket.hpp"
#include "millrace/queue/mpmc_queue.hpp"
#include "millrace/route/jump.hpp"
#include "millrace/time/clock.hpp"

namespace millrace {

/// The default router: jump consistent hashing of the key's hash over the strand shards, so a
/// key's home moves only when the shard count changes, and then only to a new shard.
struct jump_key_router {
    /// The shard in [0, shards) of a key whose hash64 is `hash`; shards >= 1.
    [[nodiscard]] std::size_t operator()(std::uint64_t hash, std::size_t shards) const noexcept {
        return static_cast<std::size_t>(detail::jump_hash_unchecked(hash, static_cast<std::int32_t>(shards)));
    }
};

/// Per-queue counters kept (failed, cancelled, rejected); the run count is always kept.
struct default_metrics {
    static constexpr bool enabled = true;  ///< keep the optional counters
};
/// Compiles the optional counters away; stats() reports them as zero.
struct no_metrics {
    static constexpr bool enabled = false;  ///< no optional counters
};

/// No durable store: tasks live in memory only.
struct no_store {};

/// The default admission: built from queue_config::admission at run time: capacity (block or
/// reject), then an optional watermark, then an optional token bucket on the dispatcher's clock
/// (last, so that a refusal by the others never takes a token).
template <class Clock>
class config_admission {
public:
    /// Throws std::invalid_argument for a bad watermark or rate (the dispatcher names the queue).
    config_admission(const queue_config& q, const Clock& clock) : mode_(q.admission.mode) {
        const admission_config& a = q.admission;
        if (a.high_watermark != 0 || a.low_watermark != 0) mark_.emplace(a.high_watermark, a.low_watermark);
        if (a.rate < 0.0 || a.burst < 0.0)
            throw std::invalid_argument("admission.rate and admission.burst must be >= 0");
        if (a.rate > 0.0) {
            const double burst = a.burst > 0.0 ? a.burst : (a.rate < 1.0 ? 1.0 : a.rate);
            bucket_ = std::make_unique<token_bucket<Clock>>(a.rate, burst, clock);
        } else if (a.burst > 0.0) {
            throw std::invalid_argument("admission.burst needs admission.rate > 0");
        }
    }

    /// The decision for one task (queue_state::depth excludes it).
    [[nodiscard]] admission admit(const queue_state& q) noexcept {
        if (q.closed) return admission::closed;
        if (q.capacity != 0 && q.depth >= q.capacity)
            return mode_ == when_full::reject ? admission::rejected_full : admission::wait;
        if (mark_ && mark_->admit(q) != admission::accepted) return admission::rejected_full;
        if (bucket_ && !bucket_->try_acquire(q.cost)) return admission::rejected_rate;
        return admission::accepted;
    }
    /// Gives back what an accepted admit took (the token).
    void cancel(const queue_state& q) noexcept {
        if (bucket_) bucket_->refund(q.cost);
    }
    /// How long until a token is available again (zero without a rate limit).
    [[nodiscard]] std::chrono::nanoseconds retry_after() const noexcept {
        if (!bucket_) return std::chrono::nanoseconds::zero();
        const double missing = 1.0 - bucket_->available();
        if (missing <= 0.0) return std::chrono::nanoseconds(1);
        return std::chrono::nanoseconds(static_cast<std::int64_t>(missing / bucket_->rate() * 1e9) + 1);
    }

private:
    when_full mode_;
    std::optional<watermark> mark_;
    std::unique_ptr<token_bucket<Clock>> bucket_;  // token_bucket is not movable
};

/// The defaults: mpmc_queue rings, the steady clock, the heap delay scheduler, jump routing,
/// config_admission, counters kept, no store.
struct default_policies {
    /// Each priority level's ring.
    template <class T>
    using queue = mpmc_queue<T>;
    /// Delays and deadlines use the steady clock.
    using clock = steady_clock_policy;
    /// Delayed tasks wait in a (due, sequence) min-heap: exact to the clock's resolution.
    template <class Item, class Clock>
    using scheduler = heap_delay_scheduler<Item, Clock>;
    /// A partition key's home shard by jump consistent hashing.
    using router = jump_key_router;
    /// Each queue's admission, from its config (block, reject, watermark, rate).
    template <class Clock>
    using admission = config_admission<Clock>;
    /// The counters are kept.
    using metrics = default_metrics;
    /// Tasks live in memory only.
    using store = no_store;
};

namespace detail {

/// What the rings hold in the checks (a move-only 16-byte value).
struct policy_probe {
    std::unique_ptr<int> p;
    std::uint64_t v = 0;
};

template <class P>
concept queue_policy_ok = requires {
    typename P::template queue<policy_probe>;
}
&&std::constructible_from<typename P::template queue<policy_probe>, std::size_t>&& requires(
    typename P::template queue<policy_probe>& q, policy_probe&& v, policy_probe& out) {
    { q.try_push(std::move(v)) } -> std::convertible_to<bool>;
    { q.try_pop(out) } -> std::convertible_to<bool>;
};

template <class P>
concept clock_policy_ok = requires {
    typename P::clock;
}
&&clock_policy<typename P::clock>;

template <class P>
concept scheduler_policy_ok = clock_policy_ok<P> && requires {
    typename P::template scheduler<policy_probe, typename P::clock>;
} && std::constructible_from < typename P::template scheduler<policy_probe, typename P::clock>,
const typename P::clock&, delay_sink<policy_probe>,
    bool > &&requires(typename P::template scheduler<policy_probe, typename P::clock>& s, policy_probe&& v,
                      typename P::clock::time_point t, const delay_sink<policy_probe>& f) {
    s.start();
    s.schedule(t, std::move(v));
    { s.poll(t) } -> std::convertible_to<std::size_t>;
    { s.take_all(f) } -> std::convertible_to<std::size_t>;
    s.stop();
};

template <class P>
concept router_policy_ok = requires {
    typename P::router;
}
&&std::default_initializable<typename P::router>&& requires(const typename P::router& r, std::uint64_t h,
                                                            std::size_t n) {
    { r(h, n) } -> std::convertible_to<std::size_t>;
};

template <class P>
concept admission_policy_ok = clock_policy_ok<P> && requires {
    typename P::template admission<typename P::clock>;
} && std::constructible_from < typename P::template admission<typename P::clock>,
const queue_config&,
    const typename P::clock& >
        &&requires(typename P::template admission<typename P::clock>& a, const queue_state& q) {
    { a.admit(q) } -> std::same_as<admission>;
    a.cancel(q);
    { a.retry_after() } -> std::convertible_to<std::chrono::nanoseconds>;
};

template <class P>
concept metrics_policy_ok = requires {
    typename P::metrics;
    { P::metrics::enabled } -> std::convertible_to<bool>;
};

template <class P>
concept store_policy_ok = requires {
    typename P::store;
}
&&std::same_as<typename P::store, no_store>;

}  // namespace detail

/// A policies struct basic_dispatcher accepts (each part is checked with its own message there).
template <class P>
concept dispatch_policies = detail::queue_policy_ok<P> && detail::clock_policy_ok<P> &&
    detail::scheduler_policy_ok<P> && detail::router_policy_ok<P> && detail::admission_policy_ok<P> &&
    detail::metrics_policy_ok<P> && detail::store_policy_ok<P>;

static_assert(dispatch_policies<default_policies>);

}  // namespace millrace
