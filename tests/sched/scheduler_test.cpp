// sharded_scheduler under manual_clock: exact delivery times, cancel, recurring, cron, the
// wake-up rule, the cancel memory bound, errors, stop.
#include "millrace/sched/sharded_scheduler.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/stress.hpp"

// A fault-injecting operator new for this binary: when g_fail_countdown reaches 0 the
// allocation throws std::bad_alloc (once). -1: off.
namespace {
std::atomic<long> g_fail_countdown{-1};
void* test_alloc(std::size_t n) {
    long c = g_fail_countdown.load(std::memory_order_relaxed);
    while (c >= 0 && !g_fail_countdown.compare_exchange_weak(c, c - 1, std::memory_order_relaxed)) {
    }
    if (c == 0) throw std::bad_alloc();
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
}  // namespace
void* operator new(std::size_t n) {
    return test_alloc(n);
}
void* operator new[](std::size_t n) {
    return test_alloc(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

using namespace std::chrono_literals;
using millrace::manual_clock;
using millrace::schedule_handle;
using millrace::scheduler_options;
using clock_tp = manual_clock::time_point;
using sys_tp = std::chrono::system_clock::time_point;

template <class Task>
using manual_sched = millrace::sharded_scheduler<Task, manual_clock>;

scheduler_options<manual_clock> manual_opts(manual_clock clk, std::size_t shards = 2) {
    scheduler_options<manual_clock> o;
    o.manual = true;
    o.clock = clk;
    o.shards = shards;
    o.tick = 1ms;
    return o;
}

// Waits (bounded) until pred() holds; for threaded tests, which never sleep to wait for a timer.
template <class P>
bool eventually(P pred, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(100us);
    }
    return true;
}

// ---------------------------------------------------------------------------------------
TEST(SchedManual, EveryTaskOnceInFirstPollAtOrAfterDueTick) {
    manual_clock clk;
    const clock_tp origin = clk.now();
    const std::size_t n = millrace::test::scaled(1'000'000, 20'000);
    std::vector<clock_tp> due(n);
    std::vector<std::uint32_t> hits(n, 0);
    clock_tp prev_poll = origin - 1ns, this_poll = origin;
    std::size_t violations = 0;
    manual_sched<std::uint32_t> s(
        [&](std::uint32_t&& id) {
            ++hits[id];
            // Due tick time: due rounded up to the 1 ms grid from the origin.
            const auto since = due[id] - origin;
            const auto tick_time = origin + std::chrono::ceil<std::chrono::milliseconds>(since);
            if (tick_time > this_poll || tick_time <= prev_poll) ++violations;
        },
        manual_opts(clk, 3));
    std::mt19937_64 rng(42);
    std::vector<schedule_handle> handles(n);
    for (std::size_t i = 0; i < n; ++i) {
        due[i] = origin + std::chrono::nanoseconds(rng() % 1'000'000'000);  // [0, 1 s)
        handles[i] = s.schedule_at(due[i], static_cast<std::uint32_t>(i));
        ASSERT_TRUE(handles[i]);
    }
    EXPECT_EQ(s.pending(), n);  // any number of calls before a poll: the slabs grew
    // Cancel every 10th before any poll: never delivered.
    for (std::size_t i = 0; i < n; i += 10)
        ASSERT_TRUE(s.cancel(handles[i]));
    std::size_t delivered = 0;
    while (this_poll < origin + 1100ms) {
        clk.advance(std::chrono::nanoseconds(rng() % 3'000'000));
        prev_poll = this_poll;
        this_poll = clk.now();
        delivered += s.poll(this_poll);
    }
    EXPECT_EQ(violations, 0u);
    std::size_t once = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (i % 10 == 0) {
            ASSERT_EQ(hits[i], 0u) << "cancelled task " << i << " fired";
            EXPECT_FALSE(s.cancel(handles[i])) << "second cancel";
        } else {
            ASSERT_EQ(hits[i], 1u) << "task " << i;
            EXPECT_FALSE(s.cancel(handles[i])) << "cancel of a fired task";
            ++once;
        }
    }
    EXPECT_EQ(delivered, once);
    EXPECT_EQ(s.pending(), 0u);
    const auto st = s.stats();
    EXPECT_EQ(st.fired, once);
    EXPECT_EQ(st.cancelled, (n + 9) / 10);
    EXPECT_EQ(st.reclaimed, (n + 9) / 10);
}

TEST(SchedManual, PastDueFiresOnNextPollAndStaleHandlesAreInert) {
    manual_clock clk;
    std::vector<int> got;
    manual_sched<int> s([&](int&& v) { got.push_back(v); }, manual_opts(clk, 1));
    auto h = s.schedule_at(clk.now() - 10ms, 1);
    EXPECT_EQ(s.poll(clk.now()), 1u);
    EXPECT_EQ(got, std::vector<int>{1});
    // The slot is reused by the next task; the old handle must not cancel it.
    auto h2 = s.schedule_after(5ms, 2);
    EXPECT_EQ(h2.slot, h.slot);
    EXPECT_NE(h2.generation, h.generation);
    EXPECT_FALSE(s.cancel(h));
    EXPECT_FALSE(s.cancel(schedule_handle{}));
    EXPECT_FALSE(s.cancel(schedule_handle{7, 0, 1}));       // no such shard
    EXPECT_FALSE(s.cancel(schedule_handle{0, 123456, 1}));  // no such slot
    clk.advance(4ms);
    EXPECT_EQ(s.poll(clk.now()), 0u);
    clk.advance(1ms);
    EXPECT_EQ(s.poll(clk.now()), 1u);
    EXPECT_EQ(got, (std::vector<int>{1, 2}));
}

// Every task that goes through the inbox reaches the sink, whatever the length of the run it
// was pushed in (runs of 1, 2, 3, ... between polls): catches a lost inbox item at the
// scheduler level (mutation test inbox_lost_item).
TEST(SchedManual, EveryRunOfTheInboxReachesTheSink) {
    manual_clock clk;
    std::size_t got = 0;
    manual_sched<int> s([&](int&&) { ++got; }, manual_opts(clk, 1));
    std::size_t sent = 0;
    for (int run = 1; run <= 20; ++run) {
        for (int i = 0; i < run; ++i, ++sent)
            (void)s.schedule_after(0ms, i);
        (void)s.poll(clk.now());
        ASSERT_EQ(got, sent) << "a task of a run of " << run << " was lost";
    }
}

TEST(SchedManual, CancelOfAnArmedTaskStopsItsFiring) {
    manual_clock clk;
    int fired = 0;
    manual_sched<int> s([&](int&&) { ++fired; }, manual_opts(clk, 1));
    std::vector<schedule_handle> hs;
    for (int i = 0; i < 10; ++i)
        hs.push_back(s.schedule_after(5ms, i));
    (void)s.poll(clk.now());  // moves them into the wheel: armed
    EXPECT_EQ(s.stats().moved, 10u);
    for (int i = 0; i < 10; i += 2)
        EXPECT_TRUE(s.cancel(hs[static_cast<std::size_t>(i)]));
    EXPECT_EQ(s.pending(), 5u);
    clk.advance(10ms);
    EXPECT_EQ(s.poll(clk.now()), 5u);
    EXPECT_EQ(fired, 5) << "a cancelled task fired";
    EXPECT_EQ(s.stats().reclaimed, 5u);
}

// Huge delays saturate instead of overflowing into the past.
TEST(SchedManual, HugeDelaysSaturateAndBadPeriodsThrow) {
    manual_clock clk;
    clk.advance(1h);
    std::vector<int> got;
    manual_sched<int> s([&](int&& v) { got.push_back(v); }, manual_opts(clk, 1));
    ASSERT_TRUE(s.schedule_after(std::chrono::hours(24 * 365 * 300), 1));
    ASSERT_TRUE(s.schedule_after(std::chrono::nanoseconds::max(), 2));
    ASSERT_TRUE(s.schedule_after(std::chrono::hours::max(), 3));
    ASSERT_TRUE(s.schedule_at(clock_tp::max(), 4));
    ASSERT_TRUE(s.schedule_after(std::chrono::nanoseconds::min(), 5));
    ASSERT_TRUE(s.schedule_after(std::chrono::hours::min(), 6));
    clk.advance(1h);
    EXPECT_EQ(s.poll(clk.now()), 2u);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<int>{5, 6})) << "only the tasks saturated at min() fire";
    EXPECT_EQ(s.pending(), 4u);
    EXPECT_THROW((void)s.schedule_every(0ms, 7), std::invalid_argument);
    EXPECT_THROW((void)s.schedule_every(-1ms, 7), std::invalid_argument);
    EXPECT_THROW((void)s.schedule_every(std::chrono::nanoseconds::max(), 7), std::invalid_argument);
    EXPECT_THROW((void)s.schedule_every(std::chrono::hours(24 * 365 * 300), 7), std::invalid_argument);
    // A long but representable period: k * period never overflows, the entry parks at max().
    ASSERT_TRUE(s.schedule_every(std::chrono::hours(24 * 365 * 200), 8));
    clk.advance(std::chrono::hours(24 * 365 * 201));
    EXPECT_EQ(s.poll(clk.now()), 1u);
    EXPECT_EQ(got.back(), 8);
    clk.advance(std::chrono::hours(24 * 365 * 50));
    EXPECT_EQ(s.poll(clk.now()), 0u) << "the next grid point is past the clock's range";
}

// poll(now) with an earlier now than the last poll's: clamped, so a recurring task is not
// re-armed in the past and fired on every poll.
TEST(SchedManual, PollWithAnEarlierNowIsClamped) {
    manual_clock clk;
    const clock_tp t0 = clk.now();
    int fired = 0;
    manual_sched<int> s([&](int&&) { ++fired; }, manual_opts(clk, 1));
    EXPECT_EQ(s.poll(t0 + 100ms), 0u);
    ASSERT_TRUE(s.schedule_every(10ms, 1));  // start t0: first due t0 + 10 ms, already past
    EXPECT_EQ(s.poll(t0 + 5ms), 1u);         // coalesced into one firing
    EXPECT_EQ(s.poll(t0 + 6ms), 0u);
    EXPECT_EQ(s.poll(t0 + 7ms), 0u);
    EXPECT_EQ(s.poll(t0 + 110ms), 1u);
    EXPECT_EQ(fired, 2);
}

// Producers on another thread cannot keep poll from returning.
TEST(SchedManual, PollReturnsWhileAnotherThreadKeepsScheduling) {
    manual_clock clk;
    manual_sched<int> s([](int&&) {}, manual_opts(clk, 1));
    std::atomic<bool> done{false};
    std::thread producer([&] {
        while (!done.load(std::memory_order_relaxed))
            (void)s.schedule_at(clk.now(), 1);
    });
    std::this_thread::sleep_for(20ms);
    std::atomic<bool> returned{false};
    std::thread poller([&] {
        for (int i = 0; i < 3; ++i)
            (void)s.poll(clk.now());
        returned.store(true);
    });
    const bool ok = eventually([&] { return returned.load(); }, 10s);
    done.store(true);
    producer.join();
    poller.join();
    EXPECT_TRUE(ok) << "poll did not return while a producer kept scheduling";
}

TEST(SchedManual, TasksOfOneShardFireInDueOrder) {
    manual_clock clk;
    std::vector<int> got;
    manual_sched<int> s([&](int&& v) { got.push_back(v); }, manual_opts(clk, 1));
    for (int i = 9; i >= 0; --i)
        (void)s.schedule_after(std::chrono::milliseconds(i * 2 + 1), i);
    clk.advance(100ms);
    EXPECT_EQ(s.poll(clk.now()), 10u);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(SchedManual, RecurringAtExactGridCoalescedAfterPause) {
    manual_clock clk;
    std::vector<clock_tp> fired_at;
    clock_tp now = clk.now();
    manual_sched<int> s([&](int&&) { fired_at.push_back(now); }, manual_opts(clk, 1));
    clk.advance(3ms);  // start off the origin, on the tick grid
    const clock_tp start = clk.now();
    auto h = s.schedule_every(10ms, 7);
    ASSERT_TRUE(h);
    for (int ms = 1; ms <= 100; ++ms) {
        clk.advance(1ms);
        now = clk.now();
        (void)s.poll(now);
    }
    ASSERT_EQ(fired_at.size(), 10u);
    for (std::size_t k = 0; k < 10; ++k)
        EXPECT_EQ(fired_at[k], start + (k + 1) * 10ms) << k;
    // A pause of 35 ms: firings due at +110, +120, +130 coalesce into one at +135.
    clk.advance(35ms);
    now = clk.now();
    EXPECT_EQ(s.poll(now), 1u);
    EXPECT_EQ(fired_at.back(), start + 135ms);
    // Re-aligned to the grid: next at +140, not +145.
    clk.advance(4ms);
    now = clk.now();
    EXPECT_EQ(s.poll(now), 0u);
    clk.advance(1ms);
    now = clk.now();
    EXPECT_EQ(s.poll(now), 1u);
    EXPECT_EQ(fired_at.back(), start + 140ms);
    EXPECT_EQ(s.pending(), 1u);
    EXPECT_TRUE(s.cancel(h));
    EXPECT_FALSE(s.cancel(h));
    clk.advance(100ms);
    EXPECT_EQ(s.poll(clk.now()), 0u);
    EXPECT_EQ(s.pending(), 0u);
    EXPECT_THROW((void)s.schedule_every(0ms, 1), std::invalid_argument);
}

TEST(SchedManual, MoveOnlyRecurringThroughFactory) {
    manual_clock clk;
    int sum = 0;
    manual_sched<std::unique_ptr<int>> s([&](std::unique_ptr<int>&& p) { sum += *p; }, manual_opts(clk, 1));
    int next = 0;
    auto h = s.schedule_every(1ms, millrace::task_factory([&] { return std::make_unique<int>(++next); }));
    auto h1 = s.schedule_after(2ms, std::make_unique<int>(100));
    ASSERT_TRUE(h && h1);
    clk.advance(1ms);
    (void)s.poll(clk.now());
    clk.advance(1ms);
    (void)s.poll(clk.now());
    clk.advance(1ms);
    (void)s.poll(clk.now());
    EXPECT_EQ(sum, 1 + 2 + 3 + 100);
}

// A copyable lambda given to a recurring schedule of a move-only Task (millrace::task) is
// copied into a new task per firing; the lambda's own captured state is never shared between
// firings, and each firing's copy is a fresh one.
TEST(SchedManual, CopyableCallableRecursIntoAMoveOnlyTask) {
    manual_clock clk;
    sys_tp wall = sys_tp{} + std::chrono::hours(24 * 20000);  // a whole minute
    auto opts = manual_opts(clk, 1);
    opts.wall_clock = [&] { return wall; };
    std::vector<int> seen;
    manual_sched<millrace::task> s([](millrace::task&& t) { t(); }, opts);
    auto counter = std::make_shared<int>(0);  // copies of the lambda share this, not `calls`
    auto h = s.schedule_every(1ms, [&seen, counter, calls = 0]() mutable {
        ++*counter;
        seen.push_back(++calls);  // 1 every time: each firing runs a fresh copy
    });
    auto hc = s.schedule_cron(millrace::cron_expression::parse("* * * * *"), [&seen] { seen.push_back(-1); });
    ASSERT_TRUE(h && hc);
    for (int i = 0; i < 3; ++i) {
        clk.advance(1ms);
        (void)s.poll(clk.now());
    }
    EXPECT_EQ(seen, (std::vector<int>{1, 1, 1}));
    EXPECT_EQ(*counter, 3);
    wall += 1min;  // the cron entry re-checks the wall clock at least every second
    clk.advance(1s);
    (void)s.poll(clk.now());
    EXPECT_EQ(std::count(seen.begin(), seen.end(), -1), 1);
}

// A copyable Task given to a recurring schedule is copied per firing, the original untouched.
TEST(SchedManual, CopyableTaskValueIsCopiedPerFiring) {
    manual_clock clk;
    std::vector<std::string> got;
    manual_sched<std::string> s([&](std::string&& v) { got.push_back(std::move(v)); }, manual_opts(clk, 1));
    const std::string task = "payload";
    auto h = s.schedule_every(1ms, task);
    ASSERT_TRUE(h);
    for (int i = 0; i < 2; ++i) {
        clk.advance(1ms);
        (void)s.poll(clk.now());
    }
    EXPECT_EQ(got, (std::vector<std::string>{"payload", "payload"}));
    EXPECT_EQ(task, "payload");
}

// A stand-in for millrace::cron_expression: fires at every whole minute (the "* * * * *").
struct every_minute {
    std::optional<sys_tp> next_after(sys_tp t) const {
        return std::chrono::floor<std::chrono::minutes>(t) + std::chrono::minutes(1);
    }
};
struct never_matches {
    std::optional<sys_tp> next_after(sys_tp) const { return std::nullopt; }
};

TEST(SchedManual, CronFiresAtWallTimesAndFollowsAWallClockJump) {
    manual_clock clk;
    sys_tp wall = sys_tp{} + std::chrono::hours(24 * 20000) + 30s;  // hh:mm:30
    const sys_tp wall0 = wall;
    auto opts = manual_opts(clk, 1);
    opts.wall_clock = [&] { return wall; };
    std::vector<sys_tp> fired_wall;
    manual_sched<int> s([&](int&&) { fired_wall.push_back(wall); }, opts);
    auto step = [&](std::chrono::seconds d) {
        clk.advance(d);
        wall += d;
        return s.poll(clk.now());
    };
    ASSERT_TRUE(s.schedule_cron(every_minute{}, 1));
    EXPECT_FALSE(s.schedule_cron(never_matches{}, 2)) << "no first firing: empty handle";
    EXPECT_EQ(step(29s), 0u);
    EXPECT_EQ(step(1s), 1u);  // hh:(mm+1):00
    EXPECT_EQ(fired_wall.back(), wall0 + 30s);
    EXPECT_EQ(step(59s), 0u);
    EXPECT_EQ(step(1s), 1u);
    EXPECT_EQ(fired_wall.back(), wall0 + 90s);
    // The wall clock jumps 4.5 minutes ahead, past the pending wall time (wall0 + 150 s): the
    // jumped-over firing comes within the 1 s re-check, the next one on its wall minute.
    wall += 270s;
    EXPECT_EQ(step(1s), 1u);
    EXPECT_EQ(step(28s), 0u);
    EXPECT_EQ(step(1s), 1u);
    EXPECT_EQ(fired_wall.back(), wall0 + 90s + 270s + 30s);  // on the minute of the new wall time
    EXPECT_EQ(step(59s), 0u);
    EXPECT_EQ(step(1s), 1u);
    EXPECT_EQ(std::chrono::floor<std::chrono::minutes>(fired_wall.back()), fired_wall.back())
        << "on the minute";
}

// Hourly cron fires 10:00; at 10:30 the wall clock is set back to 09:30: the next firing is
// 11:00 wall time (no second 10:00, no lost 11:00).
TEST(SchedManual, CronAfterABackwardWallJumpNeitherRepeatsNorSkips) {
    manual_clock clk;
    const sys_tp day = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1};
    sys_tp wall = day + 9h + 59min;
    auto opts = manual_opts(clk, 1);
    opts.wall_clock = [&] { return wall; };
    std::vector<sys_tp> fired_wall;
    manual_sched<int> s([&](int&&) { fired_wall.push_back(wall); }, opts);
    ASSERT_TRUE(s.schedule_cron(millrace::cron_expression::parse("0 * * * *"), 1));
    auto run_for = [&](std::chrono::seconds d) {
        for (auto t = 0s; t < d; t += 1s) {
            clk.advance(1s);
            wall += 1s;
            (void)s.poll(clk.now());
        }
    };
    run_for(31min);   // 10:30
    wall -= 1h;       // 09:30
    run_for(150min);  // to 12:00
    EXPECT_EQ(fired_wall, (std::vector<sys_tp>{day + 10h, day + 11h, day + 12h}));
}

TEST(SchedManual, CronAfterASlowSinkIsNotEarly) {
    manual_clock clk;
    sys_tp wall = sys_tp{} + std::chrono::hours(24 * 20000) + 30s;  // hh:mm:30
    auto opts = manual_opts(clk, 1);
    opts.wall_clock = [&] { return wall; };
    std::vector<sys_tp> fired_wall;
    manual_sched<int> s(
        [&](int&&) {
            fired_wall.push_back(wall);
            if (fired_wall.size() == 1) {  // this sink takes 20 s
                clk.advance(20s);
                wall += 20s;
            }
        },
        opts);
    ASSERT_TRUE(s.schedule_cron(every_minute{}, 1));
    for (int sec = 0; sec < 200; ++sec) {
        clk.advance(1s);
        wall += 1s;
        (void)s.poll(clk.now());
    }
    ASSERT_GE(fired_wall.size(), 3u);
    for (auto w : fired_wall)
        EXPECT_EQ(std::chrono::floor<std::chrono::minutes>(w), w) << "on the minute";
}

TEST(SchedManual, RealCronExpressionFiresAtItsWallTimes) {
    manual_clock clk;
    // 2026-03-01 10:02:17 UTC
    sys_tp wall = std::chrono::sys_days{std::chrono::year{2026} / 3 / 1} + 10h + 2min + 17s;
    auto opts = manual_opts(clk, 1);
    opts.wall_clock = [&] { return wall; };
    std::vector<sys_tp> fired_wall;
    manual_sched<int> s([&](int&&) { fired_wall.push_back(wall); }, opts);
    const auto expr = millrace::cron_expression::parse("*/5 * * * *");
    ASSERT_TRUE(s.schedule_cron(expr, 1));
    EXPECT_FALSE(s.schedule_cron(millrace::cron_expression::parse("0 0 30 2 *"), 2))
        << "30 February never comes";
    for (int sec = 0; sec < 31 * 60; ++sec) {
        clk.advance(1s);
        wall += 1s;
        (void)s.poll(clk.now());
    }
    // 10:05, 10:10, ..., 10:30: six firings, each exactly on its wall minute.
    ASSERT_EQ(fired_wall.size(), 6u);
    for (std::size_t i = 0; i < fired_wall.size(); ++i)
        EXPECT_EQ(fired_wall[i], std::chrono::sys_days{std::chrono::year{2026} / 3 / 1} + 10h +
                                     std::chrono::minutes(5 * (i + 1)));
}

// Cancels from other threads race with firing: every task fires or is cancelled, never both,
// never neither.
TEST(SchedManual, CancelsRacingWithFiringAreFireXorCancelled) {
    manual_clock clk;
    const std::size_t n = millrace::test::scaled(200'000, 20'000);
    std::vector<std::atomic<std::uint8_t>> fired(n);
    std::atomic<bool> firing{false};
    manual_sched<std::uint32_t> s(
        [&](std::uint32_t&& id) {
            fired[id].fetch_add(1, std::memory_order_relaxed);
            firing.store(true, std::memory_order_relaxed);
            if (id % 512 == 0) std::this_thread::yield();  // let the cancellers in
        },
        manual_opts(clk, 2));
    std::mt19937_64 rng(3);
    std::vector<schedule_handle> handles(n);
    // Due on a few ticks (1..4 ms), all armed by a first poll, so that cancels meet firings.
    for (std::size_t i = 0; i < n; ++i)
        handles[i] =
            s.schedule_after(std::chrono::microseconds(1000 + rng() % 4000), static_cast<std::uint32_t>(i));
    (void)s.poll(clk.now());
    std::vector<std::uint8_t> cancelled(n, 0);
    // The even tasks, in random order, so that cancels late in the run meet fired tasks.
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < n; i += 2)
        order.push_back(i);
    std::shuffle(order.begin(), order.end(), rng);
    constexpr int cancellers = 3;
    std::vector<std::thread> threads;
    // The cancellers start when the first task fires, so they race the firing passes.
    for (int t = 0; t < cancellers; ++t)
        threads.emplace_back([&, t] {
            while (!firing.load())
                std::this_thread::yield();
            for (std::size_t k = static_cast<std::size_t>(t); k < order.size(); k += cancellers)
                cancelled[order[k]] = s.cancel(handles[order[k]]) ? 1 : 0;
        });
    for (int us = 0; us < 6000; us += 100) {
        clk.advance(100us);
        (void)s.poll(clk.now());
    }
    for (auto& t : threads)
        t.join();
    clk.advance(100ms);
    (void)s.poll(clk.now());
    std::size_t both = 0, neither = 0, raced = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto f = fired[i].load();
        ASSERT_LE(f, 1u);
        if (f && cancelled[i]) ++both;
        if (!f && !cancelled[i]) ++neither;
        if (i % 2 == 0 && !cancelled[i]) ++raced;
    }
    EXPECT_EQ(both, 0u);
    EXPECT_EQ(neither, 0u);
    EXPECT_EQ(s.pending(), 0u);
    std::printf("cancels that lost the race to firing: %zu of %zu\n", raced, n / 2);
    EXPECT_GT(raced, 0u) << "no cancel met a firing: the test did not race";
    EXPECT_LT(raced, n / 2) << "no cancel won: the test did not race";
}

TEST(SchedManual, RecurringCancelledWhileFiringNeverFiresAgain) {
    manual_clock clk;
    std::atomic<int> count{0};
    std::atomic<bool> inside{false}, release{false};
    manual_sched<int> s(
        [&](int&&) {
            count.fetch_add(1);
            inside.store(true);
            while (!release.load())
                std::this_thread::yield();
        },
        manual_opts(clk, 1));
    auto h = s.schedule_every(1ms, 1);
    std::thread poller([&] {
        clk.advance(1ms);
        (void)s.poll(clk.now());
    });
    while (!inside.load())
        std::this_thread::yield();
    EXPECT_TRUE(s.cancel(h)) << "a recurring task can be cancelled while it fires";
    release.store(true);
    poller.join();
    for (int i = 0; i < 5; ++i) {
        clk.advance(1ms);
        (void)s.poll(clk.now());
    }
    EXPECT_EQ(count.load(), 1);
    EXPECT_EQ(s.pending(), 0u);
}

// ---------------------------------------------------------------------------------------
// The wake-up rule, counted through stats().wakeups.
TEST(SchedWake, SchedulingBehindTheNextExpiryCostsNoWakeup) {
    manual_clock clk;
    auto opts = manual_opts(clk, 1);
    opts.wake_batch = 1u << 30;
    manual_sched<int> s([](int&&) {}, opts);
    (void)s.schedule_after(100ms, 0);  // empty wheel: wakes
    const auto w0 = s.stats().wakeups;
    EXPECT_EQ(w0, 1u);
    (void)s.poll(clk.now());  // the shard now sleeps until +100 ms
    for (int i = 0; i < 1000; ++i)
        (void)s.schedule_after(std::chrono::milliseconds(100 + i), i);
    EXPECT_EQ(s.stats().wakeups, w0) << "tasks behind the next expiry must not wake the shard";
    (void)s.schedule_after(50ms, -1);
    EXPECT_EQ(s.stats().wakeups, w0 + 1) << "an earlier task wakes it";
    (void)s.schedule_after(40ms, -2);  // already woken: one signal per sleep
    EXPECT_EQ(s.stats().wakeups, w0 + 1);
    (void)s.poll(clk.now());  // now sleeping until +40 ms
    (void)s.schedule_after(70ms, -3);
    EXPECT_EQ(s.stats().wakeups, w0 + 1);
    (void)s.schedule_after(30ms, -4);
    EXPECT_EQ(s.stats().wakeups, w0 + 2);
}

TEST(SchedWake, BatchRuleBoundsASleepingShardsInbox) {
    manual_clock clk;
    auto opts = manual_opts(clk, 1);
    opts.wake_batch = 100;
    manual_sched<int> s([](int&&) {}, opts);
    (void)s.schedule_after(1h, 0);
    (void)s.poll(clk.now());
    const auto w0 = s.stats().wakeups;
    for (int round = 0; round < 10; ++round) {
        for (int i = 0; i < 100; ++i)
            (void)s.schedule_after(2h, i);
        (void)s.poll(clk.now());  // the shard wakes, moves them, sleeps again
    }
    EXPECT_EQ(s.stats().wakeups - w0, 10u) << "one wake-up per wake_batch calls";
}

TEST(SchedWake, ThreadedShardSleepsUntilWokenByAnEarlierTask) {
    manual_clock clk;
    auto opts = manual_opts(clk, 1);
    opts.manual = false;
    opts.wake_batch = 1u << 30;
    std::atomic<int> fired{0};
    manual_sched<int> s([&](int&&) { fired.fetch_add(1); }, opts);
    (void)s.schedule_after(100ms, 0);
    ASSERT_TRUE(eventually([&] { return s.stats().moved == 1 && clk.waiters() == 1; }));
    const auto w0 = s.stats().wakeups;
    for (int i = 0; i < 100; ++i)
        (void)s.schedule_after(200ms, i);
    EXPECT_EQ(s.stats().wakeups, w0);
    EXPECT_EQ(s.stats().moved, 1u) << "nobody woke the shard";
    (void)s.schedule_after(10ms, 1);
    EXPECT_EQ(s.stats().wakeups, w0 + 1);
    ASSERT_TRUE(eventually([&] { return s.stats().moved == 102 && clk.waiters() == 1; }));
    EXPECT_EQ(fired.load(), 0);
    clk.advance(10ms);
    ASSERT_TRUE(eventually([&] { return fired.load() == 1; }));
    clk.advance(90ms);
    ASSERT_TRUE(eventually([&] { return fired.load() == 2; }));
    clk.advance(100ms);
    ASSERT_TRUE(eventually([&] { return fired.load() == 102; }));
    EXPECT_EQ(s.pending(), 0u);
}

// Cancelled tasks release their memory at the documented bound, not when their slot comes round.
TEST(SchedWake, CancelBacklogWakesShardAtThreshold) {
    manual_clock clk;
    auto opts = manual_opts(clk, 1);
    opts.manual = false;
    opts.wake_batch = 1;  // every schedule wakes a sleeping shard: all tasks reach the wheel
    opts.cancel_reclaim_threshold = 64;
    manual_sched<int> s([](int&&) {}, opts);
    std::vector<schedule_handle> hs;
    for (int i = 0; i < 1000; ++i)
        hs.push_back(s.schedule_after(1h, i));
    ASSERT_TRUE(eventually([&] { return s.stats().moved == 1000 && clk.waiters() == 1; }));
    const auto w0 = s.stats().wakeups;
    for (int i = 0; i < 63; ++i)
        ASSERT_TRUE(s.cancel(hs[static_cast<std::size_t>(i)]));
    EXPECT_EQ(s.stats().wakeups, w0) << "below the threshold a cancel costs no wake-up";
    EXPECT_EQ(s.stats().reclaimed, 0u);
    ASSERT_TRUE(s.cancel(hs[63]));
    EXPECT_EQ(s.stats().wakeups, w0 + 1);
    ASSERT_TRUE(eventually([&] { return s.stats().reclaimed == 64; }))
        << "memory recycled without time passing";
    EXPECT_EQ(s.pending(), 936u);
}

// A task whose destructor is slow: cancels keep landing while the shard walks its cancel
// list. The bound must hold for every burst, not only the first.
struct slow_dtor {
    bool live = true;
    explicit slow_dtor(int) {}
    slow_dtor(slow_dtor&& o) noexcept : live(o.live) { o.live = false; }
    ~slow_dtor() {
        if (live) std::this_thread::sleep_for(100us);
    }
};

TEST(SchedWake, CancelBoundHoldsAfterEveryBurst) {
    manual_clock clk;
    auto opts = manual_opts(clk, 1);
    opts.manual = false;
    opts.wake_batch = 1;
    opts.cancel_reclaim_threshold = 64;
    millrace::sharded_scheduler<slow_dtor, manual_clock> s([](slow_dtor&&) {}, opts);
    std::vector<schedule_handle> hs;
    for (int i = 0; i < 2000; ++i)
        hs.push_back(s.schedule_after(1h, slow_dtor(i)));
    ASSERT_TRUE(eventually([&] { return s.stats().moved == 2000 && clk.waiters() == 1; }));
    for (int i = 0; i < 300; ++i)
        ASSERT_TRUE(s.cancel(hs[static_cast<std::size_t>(i)]));
    for (int i = 300; i < 1500; ++i) {
        ASSERT_TRUE(s.cancel(hs[static_cast<std::size_t>(i)]));
        std::this_thread::sleep_for(20us);
    }
    // Every cancel past the threshold wakes a sleeping shard: at most threshold - 1 wait.
    EXPECT_TRUE(eventually([&] { return s.stats().reclaimed + 64 > 1500; }, 5s))
        << "cancelled 1500, reclaimed " << s.stats().reclaimed;
}

// ---------------------------------------------------------------------------------------
struct counted {
    static inline std::atomic<int> live{0};
    int v = 0;
    counted(int x) : v(x) { live.fetch_add(1); }
    counted(const counted& o) : v(o.v) { live.fetch_add(1); }
    counted(counted&& o) noexcept : v(o.v) { live.fetch_add(1); }
    ~counted() { live.fetch_sub(1); }
};

// Out of memory in a shard pass, at every allocation of it in turn: no task is lost or fired
// twice, a recurring schedule either goes on or ends (reported), nothing leaks (ASan
// checks the firing list never holds stale pointers).
TEST(SchedManual, OutOfMemoryInAPassLosesNothing) {
    int injected = 0;
    for (long nth = 0; nth < 60; ++nth) {
        manual_clock clk;
        auto opts = manual_opts(clk, 1);
        opts.initial_capacity = 4;  // the wheel and the firing list must grow in the pass
        std::size_t errors = 0;
        opts.on_error = [&](std::exception_ptr) { ++errors; };
        std::vector<int> hits(200, 0);
        int ticks = 0;
        {
            manual_sched<counted> s(
                [&](counted&& c) {
                    if (c.v < 0)
                        ++ticks;
                    else
                        ++hits[static_cast<std::size_t>(c.v)];
                },
                opts);
            for (int i = 0; i < 200; ++i)
                (void)s.schedule_after(std::chrono::milliseconds(i % 7), counted(i));
            for (int i = 0; i < 10; ++i)
                (void)s.schedule_every(1ms, counted(-1));
            clk.advance(3ms);
            g_fail_countdown.store(nth);
            try {
                (void)s.poll(clk.now());
            } catch (const std::bad_alloc&) {
                ++errors;
            }
            if (g_fail_countdown.exchange(-1) == -1) ++injected;
            for (int i = 0; i < 10; ++i) {
                clk.advance(1ms);
                (void)s.poll(clk.now());
            }
            for (int i = 0; i < 200; ++i)
                ASSERT_EQ(hits[static_cast<std::size_t>(i)], 1) << "task " << i << ", nth " << nth;
            EXPECT_GT(ticks, 0);
        }
        EXPECT_EQ(counted::live.load(), 0) << "nth " << nth;
    }
    EXPECT_GE(injected, 2) << "the pass must allocate: failures were injected";
    std::printf("allocation failures injected in a pass: %d\n", injected);
}

TEST(SchedLifecycle, StopDestroysPendingTasksAndLaterCallsReturnEmpty) {
    manual_clock clk;
    {
        auto opts = manual_opts(clk, 2);
        opts.manual = false;
        manual_sched<counted> s([](counted&&) {}, opts);
        std::vector<schedule_handle> hs;
        for (int i = 0; i < 1000; ++i)
            hs.push_back(s.schedule_after(std::chrono::milliseconds(i % 50 + 1), counted(i)));
        (void)s.schedule_every(1ms, counted(5));
        for (int i = 0; i < 1000; i += 3)
            (void)s.cancel(hs[static_cast<std::size_t>(i)]);
        clk.advance(20ms);
        s.stop();
        EXPECT_EQ(counted::live.load(), 0) << "pending tasks destroyed at stop";
        EXPECT_FALSE(s.schedule_after(1ms, counted(1)));
        EXPECT_FALSE(s.schedule_every(1ms, counted(1)));
        EXPECT_EQ(counted::live.load(), 0) << "a task scheduled after stop is destroyed";
        for (auto& h : hs)
            EXPECT_FALSE(s.cancel(h));
        s.stop();  // idempotent
    }
    {
        manual_sched<counted> s([](counted&&) {}, manual_opts(clk, 2));
        for (int i = 0; i < 100; ++i)
            (void)s.schedule_after(1ms, counted(i));
        (void)s.schedule_every(1ms, counted(5));
    }  // the destructor stops
    EXPECT_EQ(counted::live.load(), 0);
    manual_sched<counted> s([](counted&&) {}, manual_opts(clk, 2));
    s.stop();
    EXPECT_EQ(s.poll(clk.now()), 0u);
}

// stop_and_take hands over exactly the one-shot tasks that are pending (queued or armed,
// not fired, not cancelled), each once with its due time, in both modes; recurring and
// cancelled ones are destroyed; a second stop hands over nothing; a throwing callback is
// reported and the rest are still handed over; from a sink it throws.
TEST(SchedLifecycle, StopAndTakeHandsOverEveryPendingOneShotOnce) {
    for (const bool manual : {true, false}) {
        manual_clock clk;
        auto opts = manual_opts(clk, 3);
        opts.manual = manual;
        std::vector<int> fired_ids;
        std::mutex m;
        int errors = 0;
        opts.on_error = [&](std::exception_ptr) { ++errors; };
        {
            manual_sched<counted> s(
                [&](counted&& c) {
                    std::lock_guard lk(m);
                    fired_ids.push_back(c.v);
                },
                opts);
            std::vector<schedule_handle> hs;
            for (int i = 0; i < 300; ++i)
                hs.push_back(s.schedule_after(std::chrono::milliseconds(i % 30 + 1), counted(i)));
            (void)s.schedule_every(1ms, counted(-1));
            for (int i = 0; i < 300; i += 7)
                ASSERT_TRUE(s.cancel(hs[static_cast<std::size_t>(i)]));
            clk.advance(10ms);
            if (manual)
                (void)s.poll(clk.now());
            else
                ASSERT_TRUE(eventually([&] {
                    std::lock_guard lk(m);
                    return std::count_if(fired_ids.begin(), fired_ids.end(), [](int v) { return v >= 0; }) >=
                           86;  // all due
                }));
            std::vector<int> taken;
            const std::size_t n = s.stop_and_take([&](counted&& c, clock_tp due) {
                EXPECT_GT(due, clk.now()) << "only tasks not yet due are pending here";
                taken.push_back(c.v);
                if (c.v == 299) throw std::runtime_error("callback");
            });
            EXPECT_EQ(n, taken.size());
            EXPECT_EQ(errors, 1) << "the throwing callback is reported";
            std::vector<int> expect;
            for (int i = 0; i < 300; ++i)
                if (i % 7 != 0 && i % 30 + 1 > 10) expect.push_back(i);
            std::sort(taken.begin(), taken.end());
            EXPECT_EQ(taken, expect);
            {
                std::lock_guard lk(m);
                for (int v : fired_ids)
                    EXPECT_TRUE(v == -1 || v % 30 + 1 <= 10) << v;
                std::ptrdiff_t due_by_now = 0;  // fired exactly once each: not cancelled, due <= 10 ms
                for (int i = 0; i < 300; ++i)
                    due_by_now += (i % 7 != 0 && i % 30 + 1 <= 10) ? 1 : 0;
                EXPECT_EQ(std::count_if(fired_ids.begin(), fired_ids.end(), [](int v) { return v >= 0; }),
                          due_by_now);
            }
            EXPECT_EQ(counted::live.load(), 0) << "nothing pending is left alive";
            EXPECT_EQ(s.stop_and_take([](counted&&) {}), 0u) << "a second stop has nothing to hand over";
            EXPECT_FALSE(s.schedule_after(1ms, counted(1)));
        }
        EXPECT_EQ(counted::live.load(), 0);
    }
    // From a sink: std::logic_error, reported through on_error, and the scheduler goes on.
    manual_clock clk;
    auto opts = manual_opts(clk, 1);
    int errors = 0;
    opts.on_error = [&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::logic_error&) {
            ++errors;
        }
    };
    millrace::sharded_scheduler<counted, manual_clock>* self = nullptr;
    millrace::sharded_scheduler<counted, manual_clock> s(
        [&](counted&&) { (void)self->stop_and_take([](counted&&) {}); }, opts);
    self = &s;
    (void)s.schedule_after(1ms, counted(1));
    clk.advance(1ms);
    EXPECT_EQ(s.poll(clk.now()), 1u);
    EXPECT_EQ(errors, 1);
}

// stop() from a sink: threaded, the shard thread must not join itself; manual, the cleanup
// must wait for the end of poll.
TEST(SchedLifecycle, StopFromASink) {
    manual_clock clk;
    {
        auto opts = manual_opts(clk, 2);
        opts.manual = false;
        std::atomic<bool> stopped{false};
        millrace::sharded_scheduler<counted, manual_clock>* self = nullptr;
        std::atomic<bool> ready{false};
        {
            millrace::sharded_scheduler<counted, manual_clock> s(
                [&](counted&&) {
                    while (!ready.load())
                        std::this_thread::yield();
                    self->stop();
                    stopped.store(true);
                },
                opts);
            self = &s;
            ready.store(true);
            for (int i = 0; i < 100; ++i)
                (void)s.schedule_after(0ms, counted(i));
            for (int i = 0; i < 100; ++i)
                (void)s.schedule_after(1h, counted(i));
            ASSERT_TRUE(eventually([&] { return stopped.load(); }));
            EXPECT_FALSE(s.schedule_after(0ms, counted(1)));
        }  // the destructor joins and cleans up
        EXPECT_EQ(counted::live.load(), 0);
    }
    {
        int calls = 0;
        millrace::sharded_scheduler<counted, manual_clock>* self = nullptr;
        millrace::sharded_scheduler<counted, manual_clock> s(
            [&](counted&&) {
                ++calls;
                self->stop();
            },
            manual_opts(clk, 2));
        self = &s;
        for (int i = 0; i < 100; ++i)
            (void)s.schedule_after(0ms, counted(i));
        (void)s.schedule_every(1ms, counted(5));
        clk.advance(1ms);
        EXPECT_EQ(s.poll(clk.now()), 1u) << "no task fires after stop()";
        EXPECT_EQ(calls, 1);
        EXPECT_EQ(counted::live.load(), 0) << "poll cleaned up at its end";
        EXPECT_EQ(s.poll(clk.now()), 0u);
    }
    EXPECT_EQ(counted::live.load(), 0);
}

// Producers on other threads race stop(): no crash, every task fires or is destroyed, none
// leaks (ASan/TSan check the rest).
TEST(SchedLifecycle, ProducersRacingStop) {
    manual_clock clk;
    for (int round = 0; round < 5; ++round) {
        auto opts = manual_opts(clk, 2);
        opts.manual = false;
        {
            millrace::sharded_scheduler<counted, manual_clock> s([](counted&&) {}, opts);
            std::atomic<int> started{0};
            std::vector<std::thread> producers;
            for (int t = 0; t < 3; ++t)
                producers.emplace_back([&, t] {
                    started.fetch_add(1);
                    for (int i = 0;; ++i) {
                        const auto h = (i + t) % 2 ? s.schedule_after(0ms, counted(i))
                                                   : s.schedule_after(1h, counted(i));
                        if (!h) break;  // stopped
                        if (i % 3 == 0) (void)s.cancel(h);
                        if (i % 64 == 0) (void)s.schedule_every(1ms, counted(i));
                    }
                });
            while (started.load() < 3)
                std::this_thread::yield();
            std::this_thread::sleep_for(std::chrono::milliseconds(2 + round));
            clk.advance(1ms);
            s.stop();
            for (auto& p : producers)
                p.join();
        }
        ASSERT_EQ(counted::live.load(), 0) << "round " << round;
    }
}

// A producer hammers a shard that keeps falling asleep, with tasks due now under a clock that
// never moves: a lost wake-up leaves a task unfired (bounded by a time-out, not a hang).
TEST(SchedWake, DueNowTasksAlwaysWakeAFallingAsleepShard) {
    manual_clock clk;
    auto opts = manual_opts(clk, 1);
    opts.manual = false;
    opts.wake_batch = 1'000'000;  // only the due-time rule wakes the shard
    std::atomic<std::size_t> fired{0};
    manual_sched<int> s([&](int&&) { fired.fetch_add(1, std::memory_order_relaxed); }, opts);
    const std::size_t n = millrace::test::scaled(20'000, 2'000);
    for (std::size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(s.schedule_at(clk.now(), 1));
        if (i % 4 == 0) {
            const std::size_t want = i + 1;
            ASSERT_TRUE(eventually([&] { return fired.load() >= want; }, 5s)) << "lost wake-up at task " << i;
        }
    }
    ASSERT_TRUE(eventually([&] { return fired.load() == n; }, 5s)) << "lost wake-up at the end";
}

// Recurring schedules cancelled on one thread while their shard re-arms them on another:
// after cancel() returned true at most the firing in progress completes.
TEST(SchedWake, RecurringCancelsRacingTheReArm) {
    manual_clock clk;
    auto opts = manual_opts(clk, 2);
    opts.manual = false;
    constexpr std::size_t n = 200;
    std::vector<std::atomic<int>> count(n);
    manual_sched<std::uint32_t> s(
        [&](std::uint32_t&& id) { count[id].fetch_add(1, std::memory_order_relaxed); }, opts);
    std::vector<schedule_handle> hs;
    for (std::size_t i = 0; i < n; ++i)
        hs.push_back(s.schedule_every(1ms, static_cast<std::uint32_t>(i)));
    std::atomic<bool> done{false};
    std::thread driver([&] {
        while (!done.load()) {
            clk.advance(1ms);
            std::this_thread::sleep_for(50us);
        }
    });
    std::this_thread::sleep_for(5ms);
    std::vector<int> at_cancel(n);
    for (std::size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(s.cancel(hs[i]));
        at_cancel[i] = count[i].load();
    }
    std::this_thread::sleep_for(20ms);
    done.store(true);
    driver.join();
    for (std::size_t i = 0; i < n; ++i)
        EXPECT_LE(count[i].load(), at_cancel[i] + 1) << "fired after its cancel, " << i;
    EXPECT_TRUE(eventually([&] { return s.pending() == 0; }));
    for (std::size_t i = 0; i < n; ++i)
        EXPECT_FALSE(s.cancel(hs[i]));
}

TEST(SchedLifecycle, ThrowingSinkIsReportedAndTheShardGoesOn) {
    manual_clock clk;
    auto opts = manual_opts(clk, 1);
    std::vector<std::string> errors;
    opts.on_error = [&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            errors.push_back(x.what());
        }
    };
    int ok = 0;
    manual_sched<int> s(
        [&](int&& v) {
            if (v % 2) throw std::runtime_error("odd " + std::to_string(v));
            ++ok;
        },
        opts);
    for (int i = 0; i < 10; ++i)
        (void)s.schedule_after(1ms, i);
    (void)s.schedule_every(1ms, 3);
    clk.advance(1ms);
    EXPECT_EQ(s.poll(clk.now()), 11u);
    EXPECT_EQ(ok, 5);
    EXPECT_EQ(errors.size(), 6u);
    clk.advance(1ms);
    EXPECT_EQ(s.poll(clk.now()), 1u) << "the recurring task goes on after its sink threw";
}

// Counters say what happened: a cron schedule that runs out of matches is
// not a reclaimed cancel; a factory that threw is no firing; a task cancelled in the inbox
// was never moved.
struct two_minutes_only {
    sys_tp first;
    std::optional<sys_tp> next_after(sys_tp t) const {
        for (auto w : {first + 1min, first + 2min})
            if (w > t) return w;
        return std::nullopt;
    }
};

TEST(SchedLifecycle, CountersSayWhatHappened) {
    manual_clock clk;
    sys_tp wall = sys_tp{} + std::chrono::hours(24 * 20000);
    auto opts = manual_opts(clk, 1);
    opts.wall_clock = [&] { return wall; };
    int errors = 0;
    opts.on_error = [&](std::exception_ptr) { ++errors; };
    int fired = 0;
    manual_sched<int> s([&](int&&) { ++fired; }, opts);
    ASSERT_TRUE(s.schedule_cron(two_minutes_only{wall}, 1));
    for (int i = 0; i < 200; ++i) {
        clk.advance(1s);
        wall += 1s;
        (void)s.poll(clk.now());
    }
    EXPECT_EQ(fired, 2);
    EXPECT_EQ(s.pending(), 0u);
    EXPECT_EQ(s.stats().reclaimed, 0u) << "no cancel: nothing counts as reclaimed";
    EXPECT_EQ(s.stats().fired, 2u);

    ASSERT_TRUE(
        s.schedule_every(1ms, millrace::task_factory([]() -> int { throw std::runtime_error("factory"); })));
    clk.advance(1ms);
    EXPECT_EQ(s.poll(clk.now()), 0u) << "a factory that threw is no firing";
    EXPECT_EQ(s.stats().fired, 2u);
    EXPECT_EQ(errors, 1);

    const auto moved0 = s.stats().moved;
    std::vector<schedule_handle> hs;
    for (int i = 0; i < 10; ++i)
        hs.push_back(s.schedule_after(1h, i));
    for (int i = 0; i < 10; i += 2)
        ASSERT_TRUE(s.cancel(hs[static_cast<std::size_t>(i)]));
    (void)s.poll(clk.now());
    EXPECT_EQ(s.stats().moved - moved0, 5u) << "tasks cancelled in the inbox were never moved";
}

TEST(SchedLifecycle, BadOptionsAndMisuseThrow) {
    manual_clock clk;
    auto bad = manual_opts(clk);
    bad.tick = 0ms;
    EXPECT_THROW(manual_sched<int>([](int&&) {}, bad), std::invalid_argument);
    bad = manual_opts(clk);
    bad.initial_capacity = 0;
    EXPECT_THROW(manual_sched<int>([](int&&) {}, bad), std::invalid_argument);
    bad = manual_opts(clk);
    bad.cancel_reclaim_threshold = 0;
    EXPECT_THROW(manual_sched<int>([](int&&) {}, bad), std::invalid_argument);
    bad = manual_opts(clk);
    bad.wake_batch = 0;
    EXPECT_THROW(manual_sched<int>([](int&&) {}, bad), std::invalid_argument);
    auto threaded = manual_opts(clk, 1);
    threaded.manual = false;
    manual_sched<int> s([](int&&) {}, threaded);
    EXPECT_THROW((void)s.poll(clk.now()), std::logic_error);
    millrace::sharded_scheduler<int> dflt([](int&&) {});
    EXPECT_GE(dflt.shard_count(), 1u);
}

// The accessors report the options the scheduler runs with.
TEST(SchedLifecycle, AccessorsReportTheOptions) {
    manual_clock clk;
    auto opts = manual_opts(clk, 3);
    opts.tick = 5ms;
    manual_sched<int> s([](int&&) {}, opts);
    EXPECT_EQ(s.shard_count(), 3u);
    EXPECT_EQ(s.tick(), 5ms);
    EXPECT_TRUE(s.manual());
    clk.advance(42ms);
    EXPECT_EQ(s.clock().now(), clk.now()) << "a manual_clock copy shares the caller's time";
    opts.manual = false;
    manual_sched<int> threaded([](int&&) {}, opts);
    EXPECT_FALSE(threaded.manual());
}

TEST(SchedLifecycle, OneThreadsTasksStayInOneShardAndSlabsGrow) {
    manual_clock clk;
    auto opts = manual_opts(clk, 4);
    opts.initial_capacity = 8;
    manual_sched<int> s([](int&&) {}, opts);
    const auto cap0 = s.stats().capacity;
    EXPECT_EQ(cap0, 32u);
    std::vector<schedule_handle> hs;
    for (int i = 0; i < 500; ++i)
        hs.push_back(s.schedule_after(1ms, i));
    for (auto& h : hs)
        EXPECT_EQ(h.shard, hs[0].shard);
    // Threads get consecutive indices at their first call, whatever ran before: four new
    // threads started one after another use four different shards.
    std::vector<std::uint32_t> others;
    for (int t = 0; t < 4; ++t)
        std::thread([&] {
            const auto a = s.schedule_after(1ms, 0).shard;
            EXPECT_EQ(s.schedule_after(1ms, 0).shard, a) << "one thread, one shard";
            others.push_back(a);
        }).join();
    std::sort(others.begin(), others.end());
    EXPECT_EQ(std::unique(others.begin(), others.end()), others.end()) << "four threads, four shards";
    EXPECT_GE(s.stats().capacity, cap0 + 500 - 8);
    clk.advance(1ms);
    EXPECT_EQ(s.poll(clk.now()), 508u);
}

}  // namespace
