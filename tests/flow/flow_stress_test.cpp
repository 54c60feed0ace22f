// Stress (label `stress`, sized by MILLRACE_STRESS_SCALE): threads hammering one token bucket.
//   - real steady clock, 2 and 4 threads: the tokens handed out never exceed rate * t + burst,
//     with t measured around the whole run (a bound no interleaving can excuse);
//   - manual clock, 4 threads taking and refunding while time advances step by step:
//     conservation, exactly floor(rate * t) + burst tokens net once drained (no token lost or
//     created by a race);
//   - set_rate from another thread while 3 threads acquire: never over the largest rate's bound;
//   - keyed_limiter, 4 threads on overlapping keys: per key never over its bound.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/flow/keyed_limiter.hpp"
#include "millrace/flow/token_bucket.hpp"
#include "support/stress.hpp"

namespace {

using namespace std::chrono_literals;
using millrace::test::scaled;

void real_clock_bound(int threads) {
    const double rate = 2e6;
    const double burst = 100.0;
    const std::size_t ops = scaled(2'000'000);
    const auto t0 = std::chrono::steady_clock::now();
    millrace::token_bucket<> b(rate, burst);
    std::atomic<std::uint64_t> taken{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::uint64_t mine = 0;
            for (std::size_t i = 0; i < ops; ++i) {
                const std::uint64_t n = 1 + (i + static_cast<std::size_t>(t)) % 3;
                if (b.try_acquire(n)) mine += n;
                if (i % 64 == 0 && b.try_acquire(1)) {
                    b.refund(1);  // a refund of a token just taken: net zero
                }
            }
            taken += mine;
        });
    }
    for (auto& th : pool)
        th.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double bound = rate * elapsed + burst;
    EXPECT_LE(static_cast<double>(taken.load()), bound) << threads << " threads";
    EXPECT_GT(taken.load(), 0u);
}

TEST(TokenBucketStress, TwoThreadsRealClockNeverOverBound) {
    real_clock_bound(2);
}
TEST(TokenBucketStress, FourThreadsRealClockNeverOverBound) {
    real_clock_bound(4);
}

TEST(TokenBucketStress, ManualClockExactConservationSteppedByThreads) {
    // Deterministic conservation: threads race on each step's tokens, and the main thread
    // waits until they have drained it before advancing, so nothing can overflow: the total
    // must be exactly floor(rate * t) + burst.
    millrace::manual_clock clk;
    const auto start = clk.now();
    const std::int64_t rate = 1'000'000;
    millrace::token_bucket<millrace::manual_clock> b(static_cast<double>(rate), 16.0, clk);
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> net{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t) {
        pool.emplace_back([&] {
            std::int64_t mine = 0;
            std::uint64_t i = 0;
            while (!stop.load(std::memory_order_acquire)) {
                if (b.try_acquire()) {
                    ++mine;
                    if (++i % 5 == 0) {
                        b.refund();
                        --mine;
                    }
                } else {
                    failures.fetch_add(1, std::memory_order_relaxed);
                    std::this_thread::yield();
                }
            }
            net += mine;
        });
    }
    const std::size_t steps = scaled(5'000, 500);
    while (b.available() >= 1.0)
        std::this_thread::yield();  // the initial burst first
    for (std::size_t s = 0; s < steps; ++s) {
        clk.advance(
            std::chrono::nanoseconds(1000 + static_cast<std::int64_t>(s % 11) * 1000));  // <= 11 tokens
        while (b.available() >= 1.0)
            std::this_thread::yield();  // wait until drained
    }
    stop.store(true, std::memory_order_release);
    for (auto& th : pool)
        th.join();
    std::int64_t rest = 0;  // a refund may land after the last drain check
    while (b.try_acquire())
        ++rest;
    const std::int64_t t = (clk.now() - start).count();
    EXPECT_EQ(net.load() + rest, rate * t / 1'000'000'000 + 16);
    EXPECT_GT(failures.load(), 0);
}

// Three threads hammer try_acquire while the main thread steps a manual clock and changes the
// rate and burst after every step. Each step (10 us) refills a whole number of tokens at every
// rate in the schedule and the threads drain the bucket before the next, so the exact integral
// of the rate schedule is known: the threads must take exactly burst + integral, no more (a
// rate change never adds tokens) and no less (none lost by a conversion racing the CASes).
TEST(TokenBucketStress, SetRateWhileAcquiring) {
    const std::int64_t rates[] = {100'000, 1'000'000, 300'000};
    const double burst = 50.0;
    constexpr std::int64_t dt_ns = 10'000;
    millrace::manual_clock clk;
    millrace::token_bucket<millrace::manual_clock> b(static_cast<double>(rates[0]), burst, clk);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> taken{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < 3; ++t) {
        pool.emplace_back([&] {
            std::uint64_t mine = 0;
            do {
                if (b.try_acquire())
                    ++mine;
                else
                    std::this_thread::yield();  // 2 cores: let the stepping thread run
            } while (!stop.load(std::memory_order_relaxed));
            taken += mine;
        });
    }
    const std::size_t changes = scaled(2'000);
    std::int64_t integral = 0;  // tokens the schedule produced: sum of rate * dt / 1e9, exact
    std::int64_t cur = rates[0];
    while (b.available() >= 1.0)
        std::this_thread::yield();  // drained first: no refill is capped
    for (std::size_t i = 0; i < changes; ++i) {
        clk.advance(std::chrono::nanoseconds(dt_ns));
        integral += cur * dt_ns / 1'000'000'000;
        cur = rates[(i + 1) % 3];
        b.set_rate(static_cast<double>(cur), burst + static_cast<double>(i % 5));
        while (b.available() >= 1.0)
            std::this_thread::yield();  // the threads drain it
    }
    stop = true;
    for (auto& th : pool)
        th.join();
    EXPECT_EQ(taken.load(), static_cast<std::uint64_t>(integral) + 50u);
    EXPECT_EQ(b.available(), 0.0);
}

TEST(KeyedLimiterStress, FourThreadsOverlappingKeys) {
    const auto t0 = std::chrono::steady_clock::now();
    constexpr std::size_t keys = 64;
    millrace::keyed_limiter<std::uint64_t> l(1e5, 10.0, {.max_keys = 1024, .shards = 16});
    std::vector<std::atomic<std::uint64_t>> per_key(keys);
    const std::size_t ops = scaled(400'000);
    std::vector<std::thread> pool;
    for (int t = 0; t < 4; ++t) {
        pool.emplace_back([&, t] {
            for (std::size_t i = 0; i < ops; ++i) {
                const std::uint64_t k = (i * 7 + static_cast<std::size_t>(t)) % keys;
                if (l.try_acquire(k)) per_key[k].fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    for (auto& th : pool)
        th.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (std::size_t k = 0; k < keys; ++k)
        EXPECT_LE(static_cast<double>(per_key[k].load()), 1e5 * elapsed + 10.0) << k;
    EXPECT_LE(l.size(), l.max_keys());
}

}  // namespace
