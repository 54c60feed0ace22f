// token_bucket under manual_clock: validation, exact refill, the rate*t + burst bound over long
// random simulations (with reserves, refunds and rate changes), exact reserve waits, waking
// acquire_for, extreme rates and hours of simulated time without drift.
#include "millrace/flow/token_bucket.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include <time.h>

#include <gtest/gtest.h>

namespace millrace::detail {
struct token_bucket_peek {
    template <class B>
    static std::uint64_t word(const B& b) {
        return b.state_->load();
    }
};
}  // namespace millrace::detail

namespace {

using namespace std::chrono_literals;
using millrace::manual_clock;
using bucket = millrace::token_bucket<manual_clock>;
using ns = std::chrono::nanoseconds;

TEST(TokenBucket, ConstructorAndSetRateValidate) {
    manual_clock clk;
    const double inf = std::numeric_limits<double>::infinity();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (double r : {0.0, -1.0, inf, nan, 1e-9, 1e13})
        EXPECT_THROW(bucket(r, 1.0, clk), std::invalid_argument) << r;
    for (double b : {0.0, 0.5, -3.0, inf, nan, 1e13})
        EXPECT_THROW(bucket(1.0, b, clk), std::invalid_argument) << b;
    EXPECT_NO_THROW(bucket(0.001, 1.0, clk));
    EXPECT_NO_THROW(bucket(1e9, 1e9, clk));

    bucket b(10.0, 5.0, clk);
    ASSERT_TRUE(b.try_acquire(2));
    EXPECT_THROW(b.set_rate(-1.0, 5.0), std::invalid_argument);
    EXPECT_THROW(b.set_rate(1.0, nan), std::invalid_argument);
    EXPECT_EQ(b.rate(), 10.0);
    EXPECT_EQ(b.burst(), 5.0);
    EXPECT_EQ(b.available(), 3.0);  // unchanged by the failed calls
}

TEST(TokenBucket, StartsFullAndRefillsExactly) {
    manual_clock clk;
    bucket b(10.0, 5.0, clk);
    EXPECT_EQ(b.available(), 5.0);
    for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(b.try_acquire()) << i;
    EXPECT_FALSE(b.try_acquire());
    EXPECT_TRUE(b.try_acquire(0));
    clk.advance(99'999'999ns);
    EXPECT_FALSE(b.try_acquire());
    clk.advance(1ns);  // exactly 100 ms: one token at 10/s
    EXPECT_TRUE(b.try_acquire());
    EXPECT_FALSE(b.try_acquire());
    clk.advance(10s);  // refills to the burst, not beyond
    EXPECT_EQ(b.available(), 5.0);
    EXPECT_FALSE(b.try_acquire(6));
    EXPECT_TRUE(b.try_acquire(5));
}

TEST(TokenBucket, LargerThanBurstFailsAtOnce) {
    manual_clock clk;
    bucket b(1000.0, 4.0, clk);
    EXPECT_FALSE(b.try_acquire(5));
    EXPECT_FALSE(b.reserve(5).has_value());
    EXPECT_FALSE(b.acquire_for(5, std::chrono::hours(1)));  // returns without waiting
    EXPECT_EQ(clk.waiters(), 0u);
    EXPECT_EQ(b.available(), 4.0);  // nothing was taken
    EXPECT_TRUE(b.try_acquire(4));
}

// The reference bound, in exact integer arithmetic: tokens produced by an integer rate r over
// d ns are floor(r * d / 1e9).
std::int64_t produced(std::int64_t rate, std::int64_t d_ns) {
    return static_cast<std::int64_t>(static_cast<millrace::detail::gcra_i128>(rate) * d_ns / 1'000'000'000);
}

TEST(TokenBucket, RandomSimulationNeverExceedsBound) {
    std::mt19937_64 rng(42);
    for (const std::int64_t rate : {1LL, 3LL, 7LL, 1000LL, 12345LL, 999'983LL, 1'000'000'000LL}) {
        for (const std::int64_t burst : {1LL, 2LL, 17LL, 1000LL}) {
            manual_clock clk;
            const auto start = clk.now();
            bucket b(static_cast<double>(rate), static_cast<double>(burst), clk);
            std::int64_t net = 0;  // tokens taken (try_acquire, due reservations) minus refunds
            std::multimap<std::int64_t, std::int64_t> pending;  // reserve due (ns) -> tokens
            const std::int64_t step = std::max<std::int64_t>(1, 1'000'000'000 / rate);
            for (int i = 0; i < 4000; ++i) {
                clk.advance(ns(std::uniform_int_distribution<std::int64_t>(0, 3 * step)(rng)));
                const std::int64_t t = (clk.now() - start).count();
                for (auto it = pending.begin(); it != pending.end() && it->first <= t;) {
                    net += it->second;
                    it = pending.erase(it);
                }
                const auto n = std::uniform_int_distribution<std::int64_t>(1, burst)(rng);
                switch (rng() % 8) {
                    case 0: {
                        const auto w = b.reserve(static_cast<std::uint64_t>(n));
                        ASSERT_TRUE(w.has_value());
                        if (w->count() == 0)
                            net += n;
                        else
                            pending.emplace(t + w->count(), n);
                        break;
                    }
                    case 1:
                        if (net >= n && rng() % 2 == 0) {  // give back tokens actually taken
                            b.refund(static_cast<std::uint64_t>(n));
                            net -= n;
                        }
                        break;
                    default:
                        if (b.try_acquire(static_cast<std::uint64_t>(n))) net += n;
                }
                // Reserved tokens count when due; the bound holds at every step.
                ASSERT_LE(net, produced(rate, t) + burst)
                    << "rate " << rate << " burst " << burst << " step " << i;
            }
        }
    }
}

TEST(TokenBucket, HammeredBucketLosesNoToken) {
    std::mt19937_64 rng(7);
    for (const std::int64_t rate : {1LL, 3LL, 1000LL, 999'983LL, 1'000'000'000LL}) {
        for (const std::int64_t burst : {2LL, 5LL, 64LL}) {
            manual_clock clk;
            const auto start = clk.now();
            bucket b(static_cast<double>(rate), static_cast<double>(burst), clk);
            std::int64_t taken = 0;
            while (b.try_acquire())
                ++taken;  // asking from the start: nothing overflows
            // At most one token per step, so the bucket (emptied every step) never overflows:
            // the callers "keep asking".
            const std::int64_t step = std::max<std::int64_t>(1, 1'000'000'000 / rate);
            for (int i = 0; i < 2000; ++i) {
                clk.advance(ns(std::uniform_int_distribution<std::int64_t>(0, step)(rng)));
                while (b.try_acquire())
                    ++taken;
                const std::int64_t t = (clk.now() - start).count();
                // Hammered, the bucket hands out every token produced: exactly floor(r t) + burst
                // (the documented bound: >= rate * t + burst - 1, never more than rate * t + burst).
                ASSERT_EQ(taken, produced(rate, t) + burst) << "rate " << rate << " step " << i;
            }
        }
    }
}

TEST(TokenBucket, ReserveWaitsExactlyTheDeficit) {
    std::mt19937_64 rng(3);
    for (const std::int64_t rate : {1LL, 7LL, 1000LL, 33'333LL, 1'000'000'000LL}) {
        for (int trial = 0; trial < 50; ++trial) {
            manual_clock clk;
            bucket b(static_cast<double>(rate), 100.0, clk);
            ASSERT_TRUE(b.try_acquire(100));  // empty at token time 0
            const std::int64_t a =
                std::uniform_int_distribution<std::int64_t>(0, 3'000'000'000LL / rate)(rng);
            clk.advance(ns(a));
            const auto n = std::uniform_int_distribution<std::int64_t>(1, 100)(rng);
            const auto w = b.reserve(static_cast<std::uint64_t>(n));
            ASSERT_TRUE(w.has_value());
            // Deficit: the n-th token after time 0 comes at ceil(n * 1e9 / rate) ns.
            const std::int64_t due = (n * 1'000'000'000 + rate - 1) / rate;
            ASSERT_EQ(w->count(), std::max<std::int64_t>(0, due - a)) << rate << " " << n << " " << a;
            // A second reservation queues behind the first.
            const auto w2 = b.reserve(1);
            ASSERT_TRUE(w2.has_value());
            const std::int64_t due2 = ((n + 1) * 1'000'000'000 + rate - 1) / rate;
            ASSERT_EQ(w2->count(), std::max<std::int64_t>(0, due2 - a));
            if (due2 > a + 1) {
                clk.advance(ns(due2 - a - 1));
                EXPECT_LT(b.available(), 0.0);  // one ns early: still in debt
                clk.advance(1ns);
            } else {
                clk.advance(ns(std::max<std::int64_t>(0, due2 - a)));
            }
            EXPECT_GE(b.available(), 0.0);
            EXPECT_LT(b.available(), 1.0);
        }
    }
}

TEST(TokenBucket, ReserveRefusesHugeDebt) {
    manual_clock clk;
    bucket b(1.0, 1000.0, clk);
    int granted = 0;
    while (b.reserve(1000).has_value())
        ++granted;  // the debt cap stops it
    EXPECT_GT(granted, 100);
    EXPECT_LT(b.available(), -100000.0);
}

TEST(TokenBucket, AcquireForWakesWhenTheClockAdvances) {
    manual_clock clk;
    bucket b(1.0, 1.0, clk);
    ASSERT_TRUE(b.try_acquire());
    // Cannot come within the timeout: fails at once, takes nothing.
    EXPECT_FALSE(b.acquire_for(1, 999ms));
    EXPECT_EQ(clk.waiters(), 0u);
    std::atomic<int> result{-1};
    std::thread t([&] { result = b.acquire_for(1, 5s) ? 1 : 0; });
    ASSERT_TRUE(clk.wait_for_waiters(1, 10s));  // bounded: a waiter that never sleeps fails here
    EXPECT_EQ(clk.waiters(), 1u);
    EXPECT_EQ(result.load(), -1);
    clk.advance(500ms);
    EXPECT_EQ(result.load(), -1);  // not yet due (1 s)
    clk.advance(500ms);
    t.join();
    EXPECT_EQ(result.load(), 1);
    EXPECT_FALSE(b.try_acquire());  // the token was consumed by the waiter

    // A stop request during the wait returns false and gives the tokens back.
    std::stop_source stop;
    std::thread t2([&] { result = b.acquire_for(1, 5s, stop.get_token()) ? 1 : 0; });
    clk.wait_for_waiters(1);
    stop.request_stop();
    t2.join();
    EXPECT_EQ(result.load(), 0);
    clk.advance(1s);
    EXPECT_EQ(b.available(), 1.0);  // the refund restored it: full again after 1 s
}

// acquire_for(n, duration::max()) means "wait as long as it takes": now + timeout saturates
// (an overflow would be UB, in practice a deadline in the past that fails at once).
TEST(TokenBucket, AcquireForMaxDurationWaits) {
    manual_clock clk;
    clk.advance(1h);
    bucket b(1.0, 1.0, clk);
    ASSERT_TRUE(b.try_acquire());
    std::atomic<int> result{-1};
    std::thread t([&] { result = b.acquire_for(1, manual_clock::duration::max()) ? 1 : 0; });
    const bool slept = clk.wait_for_waiters(1, 10s);
    EXPECT_TRUE(slept);
    EXPECT_EQ(result.load(), -1);
    clk.advance(1s);
    t.join();
    EXPECT_EQ(result.load(), 1);
    EXPECT_FALSE(b.try_acquire());
}

// Near the end of the clock the due instant saturates instead of wrapping (a wrap would put
// it in the past and serve the caller at once, a token early).
TEST(TokenBucket, AcquireUntilNearTheEndOfTheClock) {
    manual_clock clk;
    using tp = manual_clock::time_point;
    clk.set(tp(manual_clock::duration::max() - 500ms));
    bucket b(1.0, 1.0, clk);
    ASSERT_TRUE(b.try_acquire());
    std::atomic<int> result{-1};
    std::thread t([&] { result = b.acquire_until(1, tp::max()) ? 1 : 0; });
    const bool slept = clk.wait_for_waiters(1, 10s);
    EXPECT_TRUE(slept);
    EXPECT_EQ(result.load(), -1);
    clk.advance(manual_clock::duration::max());  // saturates at the end of the clock
    t.join();
    EXPECT_EQ(result.load(), 1);
}

// Due exactly at the deadline is in time.
TEST(TokenBucket, DueAtTheDeadlineIsServed) {
    manual_clock clk;
    bucket b(1.0, 1.0, clk);
    ASSERT_TRUE(b.try_acquire());
    std::atomic<int> result{-1};
    std::thread t([&] { result = b.acquire_until(1, clk.now() + 1s) ? 1 : 0; });
    ASSERT_TRUE(clk.wait_for_waiters(1, 10s));
    clk.advance(1s);
    t.join();
    EXPECT_EQ(result.load(), 1);
    EXPECT_FALSE(b.acquire_until(1, clk.now() + 999'999'999ns));  // 1 ns short: fails at once
    EXPECT_EQ(clk.waiters(), 0u);
}

// acquire(n, st) sleeps in the clock until served, whatever the wait; a stop request wakes it
// with false and gives the reserved tokens back; n > burst can never be served and throws.
TEST(TokenBucket, AcquireSleepsUntilServedOrStopped) {
    manual_clock clk;
    bucket b(1.0, 2.0, clk);
    std::stop_source stop;
    ASSERT_TRUE(b.acquire(2, stop.get_token()));  // due now: no wait
    EXPECT_EQ(clk.waiters(), 0u);
    EXPECT_THROW((void)b.acquire(3, stop.get_token()), std::invalid_argument);
    EXPECT_EQ(b.available(), 0.0);  // nothing taken by the refused call

    std::atomic<int> result{-1};
    std::thread t([&] { result = b.acquire(2, stop.get_token()) ? 1 : 0; });
    ASSERT_TRUE(clk.wait_for_waiters(1, 10s));  // asleep in the clock, not spinning
    clk.advance(1s);
    EXPECT_EQ(result.load(), -1);  // one token of two
    clk.advance(999'999'999ns);
    EXPECT_EQ(result.load(), -1);  // 1 ns short
    clk.advance(1ns);
    t.join();
    EXPECT_EQ(result.load(), 1);
    EXPECT_EQ(b.available(), 0.0);

    std::thread t2([&] { result = b.acquire(1, stop.get_token()) ? 1 : 0; });
    ASSERT_TRUE(clk.wait_for_waiters(1, 10s));
    stop.request_stop();
    t2.join();
    EXPECT_EQ(result.load(), 0);
    EXPECT_EQ(b.available(), 0.0);                 // the reserved token was given back
    EXPECT_FALSE(b.acquire(1, stop.get_token()));  // already stopped: false at once
    clk.advance(1s);
    EXPECT_EQ(b.available(), 1.0);
}

// Where acquire_for refuses at once (the waiters' debt at its cap), acquire sleeps until the
// request fits under the cap, then queues behind the debt and is served when its turn comes.
TEST(TokenBucket, AcquireWaitsForRoomUnderTheDebtCap) {
    manual_clock clk;
    bucket b(1.0, 1000.0, clk);
    int granted = 0;
    while (b.reserve(1000).has_value())
        ++granted;
    ASSERT_GT(granted, 100);
    const double debt = b.available();
    EXPECT_FALSE(b.acquire_for(1000, std::chrono::duration_cast<manual_clock::duration>(1000h)));
    std::atomic<int> result{-1};
    std::stop_source stop;
    std::thread t([&] { result = b.acquire(1000, stop.get_token()) ? 1 : 0; });
    ASSERT_TRUE(clk.wait_for_waiters(1, 10s));
    EXPECT_EQ(b.available(), debt);  // asleep before taking anything
    clk.advance(2000s);              // room for one more request: it wakes, reserves and sleeps again
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (b.available() > debt + 2000.0 - 1000.0 + 0.5 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(1ms);
    EXPECT_EQ(b.available(), debt + 2000.0 - 1000.0);
    ASSERT_TRUE(clk.wait_for_waiters(1, 10s));
    EXPECT_EQ(result.load(), -1);
    clk.advance(std::chrono::seconds(static_cast<std::int64_t>(-debt) + 2000));
    t.join();
    EXPECT_EQ(result.load(), 1);
}

// A waiter on a slow real-clock bucket sleeps between tokens: at 2 tokens/s it uses a few ms
// of CPU per second (a retry loop around acquire_for spun at 100% of a core), and a stop
// request wakes it promptly.
TEST(TokenBucket, AcquireWaiterUsesAlmostNoCpuAndStopsPromptly) {
    millrace::token_bucket<> b(2.0, 1.0);
    ASSERT_TRUE(b.try_acquire());
    std::stop_source stop;
    std::atomic<int> served{0};
    std::atomic<std::int64_t> cpu_ns{0};
    std::thread t([&] {
        while (b.acquire(1, stop.get_token()))
            served.fetch_add(1);
        timespec ts{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        cpu_ns = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
    });
    std::this_thread::sleep_for(1200ms);
    const auto asked = std::chrono::steady_clock::now();
    stop.request_stop();
    t.join();
    const auto woke_in = std::chrono::steady_clock::now() - asked;
    EXPECT_GE(served.load(), 1);
    EXPECT_LE(served.load(), 4);           // 2/s over 1.2 s (+ slack for a loaded machine)
    EXPECT_LT(cpu_ns.load(), 60'000'000);  // spinning would be ~1.2 s
    EXPECT_LT(woke_in, 400ms);             // woken by the stop, not by the next token
}

// A clock whose wait can throw, and that counts its waits.
struct throwing_clock {
    using rep = manual_clock::rep;
    using period = manual_clock::period;
    using duration = manual_clock::duration;
    using time_point = manual_clock::time_point;
    manual_clock inner;
    std::shared_ptr<std::atomic<int>> waits = std::make_shared<std::atomic<int>>(0);
    bool throws = false;
    time_point now() const noexcept { return inner.now(); }
    bool wait_until(time_point tp, std::stop_token st) const {
        waits->fetch_add(1);
        if (throws) throw std::runtime_error("wait failed");
        return inner.wait_until(tp, std::move(st));
    }
};

TEST(TokenBucket, AcquireUntilStopAlreadyRequestedOrWaitThrows) {
    throwing_clock clk;
    millrace::token_bucket<throwing_clock> b(1.0, 2.0, clk);
    std::stop_source stop;
    stop.request_stop();
    // A stop already requested: false at once, nothing taken, no wait.
    EXPECT_FALSE(b.acquire_for(1, 1h, stop.get_token()));
    EXPECT_EQ(clk.waits->load(), 0);
    EXPECT_EQ(b.available(), 2.0);
    ASSERT_TRUE(b.try_acquire(2));
    EXPECT_FALSE(b.acquire_for(1, 1h, stop.get_token()));
    EXPECT_EQ(clk.waits->load(), 0);
    EXPECT_EQ(b.available(), 0.0);

    throwing_clock bad;
    bad.throws = true;
    millrace::token_bucket<throwing_clock> c(1.0, 1.0, bad);
    ASSERT_TRUE(c.try_acquire());
    EXPECT_THROW((void)c.acquire_for(1, 1h), std::runtime_error);
    EXPECT_EQ(bad.waits->load(), 1);
    EXPECT_EQ(c.available(), 0.0);  // the token taken for the wait was given back
    bad.inner.advance(1s);
    EXPECT_EQ(c.available(), 1.0);
}

// The epoch tag must not wrap within a run of set_rate calls a preempted caller could sleep
// through: a full bucket re-set to the same configuration repeats its word only after 2^14
// calls (with 8 tag bits it repeated every 256, so a stale compare-exchange could win).
TEST(TokenBucket, SetRateWordDoesNotRepeatWithinSixteenThousandCalls) {
    manual_clock clk;
    bucket b(100.0, 10.0, clk);
    const std::uint64_t w0 = millrace::detail::token_bucket_peek::word(b);
    for (int i = 1; i < (1 << 14); ++i) {
        b.set_rate(100.0, 10.0);
        ASSERT_NE(millrace::detail::token_bucket_peek::word(b), w0) << i;
    }
    EXPECT_EQ(b.available(), 10.0);
}

TEST(TokenBucket, RefundNeverAboveBurst) {
    manual_clock clk;
    bucket b(1.0, 5.0, clk);
    b.refund(3);
    EXPECT_EQ(b.available(), 5.0);
    ASSERT_TRUE(b.try_acquire(4));
    b.refund(2);
    EXPECT_EQ(b.available(), 3.0);
    b.refund(100);
    EXPECT_EQ(b.available(), 5.0);
}

TEST(TokenBucket, RefundRestoresTheRightCount) {
    manual_clock clk;
    bucket b(2.0, 10.0, clk);
    ASSERT_TRUE(b.try_acquire(10));
    const auto w = b.reserve(4);  // 4 tokens of debt: 2 s
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(*w, 2s);
    EXPECT_EQ(b.available(), -4.0);
    b.refund(3);  // the reservation was not used in full: debt first
    EXPECT_EQ(b.available(), -1.0);
    b.refund(4);
    EXPECT_EQ(b.available(), 3.0);
    EXPECT_TRUE(b.try_acquire(3));
    EXPECT_FALSE(b.try_acquire());
}

TEST(TokenBucket, SetRateKeepsTheBalance) {
    manual_clock clk;
    bucket b(10.0, 10.0, clk);
    ASSERT_TRUE(b.try_acquire(6));
    b.set_rate(1000.0, 20.0);  // 4 tokens kept; the bigger burst does not jump
    EXPECT_EQ(b.available(), 4.0);
    clk.advance(10ms);  // 10 more at 1000/s
    EXPECT_EQ(b.available(), 14.0);
    clk.advance(1s);
    EXPECT_EQ(b.available(), 20.0);
    b.set_rate(1.0, 3.0);  // a smaller burst clamps
    EXPECT_EQ(b.available(), 3.0);
    ASSERT_TRUE(b.try_acquire(3));
    const auto w = b.reserve(2);
    ASSERT_TRUE(w.has_value());
    EXPECT_EQ(*w, 2s);
    b.set_rate(2.0, 3.0);  // debt is kept and repaid at the new rate
    EXPECT_EQ(b.available(), -2.0);
    clk.advance(1s);
    EXPECT_EQ(b.available(), 0.0);
    EXPECT_EQ(b.rate(), 2.0);
    EXPECT_EQ(b.burst(), 3.0);
}

TEST(TokenBucket, RandomRateChangesKeepTheBound) {
    // A rate change keeps the balance (or lowers it: clamp to the new burst, rounding down), so
    // over the run the tokens handed out never exceed the initial burst + the integral of the rate.
    std::mt19937_64 rng(11);
    const std::int64_t rates[] = {1, 10, 1000, 250'000, 1'000'000'000};
    manual_clock clk;
    bucket b(10.0, 8.0, clk);
    long double allowance = 8.0L;
    std::int64_t rate = 10;
    std::int64_t taken = 0;
    for (int i = 0; i < 3000; ++i) {
        const std::int64_t step = 1'000'000'000 / rate;
        const std::int64_t adv = std::uniform_int_distribution<std::int64_t>(0, 4 * step)(rng);
        clk.advance(ns(adv));
        allowance += static_cast<long double>(rate) * adv / 1e9L;
        if (rng() % 16 == 0) {
            rate = rates[rng() % 5];
            const double burst = static_cast<double>(1 + rng() % 64);
            b.set_rate(static_cast<double>(rate), burst);
        }
        const auto n = 1 + rng() % 4;
        if (b.try_acquire(n)) taken += static_cast<std::int64_t>(n);
        ASSERT_LE(static_cast<long double>(taken), allowance + 1e-6L);
    }
}

TEST(TokenBucket, ExtremeRatesAreExact) {
    {  // 0.001/s: one token every 1000 s
        manual_clock clk;
        bucket b(0.001, 1.0, clk);
        ASSERT_TRUE(b.try_acquire());
        clk.advance(999'999'999'999ns);
        EXPECT_FALSE(b.try_acquire());
        clk.advance(1ns);
        EXPECT_TRUE(b.try_acquire());
        const auto w = b.reserve(1);
        ASSERT_TRUE(w.has_value());
        EXPECT_EQ(*w, 1000s);
    }
    {  // 1e9/s: one token per ns
        manual_clock clk;
        bucket b(1e9, 1.0, clk);
        ASSERT_TRUE(b.try_acquire());
        EXPECT_FALSE(b.try_acquire());
        clk.advance(1ns);
        EXPECT_TRUE(b.try_acquire());
        clk.advance(1000ns);
        EXPECT_EQ(b.available(), 1.0);
    }
}

// Draining everything available after each step over hours (or days) of simulated time must hand
// out exactly floor(rate * t) + burst tokens: no drift, whatever the rate, across re-bases.
void drain_for(double rate, double burst, std::chrono::nanoseconds total, std::chrono::nanoseconds max_step,
               std::uint64_t seed, bool set_rate_each_step = false) {
    std::mt19937_64 rng(seed);
    manual_clock clk;
    const auto start = clk.now();
    bucket b(rate, burst, clk);
    std::uint64_t taken = static_cast<std::uint64_t>(burst);
    ASSERT_TRUE(b.try_acquire(taken));  // drained from the start; each step adds < burst - 1
    while (clk.now() - start < total) {
        clk.advance(ns(std::uniform_int_distribution<std::int64_t>(1, max_step.count())(rng)));
        if (set_rate_each_step) b.set_rate(rate, burst);  // the same configuration: lossless
        const auto avail = static_cast<std::uint64_t>(b.available());
        if (avail > 0) {
            ASSERT_TRUE(b.try_acquire(avail));
            taken += avail;
        }
        ASSERT_FALSE(b.try_acquire(1)) << "available() under-reported";
    }
    const long double t = static_cast<long double>((clk.now() - start).count());
    const auto expected = static_cast<std::uint64_t>(std::floor(static_cast<long double>(rate) * t / 1e9L)) +
                          static_cast<std::uint64_t>(burst);
    EXPECT_EQ(taken, expected) << "rate " << rate;
}

TEST(TokenBucket, NoDriftOverHours) {
    drain_for(1e9, 1e9, std::chrono::hours(10), std::chrono::milliseconds(999), 1);
    drain_for(0.001, 10.0, std::chrono::hours(2000), std::chrono::hours(1), 2);
    drain_for(3.0, 7.0, std::chrono::hours(30), std::chrono::seconds(2), 3);
    drain_for(777'777.0, 1e6, std::chrono::hours(5), std::chrono::seconds(1), 4);
    // Long enough to re-base token time (2^48 units: ~78 h at 1e9/s, ~281 s at 1e12/s).
    drain_for(1e12, 1e12, std::chrono::hours(6), std::chrono::milliseconds(999), 5);
    drain_for(1e9, 1099511627776.0, std::chrono::hours(24 * 120), std::chrono::minutes(10), 6);
}

// A re-base (or set_rate to the same rate and burst) keeps the grid: at 1.5e9/s (F = 0, 1.5
// tokens per ns) moving the base to an odd ns dropped half a token each time, so a drained
// bucket fell short of rate * t + burst.
TEST(TokenBucket, ReBaseAndSameSetRateLoseNothing) {
    // Each step refills less than the burst, so a drain after each step takes every token.
    drain_for(1.5e9, 1099511627776.0, std::chrono::hours(400), std::chrono::minutes(10), 7);
    drain_for(2.5e11, 1099511627776.0, std::chrono::hours(2), std::chrono::seconds(4), 8);
    drain_for(1.5e9, 1e8, std::chrono::seconds(20), std::chrono::milliseconds(7), 9, true);
    drain_for(3.0, 10.0, std::chrono::hours(3), std::chrono::seconds(2), 10, true);
}

// "The same configuration" is the fixed-point one: at 7e8/s (F = 0) bursts 1 and 1.5 are both one
// unit, so set_rate(7e8, 1.5) after (7e8, 1) keeps the grid and the half unit of refill progress
// 15 ns in (0.7 * 15 = 10.5 units) while in debt. A twin bucket without the set_rate must answer the same
// reserve wait (the fuzz model once restarted token time here and expected 1 ns more).
TEST(TokenBucket, SetRateToAnEquivalentFractionalBurstLosesNothing) {
    manual_clock clk;
    bucket b(7e8, 1.0, clk);
    bucket twin(7e8, 1.0, clk);
    for (int i = 0; i < 20; ++i)
        ASSERT_EQ(b.reserve(1), twin.reserve(1));  // 19 tokens of debt
    clk.advance(ns(15));
    b.set_rate(7e8, 1.5);
    EXPECT_EQ(b.burst(), 1.5);
    EXPECT_EQ(b.available(), twin.available());
    const auto w = twin.reserve(1);
    ASSERT_TRUE(w.has_value());
    // E = 20 units is due at ceil(20 / 0.7) = 29 ns: 14 ns from now. Restarting token time at
    // 15 ns (dropping the half unit) would owe 10 units from there: ceil(10 / 0.7) = 15 ns.
    EXPECT_EQ(*w, ns(14));
    EXPECT_EQ(b.reserve(1), w);
}

}  // namespace
