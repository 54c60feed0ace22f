// millrace/flow/token_bucket.hpp: a token bucket on one atomic word (GCRA), lock-free between
// rate changes. docs/backpressure.md has the design: exact fixed-point token time, the word's
// layout and epoch tag, re-bases and rate changes.
//
// Guarantees
//   - Starts full (`burst` tokens) and refills continuously at `rate` per second up to `burst`.
//     From construction on, the tokens handed out (try_acquire, acquire*, reserve when due)
//     never exceed rate * t + burst, and a caller that asks as soon as a token is due gets it
//     (admitted >= rate * t + burst - 1; a set_rate to a new rate may drop up to one unit of
//     refill progress). Requests larger than the burst never succeed.
//   - try_acquire, reserve, refund and available are lock-free and noexcept while no set_rate
//     or re-base is in flight; a caller that meets one spins 16 times, yields up to 48 times,
//     then blocks on the setter mutex until it is done (never an unbounded spin).
//   - acquire_for/until sleep in the clock's wait_until only when the tokens can be due by the
//     deadline; acquire(n, stop_token) sleeps until served or stopped, one wait per turn.
//   - set_rate may run while other threads acquire; setters serialise on a mutex.
//   - Throws: the constructor and set_rate throw std::invalid_argument for a rate <= 0 or
//     outside [1e-6, 1e12] per second, a burst < 1 or > 2^40, or a non-finite value; acquire
//     throws it for n > burst; the waiting calls pass on what the clock's wait_until throws.
//
// Memory ordering:
//   (R1)/(A1) seqlock: the setter stores seq odd (relaxed), each field with release, then seq
//   even with release (R1); readers load seq with acquire (A1), each field with acquire, then
//   seq again; equal and even means one configuration (Boehm, "Can seqlocks get along with
//   programming language memory models?", 2012: acquire field loads keep the second seq load
//   after them, without a fence).
//   (R2)/(A2) the setter's conversion of the word is a release (R2); a caller's load of the
//   word is an acquire (A2), so a caller that sees the new tag reads the new configuration.
//   Callers' compare-exchanges keep acquire to continue (A2)'s chain; RMWs extend the release
//   sequence headed by (R2).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include "millrace/core/cache.hpp"
#include "millrace/core/detail/planted.hpp"
#include "millrace/flow/detail/gcra.hpp"
#include "millrace/time/clock.hpp"

namespace millrace {

namespace detail {
struct token_bucket_peek;
}

/// A token bucket any thread may draw on: `rate` tokens a second, holding at most `burst`.
template <clock_policy Clock = steady_clock_policy>
class token_bucket {
public:
    /// The clock policy it refills by.
    using clock_type = Clock;
    /// The clock's duration.
    using duration = typename Clock::duration;
    /// The clock's time point.
    using time_point = typename Clock::time_point;

    /// A full bucket of `burst` tokens refilling at `rate_per_second`. Throws
    /// std::invalid_argument (see the header comment for the ranges).
    token_bucket(double rate_per_second, double burst, Clock clock = {}) : clock_(std::move(clock)) {
        const auto c = detail::make_gcra_config(rate_per_second, burst, now_ns());
        setter_cfg_ = c;
        publish(c, 0);
        state_->store(encode(-c.burst_units, 0), std::memory_order_relaxed);  // starts full
        rate_.store(rate_per_second, std::memory_order_relaxed);
        burst_.store(burst, std::memory_order_relaxed);
    }

    token_bucket(const token_bucket&) = delete;
    token_bucket& operator=(const token_bucket&) = delete;

    /// Takes `n` tokens if they are all available now. n > burst always fails; n == 0 succeeds
    /// unless the bucket is in debt (after reserve).
    [[nodiscard]] bool try_acquire(std::uint64_t n = 1) noexcept {
        const std::int64_t now = now_ns();
        std::uint64_t word = state_->load(std::memory_order_acquire);  // (A2)
        // Fast path: a stable configuration that matches the word's tag, token time inside its
        // range, and a product not near a unit boundary (so the floor needs no exact check).
        // Anything else takes the general path below, which handles every case.
        for (;;) {
            const std::uint64_t seq = cfg_->seq.load(std::memory_order_acquire);  // (A1)
            const std::int64_t base = cfg_->base_ns.load(std::memory_order_acquire);
            const std::uint64_t mul = cfg_->mul.load(std::memory_order_acquire);
            const std::uint64_t packed = cfg_->shift_frac.load(std::memory_order_acquire);
            const std::int64_t burst_units = cfg_->burst_units.load(std::memory_order_acquire);
            const std::int64_t max_d = cfg_->max_d.load(std::memory_order_acquire);
            if (((seq & 1) | (cfg_->seq.load(std::memory_order_relaxed) ^ seq) |
                 ((word ^ (seq >> 1)) & tag_mask)) != 0)
                break;
            const std::int64_t d = now - base;
            if (d < 0 || d > max_d) break;
            const int shift = static_cast<int>(packed & 0xffff);
            const int frac = static_cast<int>((packed >> 16) & 0xffff);
            const detail::gcra_u128 p = static_cast<detail::gcra_u128>(static_cast<std::uint64_t>(d)) * mul;
            const detail::gcra_u128 one = detail::gcra_u128{1} << shift;
            if ((p & (one - 1)) + static_cast<std::uint64_t>(d) >= one) break;
            const auto v = static_cast<std::int64_t>(p >> shift);
            if (n > static_cast<std::uint64_t>(burst_units >> frac)) return false;
            const std::int64_t e = decode(word);
            const std::int64_t to = detail::gcra_from(e, v, burst_units) + take_units(n, frac);
            if (to > v) return false;
            if (state_->compare_exchange_weak(
                    word, (static_cast<std::uint64_t>(to) << tag_bits) | (word & tag_mask),
                    std::memory_order_acquire, std::memory_order_acquire))  // (A2)
                return true;
        }
        return try_acquire_general(n, now, word);
    }

    /// Takes `n` tokens now on credit and returns how long the caller must wait before using
    /// them (zero when they were available); reserve(0) returns the wait until the debt is paid.
    /// Later callers queue behind the debt. nullopt, and
    /// nothing taken, when n > burst or the debt would pass the cap (2^47 internal units: at
    /// least 8 * burst, and at least 39 hours of refill for rates <= 1e9/s, 140 s at 1e12/s),
    /// or the wait would pass ~73 years.
    [[nodiscard]] std::optional<duration> reserve(std::uint64_t n = 1) noexcept {
        const std::int64_t now = now_ns();
        std::uint64_t word = state_->load(std::memory_order_acquire);  // (A2)
        for (int spins = 0;; ++spins) {
            const view s = current(word, now, spins);
            if (!s.ok) continue;
            if (n > s.cfg.burst_tokens()) return std::nullopt;
            const std::int64_t to = s.from() + s.cfg.units(n);
            std::int64_t wait = 0;
            if (to > s.v) {
                if (to - s.v > detail::gcra_limits::debt_cap_units) return std::nullopt;
                const std::int64_t due = s.cfg.d_for(to);
                if (due >= detail::gcra_limits::max_wait_ns) return std::nullopt;
                wait = due - (now - s.cfg.base_ns);
            }
            if (state_->compare_exchange_weak(word, encode(to, s.tag), std::memory_order_acquire,
                                              std::memory_order_acquire))  // (A2)
                return std::chrono::ceil<duration>(std::chrono::nanoseconds(wait));
        }
    }

    /// Takes `n` tokens, waiting through the clock policy until they are due, if they can be
    /// due by `deadline` (due exactly at the deadline is in time); fails at once (false,
    /// nothing taken) when they cannot (n > burst, or the tokens come later than the deadline)
    /// or when `st` is already stopped. A stop request during the wait gives the tokens back
    /// and returns false. If the clock's wait_until throws, the tokens are given back and the
    /// exception propagates.
    [[nodiscard]] bool acquire_until(std::uint64_t n, time_point deadline, std::stop_token st = {}) {
        return take_and_wait(n, detail::to_ns(deadline.time_since_epoch()), st).result == outcome::served;
    }

    /// Takes `n` tokens, sleeping in the clock policy's wait_until until they are due, however
    /// long that is; returns false (nothing taken) once `st` is stopped first. Waiters queue in
    /// arrival order and each sleeps once for its turn; while waiters already hold the most debt
    /// the bucket allows (see reserve), a caller sleeps until its request fits, then queues.
    /// Throws std::invalid_argument when n > burst() (it could never be served), and what the
    /// clock's wait_until throws (the tokens are then given back).
    [[nodiscard]] bool acquire(std::uint64_t n, std::stop_token st) {
        for (;;) {
            const waited w = take_and_wait(n, std::numeric_limits<std::int64_t>::max(), st);
            switch (w.result) {
                case outcome::served:
                    return true;
                case outcome::too_large:
                    throw std::invalid_argument(
                        "millrace::token_bucket::acquire: n is larger than the burst");
                case outcome::no_room:
                    // Sleeps until token time has paid enough debt for this request, then queues.
                    if (!clock_.wait_until(detail::ns_to_time_point<time_point>(w.retry_at), st))
                        return false;
                    break;
                case outcome::refused:
                    return false;
            }
        }
    }

    /// acquire_until(n, now + timeout, st). A negative timeout acts as zero; now + timeout
    /// saturates at time_point::max() (duration::max() waits as long as it takes).
    [[nodiscard]] bool acquire_for(std::uint64_t n, duration timeout, std::stop_token st = {}) {
        if (timeout < duration::zero()) timeout = duration::zero();
        const time_point now = clock_.now();
        const time_point deadline = timeout > time_point::max() - now ? time_point::max() : now + timeout;
        return acquire_until(n, deadline, std::move(st));
    }

    /// Gives `n` tokens back (a task taken but not run, a reservation not used). The bucket
    /// never holds more than its burst: the excess of a refund is dropped. Reduces debt first.
    void refund(std::uint64_t n = 1) noexcept {
        if (n == 0) return;
        const std::int64_t now = now_ns();
        std::uint64_t word = state_->load(std::memory_order_acquire);  // (A2)
        for (int spins = 0;; ++spins) {
            const view s = current(word, now, spins);
            if (!s.ok) continue;
            const std::uint64_t cap = s.cfg.burst_tokens() + 1;
            const std::int64_t floor = s.v - s.cfg.burst_units;  // a full bucket
            std::int64_t to = s.e - s.cfg.units(n < cap ? n : cap);
            if (to < floor) to = floor;
            if constexpr (detail::planted("bucket_lost_refund")) to = s.e;  // the refund is dropped
            if (to >= s.e) return;                                          // already full
            if (state_->compare_exchange_weak(word, encode(to, s.tag), std::memory_order_acquire,
                                              std::memory_order_acquire))  // (A2)
                return;
        }
    }

    /// Tokens available now (fractional; negative while the bucket is in debt after reserve).
    /// try_acquire(n) succeeds now iff n <= available() (up to the clock moving on).
    [[nodiscard]] double available() const noexcept {
        const std::int64_t now = now_ns();
        std::uint64_t word = state_->load(std::memory_order_acquire);  // (A2)
        for (int spins = 0;; ++spins) {
            const view s = snapshot(word, now, spins);
            if (s.ok || s.stale) {  // a stale view is still exact: V saturates only at 2^62
                const std::int64_t from = s.from();
                return std::ldexp(static_cast<double>(s.v - from), -s.cfg.frac);
            }
            word = state_->load(std::memory_order_acquire);  // (A2)
        }
    }

    /// Changes rate and burst, keeping the current balance (tokens or debt), clamped to the
    /// new burst. Safe while other threads acquire (see "Rate changes"). Throws
    /// std::invalid_argument like the constructor, leaving the bucket unchanged.
    void set_rate(double rate_per_second, double burst) {
        auto c = detail::make_gcra_config(rate_per_second, burst, 0);
        std::lock_guard lock(setter_);
        switch_to(c);
        rate_.store(rate_per_second, std::memory_order_relaxed);
        burst_.store(burst, std::memory_order_relaxed);
    }

    /// The configured rate (tokens per second) and burst.
    [[nodiscard]] double rate() const noexcept { return rate_.load(std::memory_order_relaxed); }
    /// Tokens the bucket holds at most.
    [[nodiscard]] double burst() const noexcept { return burst_.load(std::memory_order_relaxed); }
    /// The clock it reads.
    [[nodiscard]] const Clock& clock() const noexcept { return clock_; }

private:
    friend struct detail::token_bucket_peek;  // tests read the word

    struct view {
        bool ok;
        bool stale;
        std::uint64_t seq;
        std::uint16_t tag;
        detail::gcra_config cfg;
        std::int64_t v;
        std::int64_t e;
        // E as a take sees it: a bucket refilled past its burst counts as just full.
        std::int64_t from() const noexcept { return detail::gcra_from(e, v, cfg.burst_units); }
    };

    enum class outcome { served, refused, too_large, no_room };
    struct waited {
        outcome result;
        std::int64_t retry_at;  // no_room: the clock reading (ns) at which the request fits
    };

    // Reserves `n` tokens if they are due by `limit` (clock ns) and sleeps until they are:
    // served, or refused (stopped, or due too late: nothing kept), too_large (n > burst), or
    // no_room (the debt cap or the longest wait refuses it now; retry_at says when it fits).
    waited take_and_wait(std::uint64_t n, std::int64_t limit, const std::stop_token& st) {
        if (st.stop_requested()) return {outcome::refused, 0};
        const std::int64_t now = now_ns();
        std::uint64_t word = state_->load(std::memory_order_acquire);  // (A2)
        for (int spins = 0;; ++spins) {
            const view s = current(word, now, spins);
            if (!s.ok) continue;
            if (n > s.cfg.burst_tokens()) return {outcome::too_large, 0};
            const std::int64_t to = s.from() + s.cfg.units(n);
            std::int64_t due = now;
            if (to > s.v) {
                if (to - s.v > detail::gcra_limits::debt_cap_units)
                    return {outcome::no_room,
                            at(s.cfg, s.cfg.d_for(to - detail::gcra_limits::debt_cap_units))};
                const std::int64_t d = s.cfg.d_for(to);
                if (d >= detail::gcra_limits::max_wait_ns) return {outcome::no_room, at(s.cfg, d)};
                due = at(s.cfg, d);
                if (due > limit) return {outcome::refused, 0};
            }
            if (!state_->compare_exchange_weak(word, encode(to, s.tag), std::memory_order_acquire,
                                               std::memory_order_acquire))  // (A2)
                continue;
            if (due <= now) return {outcome::served, 0};
            // Gives the tokens back unless the wait reports them due (a throwing wait included).
            struct refund_guard {
                token_bucket* b;
                std::uint64_t n;
                bool keep = false;
                ~refund_guard() {
                    if (!keep) b->refund(n);
                }
            } guard{this, n};
            guard.keep = clock_.wait_until(detail::ns_to_time_point<time_point>(due), st);
            return {guard.keep ? outcome::served : outcome::refused, 0};
        }
    }

    // The clock reading d ns after the configuration's base; saturates at the end of the clock
    // (base + d may pass INT64_MAX there).
    static std::int64_t at(const detail::gcra_config& c, std::int64_t d) noexcept {
        return d > std::numeric_limits<std::int64_t>::max() - c.base_ns
                   ? std::numeric_limits<std::int64_t>::max()
                   : c.base_ns + d;
    }

    // The units a take of n tokens adds to E.
    static std::int64_t take_units(std::uint64_t n, int frac) noexcept {
        if constexpr (detail::planted("bucket_extra_token"))
            return (static_cast<std::int64_t>(n) << frac) - (std::int64_t{1} << frac);  // one token too many
        return static_cast<std::int64_t>(n) << frac;
    }

    [[gnu::noinline]] bool try_acquire_general(std::uint64_t n, std::int64_t now,
                                               std::uint64_t word) noexcept {
        for (int spins = 0;; ++spins) {
            const view s = current(word, now, spins);
            if (!s.ok) continue;
            if (n > s.cfg.burst_tokens()) return false;
            const std::int64_t to = s.from() + take_units(n, s.cfg.frac);
            if (to > s.v) return false;
            if (state_->compare_exchange_weak(word, encode(to, s.tag), std::memory_order_acquire,
                                              std::memory_order_acquire))  // (A2)
                return true;
        }
    }

    // The word: E (|E| < 2^49: V <= 2^48 before a re-base, debt <= 2^47, full >= -2^44) in
    // the top 50 bits, the configuration epoch's low 14 bits below it.
    static constexpr int tag_bits = 14;
    static constexpr std::uint64_t tag_mask = (std::uint64_t{1} << tag_bits) - 1;
    static_assert(detail::gcra_limits::rebase_units + detail::gcra_limits::debt_cap_units <
                      (std::int64_t{1} << (63 - tag_bits)),
                  "E and the tag share one word");
    static std::uint64_t encode(std::int64_t e, std::uint16_t tag) noexcept {
        return (static_cast<std::uint64_t>(e) << tag_bits) | tag;
    }
    static std::int64_t decode(std::uint64_t word) noexcept {
        return static_cast<std::int64_t>(word) >> tag_bits;
    }
    static std::uint16_t tag_of_seq(std::uint64_t seq) noexcept {
        return static_cast<std::uint16_t>((seq >> 1) & tag_mask);
    }

    std::int64_t now_ns() const noexcept { return detail::to_ns(clock_.now().time_since_epoch()); }

    // A caller that meets a set_rate or re-base in progress (seqlock odd, or the word not yet
    // converted) spins a little, yields a little, then blocks on the setter mutex, which the
    // setter holds for the whole switch: once it is ours the switch is complete. Uncontended,
    // this path is never reached; a preempted setter blocks such callers instead of letting
    // them burn CPU without bound.
    void backoff(int spins) const noexcept {
        if (spins < 16) return;
        if (spins < 64) {
            std::this_thread::yield();
            return;
        }
        std::lock_guard wait_for_setter(setter_);  // std::mutex::lock does not throw here
    }

    // Reads a configuration consistent with `word`. Not ok when a set_rate is between
    // publishing and converting (tags differ: reload the word and retry), or when token time
    // nears the top of its range (`stale`: re-base, then retry).
    view snapshot(std::uint64_t word, std::int64_t now, int spins) const noexcept {
        view s{};
        std::uint64_t seq = 0;
        for (int i = 0;; ++i) {
            seq = cfg_->seq.load(std::memory_order_acquire);  // (A1)
            if ((seq & 1) == 0) {
                s.cfg.base_ns = cfg_->base_ns.load(std::memory_order_acquire);
                s.cfg.mul = cfg_->mul.load(std::memory_order_acquire);
                const std::uint64_t packed = cfg_->shift_frac.load(std::memory_order_acquire);
                s.cfg.burst_units = cfg_->burst_units.load(std::memory_order_acquire);
                s.cfg.max_d = cfg_->max_d.load(std::memory_order_acquire);
                s.cfg.num = cfg_->num.load(std::memory_order_acquire);
                s.cfg.shift = static_cast<std::int32_t>(packed & 0xffff);
                s.cfg.frac = static_cast<std::int32_t>((packed >> 16) & 0xffff);
                s.cfg.den_shift = static_cast<std::int32_t>(packed >> 32);
                if (cfg_->seq.load(std::memory_order_relaxed) == seq) break;
            }
            backoff(i);
        }
        s.seq = seq;
        s.tag = static_cast<std::uint16_t>(word & tag_mask);
        if (s.tag != tag_of_seq(seq)) {
            backoff(spins);
            return s;
        }
        const std::int64_t d = now - s.cfg.base_ns;
        s.v = s.cfg.v_of(d);
        s.e = decode(word);
        s.stale = d > s.cfg.max_d;
        s.ok = !s.stale;
        return s;
    }

    // Every mutating call starts here: a consistent view, re-basing first when due.
    view current(std::uint64_t& word, std::int64_t now, int spins) noexcept {
        view s = snapshot(word, now, spins);
        if (s.stale) rebase(s.seq);
        if (!s.ok) word = state_->load(std::memory_order_acquire);  // (A2)
        return s;
    }

    void rebase(std::uint64_t seen_seq) noexcept {
        std::lock_guard lock(setter_);  // std::mutex::lock does not throw for a valid mutex here
        if (cfg_->seq.load(std::memory_order_relaxed) != seen_seq) return;  // someone did it
        switch_to(setter_cfg_);
    }

    // Holds setter_. `next` has everything but the base. The same rate and burst (a re-base, or
    // set_rate to the current values) keep the grid: the base moves by rebase_shift (a whole
    // number of grid periods, or not at all), so no refill progress is lost. A new rate or
    // burst starts its token time at now; the old configuration's progress below one unit at
    // that instant (< 2^-F_old token) is dropped, never gained.
    void switch_to(detail::gcra_config next) noexcept {
        const std::int64_t t0 = now_ns();
        const detail::gcra_config old = setter_cfg_;
        const bool same = next.same_rate(old);
        const detail::gcra_config::shift_by sh = old.rebase_shift(t0 - old.base_ns);
        next.base_ns = same ? old.base_ns + sh.ns : t0;
        const std::uint64_t seq = cfg_->seq.load(std::memory_order_relaxed) + 2;
        publish(next, seq);
        const std::uint16_t tag = tag_of_seq(seq);
        const std::int64_t v_old = old.v_of(t0 - old.base_ns);
        std::uint64_t word = state_->load(std::memory_order_relaxed);
        for (;;) {
            const std::int64_t e = decode(word);
            const std::int64_t from = detail::gcra_from(e, v_old, old.burst_units);
            // Same grid: every E moves with token time. New grid: token time under `next` is 0
            // at t0, so E = -balance.
            const std::int64_t to = same ? from - sh.units : -detail::gcra_rescale(v_old - from, old, next);
            if (state_->compare_exchange_weak(word, encode(to, tag), std::memory_order_release,
                                              std::memory_order_relaxed))  // (R2)
                break;
        }
        setter_cfg_ = next;
    }

    void publish(const detail::gcra_config& c, std::uint64_t seq) noexcept {
        cfg_->seq.store(seq - 1, std::memory_order_relaxed);  // odd while writing (seq is even)
        cfg_->base_ns.store(c.base_ns, std::memory_order_release);
        cfg_->mul.store(c.mul, std::memory_order_release);
        cfg_->shift_frac.store(static_cast<std::uint64_t>(c.shift) |
                                   (static_cast<std::uint64_t>(c.frac) << 16) |
                                   (static_cast<std::uint64_t>(c.den_shift) << 32),
                               std::memory_order_release);
        cfg_->num.store(c.num, std::memory_order_release);
        cfg_->burst_units.store(c.burst_units, std::memory_order_release);
        cfg_->max_d.store(c.max_d, std::memory_order_release);
        cfg_->seq.store(seq, std::memory_order_release);  // (R1) pairs with (A1)
    }

    struct config_block {
        std::atomic<std::uint64_t> seq{0};
        std::atomic<std::int64_t> base_ns{0};
        std::atomic<std::uint64_t> mul{0};
        std::atomic<std::uint64_t> shift_frac{0};
        std::atomic<std::int64_t> burst_units{0};
        std::atomic<std::int64_t> max_d{0};
        std::atomic<std::uint64_t> num{0};
    };
    static_assert(sizeof(config_block) <= detail::cache_line, "the configuration fits one cache line");

    // The one word callers compare-exchange, alone on its cache line.
    detail::padded<std::atomic<std::uint64_t>> state_;
    // The seqlock-protected configuration: read-mostly, one line of its own.
    detail::padded<config_block> cfg_;
    // Cold: the setters' own copy, the mutex, the user-facing values, the clock.
    alignas(detail::cache_line) mutable std::mutex setter_;
    detail::gcra_config setter_cfg_;
    std::atomic<double> rate_{0.0};
    std::atomic<double> burst_{0.0};
    [[no_unique_address]] Clock clock_;
};

}  // namespace millrace
