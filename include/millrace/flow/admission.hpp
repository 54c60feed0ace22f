// millrace/flow/admission.hpp: admission policies, the first decision on every submit.
//
// A policy models `millrace::admission_policy`: `admit(const queue_state&)` returns an
// `admission` saying whether a task may enter a queue now. The dispatcher passes the queue's
// state (depth, capacity, closed) and acts on the answer:
//   accepted       enqueue it;
//   rejected_rate  refuse it: over the rate limit (a client retries later, HTTP 429/503);
//   rejected_full  refuse it: the queue is too deep (load shedding);
//   closed         refuse it: the queue no longer accepts work;
//   wait           block (or retry) until there is room: block_when_full's answer.
// A policy that takes something when it accepts (a token) also has `cancel(const
// queue_state&)`, which gives it back: a composition calls it when a later policy refuses, and
// the dispatcher calls it when the enqueue after an accepted admission fails. Policies are
// thread-safe when their parts are (token_bucket is; watermark uses one atomic flag).
//
// Policies: block_when_full, reject_when_full, rate_limited<Bucket>, watermark(high, low),
// all_of<Policies...> (in order; the first refusal wins and every earlier acceptance is
// cancelled, so no token leaks). Every policy answers `closed` for a closed queue first.
// The library's policies never throw from admit/cancel (noexcept); all_of's admit and cancel
// are noexcept exactly when every admit and cancel it calls is, so a user policy that may throw
// makes the composition throwing rather than terminating (if a user cancel() throws while
// all_of undoes earlier acceptances, the exception propagates and the cancellations below it
// are not run). A user cancel() is called whether or not it is noexcept.
// watermark's constructor throws std::invalid_argument when high == 0, low == 0 (it would
// shed forever) or low > high.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "millrace/core/detail/planted.hpp"

namespace millrace {

/// The answer of an admission policy.
enum class admission { accepted, rejected_rate, rejected_full, closed, wait };

/// What the dispatcher knows about the target queue when a task arrives.
struct queue_state {
    std::size_t depth = 0;     ///< tasks queued now
    std::size_t capacity = 0;  ///< the queue's bound (0: unbounded)
    bool closed = false;       ///< the queue accepts no more work
    std::uint64_t cost = 1;    ///< tokens this task costs a rate limit
};

template <class P>
concept admission_policy = requires(P& p, const queue_state& q) {
    { p.admit(q) } -> std::same_as<admission>;
};

/// Policies that hand back what an accepted admission took.
/// (Any cancel(const queue_state&) counts, noexcept or not: a policy whose cancel() is not
/// noexcept is still cancelled; it only makes all_of's admit/cancel potentially throwing.)
template <class P>
concept cancellable_admission_policy = admission_policy<P> && requires(P& p, const queue_state& q) {
    p.cancel(q);
};

namespace detail {
inline bool at_capacity(const queue_state& q) noexcept {
    return q.capacity != 0 && q.depth >= q.capacity;
}

template <class P>
constexpr bool nothrow_cancel() noexcept {
    if constexpr (cancellable_admission_policy<P>)
        return noexcept(std::declval<P&>().cancel(std::declval<const queue_state&>()));
    else
        return true;
}

template <class P>
constexpr bool nothrow_admit() noexcept {
    return noexcept(std::declval<P&>().admit(std::declval<const queue_state&>()));
}

template <class P>
void cancel_if_any(P& p, const queue_state& q) noexcept(nothrow_cancel<P>()) {
    if constexpr (cancellable_admission_policy<P>) p.cancel(q);
}
}  // namespace detail

/// A full queue makes the submitter wait for room.
struct block_when_full {
    /// wait when the queue is at capacity, closed when it is closed, else accepted.
    [[nodiscard]] admission admit(const queue_state& q) const noexcept {
        if (q.closed) return admission::closed;
        return detail::at_capacity(q) ? admission::wait : admission::accepted;
    }
};

/// A full queue refuses the task at once.
struct reject_when_full {
    /// rejected_full when the queue is at capacity, closed when it is closed, else accepted.
    [[nodiscard]] admission admit(const queue_state& q) const noexcept {
        if (q.closed) return admission::closed;
        return detail::at_capacity(q) ? admission::rejected_full : admission::accepted;
    }
};

/// Admits a task only if `q.cost` tokens can be taken from the bucket now. The bucket is the
/// caller's (token_bucket, or anything with try_acquire(n) and refund(n)), shared by reference:
/// it must outlive the policy.
template <class Bucket>
class rate_limited {
public:
    /// Draws on `bucket`, which must outlive the policy.
    explicit rate_limited(Bucket& bucket) noexcept : bucket_(&bucket) {}

    /// Takes q.cost tokens: accepted, rejected_rate when the bucket lacks them, closed when closed.
    [[nodiscard]] admission admit(const queue_state& q) noexcept {
        if (q.closed) return admission::closed;
        return bucket_->try_acquire(q.cost) ? admission::accepted : admission::rejected_rate;
    }
    /// Gives back the tokens an accepted admission of `q` took.
    void cancel(const queue_state& q) noexcept { bucket_->refund(q.cost); }

    /// The bucket it draws on.
    [[nodiscard]] Bucket& bucket() const noexcept { return *bucket_; }

private:
    Bucket* bucket_;
};

/// Load shedding with hysteresis: once the depth reaches `high` (depth >= high), refuse
/// (rejected_full) until it falls below `low` (depth < low); between the two the answer depends
/// on which way the queue came. low == high means no band.
class watermark {
public:
    /// Throws std::invalid_argument when high == 0, low == 0 (depth < 0 never holds: it would
    /// shed forever) or low > high.
    watermark(std::size_t high, std::size_t low) : high_(high), low_(low) {
        if (high == 0) throw std::invalid_argument("watermark: high must be > 0");
        if (low == 0) throw std::invalid_argument("watermark: low must be > 0 (release at depth < low)");
        if (low > high) throw std::invalid_argument("watermark: low must be <= high");
    }
    /// Copies the band and whether it is shedding now.
    watermark(const watermark& o) noexcept
        : high_(o.high_), low_(o.low_), shedding_(o.shedding_.load(std::memory_order_relaxed)) {}

    /// Starts shedding at depth >= high, stops below low; rejected_full while shedding.
    [[nodiscard]] admission admit(const queue_state& q) noexcept {
        if (q.closed) return admission::closed;
        // Relaxed: the flag guards no other data; racing submitters may see a switch a
        // moment late, which only moves the edge of the hysteresis band by one task.
        bool shedding = shedding_.load(std::memory_order_relaxed);
        if (!shedding && q.depth >= high_) {
            shedding = true;
            shedding_.store(true, std::memory_order_relaxed);
        } else if (shedding && q.depth < low_) {
            shedding = false;
            shedding_.store(false, std::memory_order_relaxed);
        }
        return shedding ? admission::rejected_full : admission::accepted;
    }

    /// Whether it refuses work now.
    [[nodiscard]] bool shedding() const noexcept { return shedding_.load(std::memory_order_relaxed); }
    /// The depth at which shedding starts.
    [[nodiscard]] std::size_t high() const noexcept { return high_; }
    /// Shedding stops when the depth falls below this.
    [[nodiscard]] std::size_t low() const noexcept { return low_; }

private:
    std::size_t high_;
    std::size_t low_;
    std::atomic<bool> shedding_{false};
};

/// Asks each policy in order; the first answer other than accepted is the answer, and every
/// policy that accepted before it is cancelled (in reverse order), so a token taken by a rate
/// limit is refunded when a later depth check refuses. cancel() cancels them all.
template <admission_policy... Policies>
class all_of {
public:
    all_of() = default;
    /// Asks the given policies, in this order.
    explicit all_of(Policies... p) : policies_(std::move(p)...) {}

    /// Whether cancel() is noexcept: every policy's cancel is.
    static constexpr bool nothrow_cancel = (detail::nothrow_cancel<Policies>() && ...);
    /// Whether admit() is noexcept: every policy's admit and cancel are.
    static constexpr bool nothrow_admit = nothrow_cancel && (detail::nothrow_admit<Policies>() && ...);

    /// noexcept when every policy's admit and cancel is.
    [[nodiscard]] admission admit(const queue_state& q) noexcept(nothrow_admit) { return admit_from<0>(q); }
    /// Cancels every policy, last first.
    void cancel(const queue_state& q) noexcept(nothrow_cancel) { cancel_below<sizeof...(Policies)>(q); }

    /// The I-th policy.
    template <std::size_t I>
    [[nodiscard]] auto& get() noexcept {
        return std::get<I>(policies_);
    }

private:
    template <std::size_t I>
    admission admit_from(const queue_state& q) noexcept(nothrow_admit) {
        if constexpr (I == sizeof...(Policies)) {
            return admission::accepted;
        } else {
            const admission a = std::get<I>(policies_).admit(q);
            if (a != admission::accepted) {
                if constexpr (detail::planted("all_of_lost_refund"))
                    return a;  // the earlier policies keep their take
                cancel_below<I>(q);
                return a;
            }
            return admit_from<I + 1>(q);
        }
    }
    // Cancels policies [0, I) in reverse order.
    template <std::size_t I>
    void cancel_below(const queue_state& q) noexcept(nothrow_cancel) {
        if constexpr (I > 0) {
            detail::cancel_if_any(std::get<I - 1>(policies_), q);
            cancel_below<I - 1>(q);
        }
    }

    std::tuple<Policies...> policies_;
};

template <class... P>
all_of(P...) -> all_of<P...>;

static_assert(admission_policy<block_when_full>);
static_assert(admission_policy<reject_when_full>);
static_assert(admission_policy<watermark>);
static_assert(admission_policy<all_of<reject_when_full, watermark>>);

}  // namespace millrace
