// Tests of millrace/time/clock.hpp: the clock_policy concept and typedefs, manual_clock
// (shared time across copies, wake-ups on advance and set, stop tokens, bad input), the
// real clocks' wait_until with and without stop, and tick_converter's rounding and
// saturation near the ends of the representable range.
#include "millrace/time/clock.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using millrace::manual_clock;
using millrace::tick_converter;
constexpr auto real_timeout = std::chrono::seconds(20);  // a test that hangs fails instead

static_assert(millrace::clock_policy<millrace::steady_clock_policy>);
static_assert(millrace::clock_policy<millrace::system_clock_policy>);
static_assert(millrace::clock_policy<manual_clock>);
static_assert(!millrace::clock_policy<int>);
static_assert(
    std::is_same_v<millrace::steady_clock_policy::time_point, std::chrono::steady_clock::time_point>);
static_assert(
    std::is_same_v<millrace::system_clock_policy::time_point, std::chrono::system_clock::time_point>);
static_assert(std::is_same_v<manual_clock::time_point, std::chrono::steady_clock::time_point>);
static_assert(std::is_same_v<manual_clock::duration, std::chrono::nanoseconds>);
static_assert(std::is_default_constructible_v<manual_clock> && std::is_copy_assignable_v<manual_clock>);

TEST(ManualClock, StartsAtTheEpochAndCopiesShareOneTime) {
    manual_clock a;
    EXPECT_EQ(a.now(), manual_clock::epoch);
    EXPECT_EQ(manual_clock::epoch.time_since_epoch(), std::chrono::hours(1));
    manual_clock b = a;
    manual_clock c;
    c = a;  // copy-assigned: now shares a's time, not its old own
    a.advance(5ms);
    EXPECT_EQ(b.now(), manual_clock::epoch + 5ms);
    EXPECT_EQ(c.now(), manual_clock::epoch + 5ms);
    c.set(manual_clock::epoch + 1s);
    EXPECT_EQ(a.now(), manual_clock::epoch + 1s);
    manual_clock other;  // an independent clock
    EXPECT_EQ(other.now(), manual_clock::epoch);
    const manual_clock at(manual_clock::time_point(42ns));
    EXPECT_EQ(at.now().time_since_epoch(), 42ns);
}

TEST(ManualClock, BadInputThrowsAndChangesNothing) {
    manual_clock c;
    EXPECT_THROW(c.advance(-1ns), std::invalid_argument);
    c.advance(10ns);
    EXPECT_THROW(c.set(manual_clock::epoch), std::invalid_argument);  // backwards
    EXPECT_EQ(c.now(), manual_clock::epoch + 10ns);
    c.set(c.now());  // the same time is fine
    c.advance(0ns);
    EXPECT_EQ(c.now(), manual_clock::epoch + 10ns);
}

TEST(ManualClock, AdvanceSaturatesInsteadOfOverflowing) {
    manual_clock c;
    c.advance(manual_clock::duration::max());
    EXPECT_EQ(c.now(), manual_clock::time_point::max());
    c.advance(1h);
    EXPECT_EQ(c.now(), manual_clock::time_point::max());
    EXPECT_TRUE(c.wait_until(manual_clock::time_point::max()));
}

TEST(ManualClock, AdvanceAtNegativeTimeDoesNotOverflow) {
    // max - cur overflowed for cur < 0 (UBSan: signed overflow) before the saturation check.
    manual_clock c{manual_clock::time_point{-5ns}};
    c.advance(10ns);
    EXPECT_EQ(c.now(), manual_clock::time_point{5ns});
    manual_clock d{manual_clock::time_point::min() + 1ns};
    d.advance(manual_clock::duration::max());
    EXPECT_EQ(d.now(), manual_clock::time_point::min() + 1ns + manual_clock::duration::max());
    d.advance(manual_clock::duration::max());  // now saturates
    EXPECT_EQ(d.now(), manual_clock::time_point::max());
}

TEST(ManualClock, AdvanceWakesEveryWaiterWhenItsDeadlineIsReached) {
    manual_clock c;
    std::atomic<int> woken{0};
    std::vector<std::thread> threads;
    for (int i = 1; i <= 4; ++i) {
        threads.emplace_back([c, i, &woken] {  // each thread waits on its own copy
            EXPECT_TRUE(c.wait_until(manual_clock::epoch + i * 10ms));
            EXPECT_GE(c.now(), manual_clock::epoch + i * 10ms);
            woken.fetch_add(1);
        });
    }
    ASSERT_TRUE(c.wait_for_waiters(4, real_timeout));
    EXPECT_EQ(c.waiters(), 4u);
    c.advance(25ms);  // wakes all; the two whose deadlines passed return
    while (woken.load() < 2)
        std::this_thread::yield();
    // The other two sleep again. wait_for_waiters(2) would already hold while the two that
    // returned are still counted (waiters() >= 2), so wait for exactly two.
    const auto give_up = std::chrono::steady_clock::now() + real_timeout;
    while (c.waiters() != 2 && std::chrono::steady_clock::now() < give_up)
        std::this_thread::yield();
    ASSERT_EQ(c.waiters(), 2u);
    EXPECT_EQ(woken.load(), 2);
    c.set(manual_clock::epoch + 40ms);
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(woken.load(), 4);
    EXPECT_EQ(c.waiters(), 0u);
}

TEST(ManualClock, WaitUntilAPastTimeReturnsTrueAtOnceEvenWhenStopped) {
    manual_clock c;
    std::stop_source stop;
    stop.request_stop();
    EXPECT_TRUE(c.wait_until(manual_clock::epoch, stop.get_token()));
    EXPECT_TRUE(c.wait_until(manual_clock::epoch - 1s));
    EXPECT_FALSE(c.wait_until(manual_clock::epoch + 1ns, stop.get_token()));  // stopped, not reached
}

TEST(ManualClock, StopTokenWakesWaitUntilWithFalse) {
    manual_clock c;
    std::stop_source stop;
    std::atomic<int> result{-1};
    std::thread t([&] { result = c.wait_until(manual_clock::epoch + 1h, stop.get_token()) ? 1 : 0; });
    ASSERT_TRUE(c.wait_for_waiters(1, real_timeout));
    stop.request_stop();
    t.join();
    EXPECT_EQ(result.load(), 0);
    EXPECT_EQ(c.waiters(), 0u);
}

TEST(ManualClock, JthreadStopEndsAComponentLoop) {
    // How the scheduler uses it: a thread that sleeps on the clock until stopped.
    manual_clock c;
    std::atomic<int> ticks{0};
    std::jthread t([c, &ticks](std::stop_token st) {
        auto next = c.now() + 1s;
        while (c.wait_until(next, st)) {
            ticks.fetch_add(1);
            next += 1s;
        }
    });
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(c.wait_for_waiters(1, real_timeout));
        const int before = ticks.load();
        c.advance(1s);
        while (ticks.load() == before)
            std::this_thread::yield();
    }
    ASSERT_TRUE(c.wait_for_waiters(1, real_timeout));
    t.request_stop();
    t.join();
    EXPECT_EQ(ticks.load(), 3);
}

TEST(ManualClock, WaitForWaitersWithTimeoutGivesUp) {
    manual_clock c;
    EXPECT_TRUE(c.wait_for_waiters(0, 1ms));
    EXPECT_FALSE(c.wait_for_waiters(1, 1ms));
}

template <class Policy>
void real_clock_waits() {
    const Policy clock;
    // Reaches the time: true, never early.
    const auto tp = clock.now() + 20ms;
    EXPECT_TRUE(clock.wait_until(tp));
    EXPECT_GE(clock.now(), tp);
    const auto tp2 = clock.now() + 5ms;
    std::stop_source never;
    EXPECT_TRUE(clock.wait_until(tp2, never.get_token()));
    EXPECT_GE(clock.now(), tp2);
    // A past time returns true at once.
    EXPECT_TRUE(clock.wait_until(clock.now() - 1s));
    // Stop already requested: false at once for a future time.
    std::stop_source stopped;
    stopped.request_stop();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(clock.wait_until(clock.now() + 1h, stopped.get_token()));
    // Stop requested while waiting (an hour, or forever): false, promptly.
    for (auto deadline : {clock.now() + 1h, Policy::time_point::max()}) {
        std::stop_source stop;
        std::thread t([&] {
            std::this_thread::sleep_for(20ms);
            stop.request_stop();
        });
        EXPECT_FALSE(clock.wait_until(deadline, stop.get_token()));
        t.join();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

TEST(SteadyClockPolicy, WaitUntilHonoursTimeAndStop) {
    real_clock_waits<millrace::steady_clock_policy>();
}
TEST(SystemClockPolicy, WaitUntilHonoursTimeAndStop) {
    real_clock_waits<millrace::system_clock_policy>();
}

// ---- tick_converter --------------------------------------------------------------------

using tp = std::chrono::steady_clock::time_point;
using ns = std::chrono::nanoseconds;
constexpr std::uint64_t max_tick = std::numeric_limits<std::uint64_t>::max();

TEST(TickConverter, RoundsExpiriesUpAndNowDown) {
    const tp origin = tp(5s);
    const tick_converter<tp> conv(origin, 1ms);
    EXPECT_EQ(conv.origin(), origin);
    EXPECT_EQ(conv.tick(), 1ms);
    EXPECT_EQ(conv.to_tick_ceil(origin), 0u);
    EXPECT_EQ(conv.to_tick_floor(origin), 0u);
    EXPECT_EQ(conv.to_tick_ceil(origin + 1ns), 1u);  // between ticks: the later one
    EXPECT_EQ(conv.to_tick_floor(origin + 1ns), 0u);
    EXPECT_EQ(conv.to_tick_ceil(origin + 1ms), 1u);  // on a tick: that tick
    EXPECT_EQ(conv.to_tick_floor(origin + 1ms), 1u);
    EXPECT_EQ(conv.to_tick_ceil(origin + 1ms + 1ns), 2u);
    EXPECT_EQ(conv.to_tick_floor(origin + 2ms - 1ns), 1u);
    // Before the origin: tick 0.
    EXPECT_EQ(conv.to_tick_ceil(origin - 1h), 0u);
    EXPECT_EQ(conv.to_tick_floor(tp::min()), 0u);
    // Back to time: the tick's start, and ceil of that start is the tick again.
    EXPECT_EQ(conv.to_time(0), origin);
    EXPECT_EQ(conv.to_time(7), origin + 7ms);
    for (std::uint64_t k : {1ull, 2ull, 1000ull, 123456789ull})
        EXPECT_EQ(conv.to_tick_ceil(conv.to_time(k)), k);
    // A timer never fires early: the wheel fires tick ceil(e) once floor(now) reaches it,
    // and that tick starts at or after e.
    for (auto off : {1ns, 999999ns, 1000000ns, 1000001ns, 5s + 3ns}) {
        const tp e = origin + off;
        EXPECT_GE(conv.to_time(conv.to_tick_ceil(e)), e);
        EXPECT_LE(conv.to_time(conv.to_tick_floor(e)), e);
    }
}

TEST(TickConverter, NegativeOrigin) {
    const tp origin = tp(-10s);
    const tick_converter<tp> conv(origin, 1s);
    EXPECT_EQ(conv.to_tick_floor(tp(0s)), 10u);
    EXPECT_EQ(conv.to_tick_ceil(tp(-1ns)), 10u);
    EXPECT_EQ(conv.to_tick_floor(tp(-1ns)), 9u);
    EXPECT_EQ(conv.to_time(10), tp(0s));
    EXPECT_EQ(conv.to_time(3), tp(-7s));
    EXPECT_EQ(conv.to_tick_ceil(tp(-11s)), 0u);
}

TEST(TickConverter, SaturatesNearTheEndsOfTheRange) {
    // The widest span: origin at min, 1 ns ticks: max() is tick 2^64 - 1 exactly.
    const tick_converter<tp> widest(tp::min(), 1ns);
    EXPECT_EQ(widest.to_tick_floor(tp::max()), max_tick);
    EXPECT_EQ(widest.to_tick_ceil(tp::max()), max_tick);
    EXPECT_EQ(widest.to_time(max_tick), tp::max());
    EXPECT_EQ(widest.to_time(max_tick - 1), tp::max() - 1ns);
    EXPECT_EQ(widest.to_tick_ceil(tp(0ns)), std::uint64_t{1} << 63);

    // Origin 0, 1 ms ticks: ticks beyond max() saturate to time_point::max().
    const tick_converter<tp> ms(tp(0ns), 1ms);
    const std::uint64_t last =
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / 1000000u;
    EXPECT_EQ(ms.to_tick_floor(tp::max()), last);
    EXPECT_EQ(ms.to_tick_ceil(tp::max()), last + 1);  // rounds up, past max() but no overflow
    EXPECT_EQ(ms.to_time(last), tp(ns(static_cast<std::int64_t>(last * 1000000u))));
    EXPECT_EQ(ms.to_time(last + 1), tp::max());
    EXPECT_EQ(ms.to_time(max_tick), tp::max());
    EXPECT_EQ(ms.to_time(max_tick / 2), tp::max());

    // Origin near max: only a few ticks fit.
    const tick_converter<tp> top(tp::max() - 10ns, 3ns);
    EXPECT_EQ(top.to_tick_ceil(tp::max()), 4u);  // 10 / 3 rounded up
    EXPECT_EQ(top.to_tick_floor(tp::max()), 3u);
    EXPECT_EQ(top.to_time(3), tp::max() - 1ns);
    EXPECT_EQ(top.to_time(4), tp::max());  // would be past max(): saturates
    // Huge negative origin with huge tick.
    const tick_converter<tp> huge(tp::min(), ns(std::numeric_limits<std::int64_t>::max()));
    EXPECT_EQ(huge.to_tick_floor(tp::max()), 2u);
    EXPECT_EQ(huge.to_time(2), tp::max() - 1ns);
    EXPECT_EQ(huge.to_time(3), tp::max());
}

TEST(TickConverter, RejectsATickThatIsNotPositive) {
    EXPECT_THROW(tick_converter<tp>(tp{}, 0ns), std::invalid_argument);
    EXPECT_THROW(tick_converter<tp>(tp{}, -1ms), std::invalid_argument);
}

TEST(TickConverter, SystemClockTimePoints) {
    using stp = std::chrono::system_clock::time_point;
    const stp origin = std::chrono::system_clock::now();
    const tick_converter<stp> conv(origin, std::chrono::duration_cast<stp::duration>(10ms));
    EXPECT_EQ(conv.to_tick_ceil(origin + 25ms), 3u);
    EXPECT_EQ(conv.to_tick_floor(origin + 25ms), 2u);
}

}  // namespace
