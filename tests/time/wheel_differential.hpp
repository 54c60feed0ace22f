// A differential driver for millrace::timing_wheel: replays a stream of random operations
// on a wheel and on a plain std::multimap model, and reports the first disagreement.
// Shared by the stress test (tests/time/timing_wheel_stress_test.cpp, randomness from a
// PRNG) and the fuzz target (fuzz/timing_wheel_ops.cpp, randomness from fuzzer bytes).
//
// Operations: inserts with delays from 0 to 2^44 ticks (and expiries in the past, and at
// the top of the tick range), cancels and reschedules of pending timers, cancels and
// reschedules of stale ids (fired or cancelled: must return false and change nothing),
// advances of every size (zero, to the past, small, huge, to UINT64_MAX), and callbacks
// that insert, cancel and throw. Checked after every operation or callback:
//   - a timer fires only if pending, with expiry <= the advance's target, and within one
//     advance in non-decreasing expiry order;
//   - after an advance that did not throw, no pending timer has expiry <= target except
//     those inserted by its callbacks at or before the tick being fired (they wait for the
//     next advance, as documented);
//   - size(), now(), and next_expiry() <= the earliest pending expiry, also from inside
//     the callbacks (which also cancel and reschedule the timer being fired by its own id:
//     refused). Throwing callbacks hit both the slot being fired and the due list.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "millrace/time/timing_wheel.hpp"

namespace millrace::test {

struct differential_failure {
    std::string what;
};

struct differential_thrown {};  // what the callbacks throw, on purpose

// Source: `std::uint64_t next()` (any bits) and `bool done() const`.
template <class Wheel, class Source>
class wheel_differential {
public:
    explicit wheel_differential(Source& src, std::uint64_t start = 0) : src_(src), wheel_(start) {}

    /// Runs until the source is exhausted or `max_ops` operations. Throws
    /// differential_failure on the first disagreement.
    void run(std::size_t max_ops) {
        for (std::size_t op = 0; op < max_ops && !src_.done(); ++op)
            step();
        // Drain with quiet callbacks: everything pending fires, in order, by one advance.
        quiet_ = true;
        advance_to(max_tick);
        check(wheel_.empty(), "timers left pending after advance(UINT64_MAX)");
        check(expiry_.empty(), "timers left in the model after draining");
    }

    std::size_t fired() const { return fired_total_; }

private:
    static constexpr std::uint64_t max_tick = std::numeric_limits<std::uint64_t>::max();

    void fail(const std::string& what) {
        throw differential_failure{what + " (now " + std::to_string(wheel_.now()) + ")"};
    }
    void check(bool ok, const char* what) {
        if (!ok) fail(what);
    }

    std::uint64_t random_expiry() {
        const std::uint64_t r = src_.next();
        const unsigned kind = static_cast<unsigned>(r % 16);
        const std::uint64_t now = wheel_.now();
        if (kind == 0) return now - std::min<std::uint64_t>(now, (r >> 8) % 100);  // the past or now
        if (kind == 1) return max_tick - (r >> 8) % 4;                             // the very top
        const unsigned bits = static_cast<unsigned>((r >> 4) % 45);                // 0 .. 2^44
        const std::uint64_t delay = bits == 0 ? 0 : src_.next() >> (64 - bits);
        const std::uint64_t e = now > max_tick - delay ? max_tick : now + delay;
        if (kind < 6) {  // on or next to a slot boundary of some level: where cascades go wrong
            const unsigned align = static_cast<unsigned>((r >> 10) % 48);
            const std::uint64_t b = e & ~((std::uint64_t{1} << align) - 1);
            return b + (kind == 2 ? 0 : kind == 3 ? 1 : kind == 4 ? (b > 0 ? ~std::uint64_t{0} : 0) : 0);
        }
        return e;
    }

    void insert_one() {
        const std::uint64_t e = random_expiry();
        const std::uint64_t v = next_value_++;
        const timer_id id = wheel_.insert(e, v);
        expiry_.emplace(v, e);
        ids_.emplace(v, id);
        order_.emplace(e, v);
        live_.push_back(v);
        if (in_advance_ && e <= wheel_.now()) deferred_.insert(v);
    }

    // A random pending timer's value, or false when none.
    bool pick_live(std::uint64_t& v) {
        while (!live_.empty()) {
            const std::size_t i = static_cast<std::size_t>(src_.next() % live_.size());
            v = live_[i];
            if (expiry_.count(v) != 0) return true;
            live_[i] = live_.back();  // lazily drop fired or cancelled values
            live_.pop_back();
        }
        return false;
    }

    void forget(std::uint64_t v) {
        const std::uint64_t e = expiry_.at(v);
        for (auto [it, end] = order_.equal_range(e); it != end; ++it) {
            if (it->second == v) {
                order_.erase(it);
                break;
            }
        }
        expiry_.erase(v);
        stale_.push_back(ids_.at(v));
        if (stale_.size() > 256) stale_.erase(stale_.begin(), stale_.begin() + 128);
        ids_.erase(v);
        deferred_.erase(v);
    }

    void cancel_one() {
        std::uint64_t v;
        if (!pick_live(v)) return;
        check(wheel_.cancel(ids_.at(v)), "cancel of a pending timer returned false");
        forget(v);
    }

    void stale_one(bool reschedule) {
        if (stale_.empty()) return;
        const timer_id id = stale_[static_cast<std::size_t>(src_.next() % stale_.size())];
        const std::size_t before = wheel_.size();
        const bool r = reschedule ? wheel_.reschedule(id, random_expiry()) : wheel_.cancel(id);
        check(!r,
              reschedule ? "reschedule of a stale id returned true" : "cancel of a stale id returned true");
        check(wheel_.size() == before, "a stale id changed size()");
    }

    void reschedule_one() {
        std::uint64_t v;
        if (!pick_live(v)) return;
        const std::uint64_t e = random_expiry();
        const timer_id id = ids_.at(v);
        check(wheel_.reschedule(id, e), "reschedule of a pending timer returned false");
        const std::uint64_t old = expiry_.at(v);
        for (auto [it, end] = order_.equal_range(old); it != end; ++it) {
            if (it->second == v) {
                order_.erase(it);
                break;
            }
        }
        expiry_[v] = e;
        order_.emplace(e, v);
        deferred_.erase(v);
        if (in_advance_ && e <= wheel_.now()) deferred_.insert(v);
    }

    void on_fire(std::uint64_t v) {
        ++fired_in_advance_;
        auto it = expiry_.find(v);
        check(it != expiry_.end(), "a timer fired that is not pending (cancelled, or fired twice)");
        const std::uint64_t e = it->second;
        check(e <= target_, "a timer fired before its expiry");
        check(e >= last_fired_, "timers fired out of expiry order");
        check(deferred_.count(v) == 0,
              "a timer inserted by a callback for the current tick fired in the same advance");
        check(wheel_.now() == (e > now_before_ ? e : now_before_),
              "now() during the callback is not the tick being fired");
        last_fired_ = e;
        const timer_id own = ids_.at(v);
        forget(v);
        // The state as seen from inside the callback: size() and a next_expiry() that is
        // never later than a pending timer (the rest of the slot being fired included).
        check_state();
        // Callbacks change the wheel now and then.
        if (quiet_ || src_.done()) return;
        const std::uint64_t r = src_.next() % 64;
        if (r == 0)
            insert_one();
        else if (r == 1)
            cancel_one();
        else if (r == 2)
            reschedule_one();
        else if (r == 3)
            stale_one(false);
        else if (r == 4 && throws_)
            throw differential_thrown{};
        else if (r == 5 || r == 6) {
            // The timer being fired, by its own id: already stale.
            const std::size_t before = wheel_.size();
            const bool ok = r == 5 ? wheel_.cancel(own) : wheel_.reschedule(own, random_expiry());
            check(!ok, "cancel/reschedule of the timer being fired returned true");
            check(wheel_.size() == before, "cancel/reschedule of the timer being fired changed size()");
        }
        if (r < 8) check_state();
    }

    void advance_to(std::uint64_t t) {
        now_before_ = wheel_.now();
        target_ = std::max(t, now_before_);
        last_fired_ = 0;
        fired_in_advance_ = 0;
        deferred_.clear();
        in_advance_ = true;
        bool threw = false;
        std::size_t n = 0;
        try {
            n = wheel_.advance(t, [this](std::uint64_t&& v) { on_fire(v); });
        } catch (const differential_thrown&) {
            threw = true;
        }
        in_advance_ = false;
        fired_total_ += fired_in_advance_;
        if (threw) {
            check(wheel_.now() <= target_, "now() past the target after a throwing callback");
        } else {
            check(n == fired_in_advance_, "advance returned a count other than the callbacks made");
            check(wheel_.now() == target_, "now() is not the advance's target");
            for (auto it = order_.begin(); it != order_.end() && it->first <= target_; ++it)
                check(deferred_.count(it->second) != 0, "a due timer did not fire");
        }
        check_state();
    }

    void check_state() {
        check(wheel_.size() == expiry_.size(), "size() disagrees with the model");
        const auto ne = wheel_.next_expiry();
        if (order_.empty()) {
            check(!ne.has_value(), "next_expiry() with nothing pending");
        } else {
            check(ne.has_value(), "no next_expiry() with timers pending");
            check(*ne <= order_.begin()->first, "next_expiry() later than the earliest timer");
        }
    }

    std::uint64_t random_step() {
        const std::uint64_t r = src_.next();
        const unsigned kind = static_cast<unsigned>(r % 32);
        const std::uint64_t now = wheel_.now();
        if (kind == 0) return now;                                       // advance(now())
        if (kind == 1) return now - std::min<std::uint64_t>(now, 5);     // the past
        if (kind == 2 && !order_.empty()) return order_.begin()->first;  // exactly the next expiry
        if (kind == 3) {                                                 // just before next_expiry()
            const auto ne = wheel_.next_expiry();
            if (ne && *ne > 0) return *ne - 1;
        }
        if (kind == 4 && (r >> 8) % 256 == 0) return max_tick;  // rarely: the end of time
        const unsigned bits = static_cast<unsigned>((r >> 5) % 45);
        const std::uint64_t step = bits == 0 ? 0 : src_.next() >> (64 - bits);
        return now > max_tick - step ? max_tick : now + step;
    }

    void step() {
        const unsigned op = static_cast<unsigned>(src_.next() % 100);
        if (op < 45) {
            insert_one();
        } else if (op < 55) {
            cancel_one();
        } else if (op < 60) {
            stale_one(false);
        } else if (op < 68) {
            reschedule_one();
        } else if (op < 70) {
            stale_one(true);
        } else if (op < 72) {
            throws_ = true;
            advance_to(random_step());
            throws_ = false;
        } else {
            advance_to(random_step());
        }
        check_state();
    }

    Source& src_;
    Wheel wheel_;
    std::unordered_map<std::uint64_t, std::uint64_t> expiry_;  // value -> expiry
    std::unordered_map<std::uint64_t, timer_id> ids_;
    std::multimap<std::uint64_t, std::uint64_t> order_;  // expiry -> value
    std::vector<std::uint64_t> live_;
    std::vector<timer_id> stale_;
    std::unordered_set<std::uint64_t> deferred_;
    std::uint64_t next_value_ = 0;
    std::uint64_t now_before_ = 0, target_ = 0, last_fired_ = 0;
    std::size_t fired_in_advance_ = 0, fired_total_ = 0;
    bool in_advance_ = false, throws_ = false, quiet_ = false;
};

}  // namespace millrace::test
