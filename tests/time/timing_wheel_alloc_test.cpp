// Allocation tests of millrace::timing_wheel, counted by the replaced global operator new
// of support/counting_new.hpp (counting operator new with a fail-the-Nth-allocation hook; this is
// the one translation unit of time_test that includes it): memory per pending std::uint64_t timer, slack of
// growing pools included, and no allocation at all in steady-state churn, with or without cancels.
#include "millrace/time/timing_wheel.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <new>
#include <optional>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "support/counting_new.hpp"
#include "support/stress.hpp"

namespace {

using millrace::timer_id;
using millrace::timing_wheel;
using millrace::test::allocation_scope;

// Bytes per pending timer with n timers of delays uniform in [1, max_delay], counting
// everything the wheel allocated (it is built inside the scope).
double bytes_per_timer(std::size_t n, std::uint64_t max_delay) {
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::uint64_t> delay(1, max_delay);
    const allocation_scope scope;
    auto* w = new timing_wheel<std::uint64_t>();
    for (std::size_t i = 0; i < n; ++i)
        (void)w->insert(delay(rng), i);
    const double per = static_cast<double>(scope.bytes_live_delta()) / static_cast<double>(n);
    delete w;
    EXPECT_EQ(scope.bytes_live_delta(), 0);
    return per;
}

TEST(TimingWheelMemory, AtMost48BytesPerPendingUint64Timer) {
    // The benchmark's shape (1 ms ticks, delays up to 60 s) and wider spreads.
    for (std::uint64_t max_delay : {std::uint64_t{60000}, std::uint64_t{1} << 30, std::uint64_t{1} << 36}) {
        const double per = bytes_per_timer(1000000, max_delay);
        RecordProperty("bytes_per_timer_" + std::to_string(max_delay), std::to_string(per));
        EXPECT_LE(per, 48.0) << "max delay " << max_delay;
        EXPECT_GE(per, 32.0);  // a sanity check: node 16 B + entry 16 B
    }
    // Far timers (beyond 2^36 ticks) live in the heap: a vector whose doubling slack counts.
    const double far = bytes_per_timer(1000000, std::uint64_t{1} << 50);
    EXPECT_LE(far, 48.0);
}

TEST(TimingWheelMemory, SteadyChurnAllocatesNothing) {
    std::mt19937_64 rng(11);
    std::uniform_int_distribution<std::uint64_t> delay(1, 60000);
    timing_wheel<std::uint64_t> w;
    std::vector<timer_id> ids(4096);
    std::uint64_t fired = 0;
    auto step = [&](std::size_t i) {
        ids[i % ids.size()] = w.insert(w.now() + delay(rng), i);
        switch (i % 8) {  // a mix of cancels, reschedules and far timers
            case 1:
                (void)w.cancel(ids[(i * 7) % ids.size()]);
                break;
            case 2:
                (void)w.reschedule(ids[(i * 13) % ids.size()], w.now() + delay(rng));
                break;
            case 3:
                (void)w.cancel(w.insert(w.now() + (std::uint64_t{1} << 40), i));
                break;
            default:
                break;
        }
        if (i % 4 == 0) fired += w.advance(w.now() + 1, [](std::uint64_t&&) {});
    };
    std::size_t i = 0;
    for (; i < 400000; ++i)
        step(i);  // warm-up: pending reaches its steady level
    const std::size_t pending = w.size();
    const allocation_scope scope;
    for (; i < 800000; ++i)
        step(i);
    EXPECT_EQ(scope.allocations(), 0u);
    EXPECT_GT(fired, 0u);
    EXPECT_GT(pending, 50000u);
}

TEST(TimingWheelMemory, CancelHeavyChurnStaysBounded) {
    // One live timer; a million inserted and cancelled at +30 s and beyond the wheel. The
    // dead entries are compacted instead of growing the pools.
    timing_wheel<std::uint64_t> w;
    (void)w.insert(std::uint64_t{1} << 30, 0);
    const allocation_scope scope;
    for (std::uint64_t i = 0; i < 1000000; ++i) {
        (void)w.cancel(w.insert(w.now() + 30000, i));
        if (i % 16 == 0) (void)w.cancel(w.insert(std::uint64_t{1} << 45, i));
        if (i % 32 == 0) w.advance(w.now() + 1, [](std::uint64_t&&) {});
    }
    EXPECT_LT(scope.bytes_live_delta(), 1 << 20) << "dead entries piled up";
    EXPECT_EQ(w.size(), 1u);
}

TEST(TimingWheelMemory, AtMost48BytesPerPendingTimerUnderCancelAndRescheduleChurn) {
    // 200k pending timers; 2M reschedules and insert/cancel pairs with no timer firing.
    // Dead entries stay in their slots until a compaction; it used to wait until they
    // outnumbered the live timers (up to ~55 bytes per pending timer).
    std::mt19937_64 rng(5);
    std::uniform_int_distribution<std::uint64_t> delay(1000, 60000);
    const allocation_scope scope;
    auto* w = new timing_wheel<std::uint64_t>();
    const std::size_t n = 200000;
    std::vector<timer_id> ids;
    ids.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        ids.push_back(w->insert(delay(rng), i));
    const std::ptrdiff_t ids_bytes = static_cast<std::ptrdiff_t>(n * sizeof(timer_id));
    double worst = 0;
    const std::size_t ops = millrace::test::scaled(2000000);
    for (std::size_t i = 0; i < ops; ++i) {
        if (i % 4 == 0) {
            const std::size_t j = rng() % n;
            ASSERT_TRUE(w->cancel(ids[j]));
            ids[j] = w->insert(delay(rng), j);
        } else {
            ASSERT_TRUE(w->reschedule(ids[rng() % n], delay(rng)));
        }
        if (i % 65536 == 0)
            worst = std::max(
                worst, static_cast<double>(scope.bytes_live_delta() - ids_bytes) / static_cast<double>(n));
    }
    worst =
        std::max(worst, static_cast<double>(scope.bytes_live_delta() - ids_bytes) / static_cast<double>(n));
    RecordProperty("worst_bytes_per_timer", std::to_string(worst));
    EXPECT_LE(worst, 48.0);
    EXPECT_EQ(w->size(), n);
    delete w;
}

TEST(TimingWheelMemory, DueListChurnStaysBounded) {
    // Inserting at or before now() and cancelling, or rescheduling to <= now() again and
    // again, with no advance in between: the due list kept every dead entry (1M of them
    // cost 16 MB; 10M, 160 MB) until an advance fired it.
    timing_wheel<std::uint64_t> w(1000);
    const timer_id keep = w.insert(w.now(), 0);
    const allocation_scope scope;
    const std::uint64_t ops = millrace::test::scaled(1000000);
    for (std::uint64_t i = 0; i < ops; ++i)
        ASSERT_TRUE(w.cancel(w.insert(w.now() - i % 3, i)));
    for (std::uint64_t i = 0; i < ops; ++i)
        ASSERT_TRUE(w.reschedule(keep, w.now() - i % 5));
    ASSERT_TRUE(w.reschedule(keep, 996));
    EXPECT_LT(scope.bytes_live_delta(), 64 << 10) << "dead due-list entries piled up";
    EXPECT_EQ(w.size(), 1u);
    EXPECT_EQ(w.next_expiry(), std::optional<std::uint64_t>(996));
    std::vector<std::uint64_t> got;
    EXPECT_EQ(w.advance(w.now(), [&](std::uint64_t&& v) { got.push_back(v); }), 1u);
    EXPECT_EQ(got, std::vector<std::uint64_t>{0});
}

TEST(TimingWheelFaults, BadAllocWhileMigratingFarTimersChangesNothing) {
    // 4000 far timers in one top-level window (16 ticks wide): moving them into the wheel
    // needs a second chunk block. Fail the k-th allocation of the advance for every k until
    // one succeeds; after each failure, finishing the advance must fire everything exactly
    // once, in order, with now() never going back.
    using small = timing_wheel<std::uint64_t, millrace::wheel_config<2, 4>>;
    bool succeeded = false;
    for (std::size_t k = 0; k < 64 && !succeeded; ++k) {
        small w;
        const std::size_t n = 4000;
        for (std::size_t i = 0; i < n; ++i)
            (void)w.insert(16 + (i * 7) % 16, 16 + (i * 7) % 16);
        (void)w.insert(3, 3);              // a near timer, so the advance has work before the window
        std::vector<std::uint64_t> fired;  // expiries, in firing order
        fired.reserve(2 * n);              // the callback must not allocate: only the wheel may fail
        std::uint64_t last_now = 0;
        std::array<bool, 64> armed{};
        std::size_t extra = 0;
        // The first callback of each window tick also inserts a timer 5 ticks on (value
        // 1000 + expiry): after a half-done migrate, such a timer was placed relative to
        // a now() that then went back, and fired early.
        auto record = [&](std::uint64_t&& v) {
            const std::uint64_t e = v >= 1000 ? v - 1000 : v;
            EXPECT_GE(w.now(), last_now) << "now() went back (k=" << k << ")";
            EXPECT_GE(w.now(), e) << "fired early (k=" << k << ")";
            last_now = w.now();
            fired.push_back(e);
            if (v >= 16 && v < 32 && !armed[v]) {
                armed[v] = true;
                (void)w.insert(w.now() + 5, 1000 + w.now() + 5);  // may throw bad_alloc
                ++extra;
            }
        };
        millrace::test::fail_allocation_after(k);
        try {
            (void)w.advance(40, record);
            succeeded = true;
        } catch (const std::bad_alloc&) {
        }
        millrace::test::stop_failing_allocations();
        EXPECT_LE(w.now(), 40u);
        const std::uint64_t before = w.now();
        (void)w.advance(40, record);
        EXPECT_GE(w.now(), before);
        EXPECT_EQ(w.advance(100, record), 0u);  // nothing left behind
        EXPECT_EQ(fired.size(), n + 1 + extra) << "k=" << k;
        EXPECT_TRUE(std::is_sorted(fired.begin(), fired.end())) << "firing order broken (k=" << k << ")";
        EXPECT_TRUE(w.empty());
    }
    EXPECT_TRUE(succeeded);
}

TEST(TimingWheelMemory, ReserveThenInsertsAllocateNothing) {
    // reserve(n) covers n timers anywhere ahead: wheel slots and the far heap.
    timing_wheel<std::uint64_t> w;
    const std::size_t n = 20000;
    w.reserve(n);
    const allocation_scope scope;
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t e = i % 2 == 0 ? 1 + i * 1000003 % 100000 : (std::uint64_t{1} << 40) + i;
        (void)w.insert(e, i);
    }
    EXPECT_EQ(scope.allocations(), 0u);
}

}  // namespace
