// Functional tests of millrace::timing_wheel: exactness at every level boundary, the
// far-timer heap, ids and generations, reschedule, callbacks that change the wheel,
// exceptions, clear(), next_expiry() and tick arithmetic near UINT64_MAX. The typed tests
// run over several wheel shapes, including one without a far heap (16 x 16 = 64 bits).
#include "millrace/time/timing_wheel.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

using millrace::timer_id;
using millrace::timing_wheel;
using millrace::wheel_config;
constexpr std::uint64_t max_tick = std::numeric_limits<std::uint64_t>::max();

// Records (now() at firing, value) for each fired timer.
template <class W>
struct recorder {
    W* wheel;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> fired;
    void operator()(std::uint64_t&& v) { fired.emplace_back(wheel->now(), v); }
};

template <class Config>
class WheelShapes : public ::testing::Test {
public:
    using wheel = timing_wheel<std::uint64_t, Config>;
};
using shapes = ::testing::Types<wheel_config<>, wheel_config<3, 4>, wheel_config<2, 2>, wheel_config<16, 16>,
                                wheel_config<1, 64>>;
TYPED_TEST_SUITE(WheelShapes, shapes);

// Every tick that begins a slot at some level, and its neighbours, for the wheel's shape,
// plus far-heap boundaries and the top of the tick range.
template <class W>
std::vector<std::uint64_t> boundary_ticks() {
    std::vector<std::uint64_t> v;
    for (unsigned b = 0; b < 64; b += W::slot_bits) {
        const std::uint64_t p = std::uint64_t{1} << b;
        for (std::uint64_t m : {std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{W::slots - 1}}) {
            const std::uint64_t x = p * m;
            if (x / m != p) continue;
            v.push_back(x - 1);
            v.push_back(x);
            v.push_back(x + 1);
        }
    }
    v.push_back(max_tick - 1);
    v.push_back(max_tick);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

TYPED_TEST(WheelShapes, FiresExactlyAtEveryLevelBoundary) {
    using W = typename TestFixture::wheel;
    const auto ticks = boundary_ticks<W>();
    for (std::uint64_t start :
         {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{37}, std::uint64_t{1000003}}) {
        for (std::uint64_t e : ticks) {
            if (e <= start) continue;
            W w(start);
            const timer_id id = w.insert(e, e);
            std::size_t fired = w.advance(e - 1, [](std::uint64_t&&) {});
            ASSERT_EQ(fired, 0u) << "fired early: start " << start << " expiry " << e;
            ASSERT_TRUE(w.pending(id));
            std::uint64_t got = 0;
            fired = w.advance(e, [&](std::uint64_t&& v) {
                got = v;
                EXPECT_EQ(w.now(), e);
            });
            ASSERT_EQ(fired, 1u) << "not fired on time: start " << start << " expiry " << e;
            ASSERT_EQ(got, e);
            ASSERT_EQ(w.size(), 0u);
            ASSERT_FALSE(w.pending(id));
        }
    }
}

TYPED_TEST(WheelShapes, AllBoundariesTogetherFireInOrderTickByTickAndByJumps) {
    using W = typename TestFixture::wheel;
    const auto ticks = boundary_ticks<W>();
    // One wheel holding every boundary timer, advanced to each boundary in turn, then a
    // wheel advanced in one jump: both must fire every timer, in order, on its own tick.
    W w;
    for (std::uint64_t e : ticks)
        (void)w.insert(e, e);
    recorder<W> rec{&w, {}};
    for (std::size_t i = 0; i < ticks.size(); ++i) {
        const std::uint64_t e = ticks[i];
        if (e > 0) w.advance(e - 1, rec);
        ASSERT_EQ(rec.fired.size(), i) << "expiry " << e << " fired early";
        w.advance(e, rec);
        ASSERT_EQ(rec.fired.size(), i + 1) << "expiry " << e << " not fired on time";
        ASSERT_EQ(rec.fired.back().second, e);
        ASSERT_EQ(rec.fired.back().first, e);
    }
    EXPECT_EQ(rec.fired.size(), ticks.size());

    W j;
    for (auto it = ticks.rbegin(); it != ticks.rend(); ++it)
        (void)j.insert(*it, *it);
    recorder<W> all{&j, {}};
    EXPECT_EQ(j.advance(max_tick, all), ticks.size());
    ASSERT_EQ(all.fired.size(), ticks.size());
    for (std::size_t i = 0; i < ticks.size(); ++i) {
        EXPECT_EQ(all.fired[i].second, ticks[i]);
        EXPECT_EQ(all.fired[i].first, ticks[i]);  // now() during the callback is the expiry
    }
    EXPECT_EQ(j.now(), max_tick);
}

TYPED_TEST(WheelShapes, TickByTickEveryExpiryInAWindow) {
    using W = typename TestFixture::wheel;
    W w(5);
    const std::uint64_t n = 3 * W::slots * W::slots + 17;
    for (std::uint64_t e = 0; e < n; ++e)
        (void)w.insert(e, e);
    recorder<W> rec{&w, {}};
    EXPECT_EQ(w.advance(5, rec), 6u);  // expiries 0..5 are due at once, in order
    for (std::uint64_t e = 0; e <= 5; ++e)
        EXPECT_EQ(rec.fired[e].second, e);
    for (std::uint64_t t = 6; t < n; ++t) {
        ASSERT_EQ(w.advance(t, rec), 1u) << t;
        ASSERT_EQ(rec.fired.back().second, t);
    }
    EXPECT_TRUE(w.empty());
}

TYPED_TEST(WheelShapes, RandomJumpsFireInNondecreasingOrderAndNeverEarly) {
    using W = typename TestFixture::wheel;
    std::mt19937_64 rng(42);
    W w;
    std::multimap<std::uint64_t, std::uint64_t> model;
    std::uint64_t value = 0;
    for (int round = 0; round < 200; ++round) {
        for (int i = 0; i < 50; ++i) {
            const unsigned bits = static_cast<unsigned>(rng() % 64);
            const std::uint64_t delay = bits == 0 ? 0 : rng() >> (64 - bits);
            const std::uint64_t e = w.now() > max_tick - delay ? max_tick : w.now() + delay;
            (void)w.insert(e, value);
            model.emplace(e, value++);
        }
        const unsigned bits = static_cast<unsigned>(rng() % 48);
        const std::uint64_t step = bits == 0 ? 0 : rng() >> (64 - bits);
        const std::uint64_t t = w.now() > max_tick - step ? max_tick : w.now() + step;
        std::vector<std::pair<std::uint64_t, std::uint64_t>> fired;
        std::map<std::uint64_t, std::uint64_t> expiry_of;
        for (auto& [e, v] : model)
            expiry_of[v] = e;
        w.advance(t, [&](std::uint64_t&& v) { fired.emplace_back(expiry_of.at(v), v); });
        std::vector<std::uint64_t> want;
        for (auto it = model.begin(); it != model.end() && it->first <= t;) {
            want.push_back(it->second);
            it = model.erase(it);
        }
        ASSERT_EQ(fired.size(), want.size()) << "round " << round;
        for (std::size_t i = 1; i < fired.size(); ++i)
            ASSERT_LE(fired[i - 1].first, fired[i].first);
        std::vector<std::uint64_t> got;
        for (auto& f : fired)
            got.push_back(f.second);
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
        ASSERT_EQ(got, want);
        ASSERT_EQ(w.size(), model.size());
        if (auto ne = w.next_expiry()) {
            ASSERT_FALSE(model.empty());
            ASSERT_LE(*ne, model.begin()->first);
        } else {
            ASSERT_TRUE(model.empty());
        }
    }
}

TYPED_TEST(WheelShapes, FarTimersWaitInHeapAndComeBackInRange) {
    using W = typename TestFixture::wheel;
    W w(3);
    const std::uint64_t far1 = (std::uint64_t{1} << 40) + 12345;
    const std::uint64_t far2 = (std::uint64_t{1} << 52) + 1;
    const std::uint64_t far3 = max_tick;
    (void)w.insert(far3, 3);
    (void)w.insert(far1, 1);
    (void)w.insert(far2, 2);
    (void)w.insert(far1, 11);  // a tie
    if (W::range_bits < 64) {
        EXPECT_EQ(w.next_expiry().value(), far1);  // the heap's top is exact
    } else {
        EXPECT_LE(w.next_expiry().value(), far1);  // no heap: a slot's start
    }
    recorder<W> rec{&w, {}};
    EXPECT_EQ(w.advance(far1 - 1, rec), 0u);
    EXPECT_EQ(w.advance(far1, rec), 2u);
    EXPECT_EQ(w.advance(far2 - 1, rec), 0u);
    EXPECT_EQ(w.advance(far2, rec), 1u);
    EXPECT_EQ(w.advance(far3 - 1, rec), 0u);
    EXPECT_EQ(w.advance(far3, rec), 1u);
    ASSERT_EQ(rec.fired.size(), 4u);
    EXPECT_EQ(rec.fired[2].second, 2u);
    EXPECT_EQ(rec.fired[3].second, 3u);
    EXPECT_EQ(rec.fired[3].first, max_tick);
}

TEST(TimingWheel, FarTimerMigratesWhileNearTimersFire) {
    timing_wheel<std::uint64_t> w;
    const std::uint64_t top = std::uint64_t{1} << 36;
    (void)w.insert(top + 5, 2);  // far: next top-level window
    (void)w.insert(top - 1, 1);  // last tick of the current window
    (void)w.insert(top, 3);      // first tick of the next window (far at insertion)
    (void)w.insert(3 * top + 7, 4);
    std::vector<std::uint64_t> order;
    auto rec = [&](std::uint64_t&& v) { order.push_back(v); };
    EXPECT_EQ(w.advance(top, rec), 2u);
    EXPECT_EQ(order, (std::vector<std::uint64_t>{1, 3}));
    EXPECT_EQ(w.next_expiry().value(), top + 5);  // exact: in level 0 now
    EXPECT_EQ(w.advance(3 * top + 6, rec), 1u);
    EXPECT_EQ(w.advance(3 * top + 7, rec), 1u);
    EXPECT_EQ(order, (std::vector<std::uint64_t>{1, 3, 2, 4}));
}

TEST(TimingWheel, ExpiryAtOrBeforeNowFiresOnNextAdvanceEvenAdvanceNow) {
    timing_wheel<std::uint64_t> w(100);
    (void)w.insert(100, 1);
    (void)w.insert(0, 2);
    (void)w.insert(50, 3);
    std::vector<std::uint64_t> order;
    EXPECT_EQ(w.advance(100, [&](std::uint64_t&& v) { order.push_back(v); }), 3u);
    EXPECT_EQ(order, (std::vector<std::uint64_t>{2, 3, 1}));  // in expiry order
    EXPECT_EQ(w.now(), 100u);
    // An advance to the past counts as advance(now()): nothing moves back.
    (void)w.insert(70, 4);
    EXPECT_EQ(w.advance(10, [&](std::uint64_t&& v) { order.push_back(v); }), 1u);
    EXPECT_EQ(w.now(), 100u);
}

TEST(TimingWheel, DueTimersFireBeforeWheelTimersInOneAdvance) {
    timing_wheel<std::uint64_t> w(10);
    (void)w.insert(12, 12);
    (void)w.insert(10, 10);
    (void)w.insert(11, 11);
    (void)w.insert(3, 3);
    std::vector<std::uint64_t> order;
    EXPECT_EQ(w.advance(12, [&](std::uint64_t&& v) { order.push_back(v); }), 4u);
    EXPECT_EQ(order, (std::vector<std::uint64_t>{3, 10, 11, 12}));
}

TEST(TimingWheel, StartTickNearTheTopOfTheRange) {
    timing_wheel<std::uint64_t> w(max_tick - 100);
    (void)w.insert(max_tick, 1);
    (void)w.insert(max_tick - 64, 2);
    (void)w.insert(max_tick - 200, 3);  // already due
    std::vector<std::uint64_t> order;
    auto rec = [&](std::uint64_t&& v) { order.push_back(v); };
    EXPECT_EQ(w.next_expiry().value(), max_tick - 200);
    EXPECT_EQ(w.advance(max_tick - 65, rec), 1u);
    EXPECT_EQ(w.advance(max_tick - 1, rec), 1u);
    EXPECT_EQ(w.advance(max_tick, rec), 1u);
    EXPECT_EQ(order, (std::vector<std::uint64_t>{3, 2, 1}));
    // At the very top every expiry is due: the next advance fires it.
    (void)w.insert(max_tick, 4);
    EXPECT_EQ(w.advance(max_tick, rec), 1u);
    EXPECT_EQ(w.now(), max_tick);
}

TEST(TimingWheel, CancelAndStaleIds) {
    timing_wheel<std::uint64_t> w;
    const timer_id a = w.insert(10, 1);
    EXPECT_TRUE(w.pending(a));
    EXPECT_TRUE(w.cancel(a));
    EXPECT_FALSE(w.cancel(a));  // already cancelled
    EXPECT_FALSE(w.pending(a));
    const timer_id b = w.insert(10, 2);  // reuses a's node
    EXPECT_EQ(b.index, a.index);
    EXPECT_NE(b.generation, a.generation);
    EXPECT_FALSE(w.cancel(a));  // a stale id never touches the newer timer
    EXPECT_FALSE(w.reschedule(a, 3));
    EXPECT_TRUE(w.pending(b));
    std::vector<std::uint64_t> fired;
    EXPECT_EQ(w.advance(10, [&](std::uint64_t&& v) { fired.push_back(v); }), 1u);
    EXPECT_EQ(fired, std::vector<std::uint64_t>{2});
    EXPECT_FALSE(w.cancel(b));                   // fired
    EXPECT_FALSE(w.cancel(timer_id{}));          // names no timer
    EXPECT_FALSE(w.cancel(timer_id{12345, 1}));  // out of range
    EXPECT_EQ(w.size(), 0u);
}

TEST(TimingWheel, StaleIdOfAFiredTimerNeverCancelsItsSuccessor) {
    timing_wheel<std::uint64_t> w;
    const timer_id a = w.insert(1, 1);
    EXPECT_EQ(w.advance(1, [](std::uint64_t&&) {}), 1u);
    const timer_id b = w.insert(5, 2);
    EXPECT_EQ(b.index, a.index);
    EXPECT_FALSE(w.cancel(a));
    EXPECT_EQ(w.size(), 1u);
    EXPECT_EQ(w.advance(5, [](std::uint64_t&&) {}), 1u);
}

TEST(TimingWheel, CancelledTimersNeverFire) {
    timing_wheel<std::uint64_t> w;
    std::vector<timer_id> ids;
    for (std::uint64_t i = 0; i < 1000; ++i)
        ids.push_back(w.insert(i * 37 % 5000, i));
    for (std::size_t i = 0; i < ids.size(); i += 2)
        EXPECT_TRUE(w.cancel(ids[i]));
    EXPECT_EQ(w.size(), 500u);
    std::vector<std::uint64_t> fired;
    EXPECT_EQ(w.advance(10000, [&](std::uint64_t&& v) { fired.push_back(v); }), 500u);
    for (auto v : fired)
        EXPECT_EQ(v % 2, 1u);
}

TEST(TimingWheel, RescheduleEarlierAndLaterKeepsTheId) {
    timing_wheel<std::uint64_t> w;
    const timer_id a = w.insert(5000, 1);
    const timer_id b = w.insert(10, 2);
    EXPECT_TRUE(w.reschedule(a, 7));      // earlier, from level 2 to level 0
    EXPECT_TRUE(w.reschedule(b, 70000));  // later
    EXPECT_TRUE(w.pending(a));
    std::vector<std::pair<std::uint64_t, std::uint64_t>> fired;
    auto rec = [&](std::uint64_t&& v) { fired.emplace_back(w.now(), v); };
    EXPECT_EQ(w.advance(6, rec), 0u);
    EXPECT_EQ(w.advance(7, rec), 1u);
    EXPECT_EQ(w.advance(69999, rec), 0u);
    EXPECT_TRUE(w.reschedule(b, 70001));
    EXPECT_TRUE(w.reschedule(b, 70000));  // back and forth: one timer, one firing
    EXPECT_EQ(w.advance(80000, rec), 1u);
    EXPECT_EQ(fired, (std::vector<std::pair<std::uint64_t, std::uint64_t>>{{7, 1}, {70000, 2}}));
    EXPECT_FALSE(w.reschedule(a, 90000));  // fired
    // Rescheduling to the past, and far away into the heap and back.
    const timer_id c = w.insert(90000, 3);
    EXPECT_TRUE(w.reschedule(c, max_tick));
    EXPECT_TRUE(w.reschedule(c, 10));  // before now(): due at the next advance
    EXPECT_EQ(w.next_expiry().value(), 10u);
    EXPECT_EQ(w.advance(w.now(), rec), 1u);
    EXPECT_EQ(w.size(), 0u);
}

TEST(TimingWheel, CallbackInsertingForTheCurrentTickFiresOnTheNextAdvance) {
    timing_wheel<std::uint64_t> w;
    (void)w.insert(10, 1);
    std::vector<std::pair<std::uint64_t, std::uint64_t>> fired;
    auto cb = [&](std::uint64_t&& v) {
        fired.emplace_back(w.now(), v);
        if (v == 1) {
            (void)w.insert(w.now(), 2);        // current tick: waits for the next advance
            (void)w.insert(w.now() - 3, 3);    // the past: likewise
            (void)w.insert(w.now() + 5, 4);    // later, within this advance: fires in it
            (void)w.insert(w.now() + 500, 5);  // beyond this advance's target
        }
    };
    EXPECT_EQ(w.advance(20, cb), 2u);
    EXPECT_EQ(fired, (std::vector<std::pair<std::uint64_t, std::uint64_t>>{{10, 1}, {15, 4}}));
    EXPECT_EQ(w.next_expiry().value(), 7u);
    EXPECT_EQ(w.advance(20, cb), 2u);  // the next advance, even to the same tick
    EXPECT_EQ(fired[2].second, 3u);    // expiry 7 before expiry 10
    EXPECT_EQ(fired[3].second, 2u);
    EXPECT_EQ(w.size(), 1u);
}

TEST(TimingWheel, CallbackRearmingItselfAtNowDoesNotLoop) {
    timing_wheel<std::uint64_t> w;
    (void)w.insert(0, 0);
    int calls = 0;
    std::function<void(std::uint64_t &&)> cb = [&](std::uint64_t&& v) {
        ++calls;
        (void)w.insert(w.now(), v + 1);
    };
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(w.advance(0, cb), 1u);
    EXPECT_EQ(calls, 5);
}

TEST(TimingWheel, CallbackCancelsAndReschedules) {
    timing_wheel<std::uint64_t> w;
    timer_id self{};
    const timer_id same_tick = w.insert(10, 2);
    const timer_id later = w.insert(12, 3);
    const timer_id moved = w.insert(15, 4);
    self = w.insert(10, 1);
    std::vector<std::uint64_t> fired;
    bool first = true;
    auto cb = [&](std::uint64_t&& v) {
        fired.push_back(v);
        if (first) {
            first = false;
            EXPECT_FALSE(w.cancel(v == 1 ? self : same_tick));  // the firing timer is gone
            EXPECT_TRUE(w.cancel(v == 1 ? same_tick : self));   // same tick, not yet fired
            EXPECT_TRUE(w.cancel(later));
            EXPECT_TRUE(w.reschedule(moved, 11));
        }
    };
    EXPECT_EQ(w.advance(20, cb), 2u);
    ASSERT_EQ(fired.size(), 2u);
    EXPECT_EQ(fired[1], 4u);
    EXPECT_TRUE(w.empty());
}

TEST(TimingWheel, AdvanceOrClearInsideTheCallbackThrowsLogicError) {
    timing_wheel<std::uint64_t> w;
    (void)w.insert(1, 1);
    (void)w.insert(1, 2);
    int calls = 0;
    EXPECT_EQ(w.advance(1,
                        [&](std::uint64_t&&) {
                            ++calls;
                            EXPECT_THROW(w.advance(5, [](std::uint64_t&&) {}), std::logic_error);
                            EXPECT_THROW(w.clear(), std::logic_error);
                        }),
              2u);
    EXPECT_EQ(calls, 2);
    (void)w.insert(0, 3);  // the due-list path too
    EXPECT_EQ(w.advance(1, [&](std::uint64_t&&) { EXPECT_THROW(w.clear(), std::logic_error); }), 1u);
}

struct boom {};

TEST(TimingWheel, ThrowingCallbackLeavesTheWheelConsistent) {
    timing_wheel<std::uint64_t> w;
    for (std::uint64_t v = 0; v < 100; ++v)
        (void)w.insert(50, v);  // one level-0 slot, several chunks
    (void)w.insert(60, 100);
    (void)w.insert(1000, 101);
    std::vector<std::uint64_t> fired;
    auto thrower = [&](std::uint64_t&& v) {
        fired.push_back(v);
        if (v == 40) throw boom{};
    };
    EXPECT_THROW(w.advance(2000, thrower), boom);
    EXPECT_EQ(fired.size(), 41u);  // 0..40: the one that threw counts as fired
    EXPECT_EQ(w.size(), 61u);
    EXPECT_EQ(w.now(), 50u);  // the tick being fired
    EXPECT_EQ(w.next_expiry().value(), 50u);
    // The rest fire on the next advance, even advance(now()), in order.
    EXPECT_EQ(w.advance(w.now(), thrower), 59u);
    EXPECT_EQ(w.advance(2000, thrower), 2u);
    std::vector<std::uint64_t> sorted = fired;
    std::sort(sorted.begin(), sorted.end());
    for (std::uint64_t v = 0; v < 102; ++v)
        EXPECT_EQ(sorted[v], v);
    EXPECT_EQ(fired.back(), 101u);
    EXPECT_TRUE(w.empty());
}

TEST(TimingWheel, ThrowingCallbackInTheDueList) {
    timing_wheel<std::uint64_t> w(100);
    for (std::uint64_t v = 0; v < 10; ++v)
        (void)w.insert(v, v);  // all due, expiry v
    (void)w.insert(150, 10);
    std::vector<std::uint64_t> fired;
    auto thrower = [&](std::uint64_t&& v) {
        fired.push_back(v);
        if (v == 3) throw boom{};
    };
    EXPECT_THROW(w.advance(200, thrower), boom);
    EXPECT_EQ(fired, (std::vector<std::uint64_t>{0, 1, 2, 3}));
    EXPECT_EQ(w.size(), 7u);
    EXPECT_EQ(w.now(), 100u);
    EXPECT_EQ(w.next_expiry().value(), 4u);
    (void)w.insert(1, 11);  // joins the leftovers, in order
    EXPECT_EQ(w.advance(200, thrower), 8u);
    EXPECT_EQ(fired, (std::vector<std::uint64_t>{0, 1, 2, 3, 11, 4, 5, 6, 7, 8, 9, 10}));
}

TEST(TimingWheel, MoveOnlyValues) {
    timing_wheel<std::unique_ptr<int>> w;
    const timer_id a = w.insert(3, std::make_unique<int>(3));
    (void)w.insert(2, std::make_unique<int>(2));
    (void)w.insert(max_tick, std::make_unique<int>(9));
    EXPECT_TRUE(w.cancel(a));
    std::vector<int> got;
    EXPECT_EQ(w.advance(10, [&](std::unique_ptr<int>&& p) { got.push_back(*p); }), 1u);
    EXPECT_EQ(got, std::vector<int>{2});
    timing_wheel<std::unique_ptr<int>> moved(std::move(w));
    EXPECT_EQ(moved.size(), 1u);
    EXPECT_EQ(moved.advance(max_tick, [&](std::unique_ptr<int>&& p) { got.push_back(*p); }), 1u);
    EXPECT_EQ(got, (std::vector<int>{2, 9}));
}

// swap and move assignment carry every timer, its id and now() to the other wheel.
TEST(TimingWheel, SwapAndMoveAssignmentCarryTimersIdsAndNow) {
    timing_wheel<int> a(100);
    timing_wheel<int> b(5);
    const timer_id ia = a.insert(150, 1);
    const timer_id ib = b.insert(7, 2);
    a.swap(b);
    EXPECT_EQ(a.now(), 5u);
    EXPECT_EQ(b.now(), 100u);
    EXPECT_TRUE(a.pending(ib));
    EXPECT_TRUE(b.pending(ia));
    std::vector<int> got;
    EXPECT_EQ(a.advance(7, [&](int&& v) { got.push_back(v); }), 1u);
    timing_wheel<int> c;
    c = std::move(b);
    EXPECT_EQ(c.now(), 100u);
    EXPECT_TRUE(c.pending(ia));
    EXPECT_EQ(c.advance(150, [&](int&& v) { got.push_back(v); }), 1u);
    EXPECT_EQ(got, (std::vector<int>{2, 1}));
}

TEST(TimingWheel, ClearDestroysEveryPendingValueAndKeepsNow) {
    auto token = std::make_shared<int>(0);
    timing_wheel<std::shared_ptr<int>> w(7);
    std::vector<timer_id> ids;
    for (std::uint64_t i = 0; i < 300; ++i)
        ids.push_back(w.insert(i * 1000003 % 200000, token));
    ids.push_back(w.insert(max_tick, token));
    ids.push_back(w.insert(1, token));
    EXPECT_EQ(token.use_count(), 303);
    w.clear();
    EXPECT_EQ(token.use_count(), 1);
    EXPECT_EQ(w.size(), 0u);
    EXPECT_EQ(w.now(), 7u);
    EXPECT_FALSE(w.next_expiry().has_value());
    for (const auto& id : ids)
        EXPECT_FALSE(w.cancel(id));
    // Reusable, and old ids still never touch new timers.
    const timer_id n = w.insert(9, token);
    EXPECT_FALSE(w.cancel(ids[n.index]));
    EXPECT_EQ(w.advance(max_tick, [](std::shared_ptr<int>&&) {}), 1u);
    EXPECT_EQ(token.use_count(), 1);
}

TEST(TimingWheel, DestructorDestroysPendingValues) {
    auto token = std::make_shared<int>(0);
    {
        timing_wheel<std::shared_ptr<int>> w;
        for (std::uint64_t i = 0; i < 100; ++i)
            (void)w.insert(i * 4099, token);
        (void)w.insert(max_tick, token);
        EXPECT_EQ(w.advance(4099, [](std::shared_ptr<int>&&) {}), 2u);
    }
    EXPECT_EQ(token.use_count(), 1);
}

TEST(TimingWheel, NextExpiryIsALowerBoundAndExactInLevelZero) {
    timing_wheel<std::uint64_t> w;
    EXPECT_FALSE(w.next_expiry().has_value());
    (void)w.insert(100000, 1);  // level 2: the bound is its slot's start
    const auto ne = w.next_expiry().value();
    EXPECT_LE(ne, 100000u);
    EXPECT_GT(ne, 0u);
    (void)w.insert(30, 2);
    EXPECT_EQ(w.next_expiry().value(), 30u);
    EXPECT_EQ(w.advance(30, [](std::uint64_t&&) {}), 1u);
    // Advancing to the bound repeatedly converges on the exact expiry.
    int steps = 0;
    while (w.next_expiry().value() != 100000u) {
        w.advance(w.next_expiry().value(), [](std::uint64_t&&) { ADD_FAILURE() << "fired early"; });
        ASSERT_LT(++steps, 10);
    }
    EXPECT_EQ(w.advance(100000, [](std::uint64_t&&) {}), 1u);
    EXPECT_FALSE(w.next_expiry().has_value());
}

TEST(TimingWheel, SizeNowAndReserve) {
    timing_wheel<std::uint64_t> w(42);
    EXPECT_EQ(w.now(), 42u);
    EXPECT_TRUE(w.empty());
    w.reserve(10000);
    for (std::uint64_t i = 0; i < 10000; ++i)
        (void)w.insert(42 + i, i);
    EXPECT_EQ(w.size(), 10000u);
    EXPECT_EQ(w.advance(5041, [](std::uint64_t&&) {}), 5000u);
    EXPECT_EQ(w.now(), 5041u);
    EXPECT_EQ(w.size(), 5000u);
}

TEST(TimingWheel, WheelConfigShape) {
    using small = timing_wheel<int, wheel_config<3, 4>>;
    static_assert(small::levels == 3 && small::slots == 4 && small::slot_bits == 2 && small::range_bits == 6);
    static_assert(timing_wheel<int>::levels == 6 && timing_wheel<int>::slots == 64);
    small w;
    (void)w.insert(64, 1);  // beyond 2^6: far heap
    (void)w.insert(63, 2);
    std::vector<int> got;
    EXPECT_EQ(w.advance(64, [&](int&& v) { got.push_back(v); }), 2u);
    EXPECT_EQ(got, (std::vector<int>{2, 1}));
}

TEST(TimingWheel, NextExpiryInsideALevelZeroCallbackCoversTheRestOfTheSlot) {
    // The slot being fired is detached from the wheel: next_expiry() used to skip it and
    // report the 500 timer (448 after cascading) while the second tick-10 timer was pending.
    timing_wheel<int> w;
    (void)w.insert(10, 1);
    (void)w.insert(10, 2);
    (void)w.insert(500, 3);
    std::vector<std::uint64_t> seen;
    w.advance(10, [&](int&& v) {
        if (v != 3) seen.push_back(*w.next_expiry());
    });
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0], 10u);
    EXPECT_LE(seen[1], 500u);
    EXPECT_LE(*w.next_expiry(), 500u);
}

}  // namespace

// Test hook (declared by timing_wheel.hpp): sets a node's generation and stamp, as if it had
// lived through that many lifetimes, keeping its live entry (if any) live.
template <class W>
struct millrace::detail::timing_wheel_access {
    static timer_id set_counters(W& w, timer_id id, std::uint32_t gen, std::uint32_t stamp) {
        auto& n = w.node_at(id.index);
        const std::uint32_t old = n.stamp;
        auto fix = [&](auto& en) {
            if (en.index == id.index && en.stamp == old) en.stamp = stamp;
        };
        for (auto& level : w.wheel_)
            for (auto& sl : level)
                for (auto* c = sl.head; c != nullptr; c = c->next)
                    for (std::uint32_t i = 0; i < c->count; ++i)
                        fix(c->e[i]);
        for (auto& en : w.far_)
            fix(en);
        for (auto& en : w.due_)
            fix(en);
        n.gen = gen;
        n.stamp = stamp;
        return timer_id{id.index, gen};
    }
    static std::size_t retired(const W& w) { return w.nodes_.retired(); }
};

namespace {

using access = millrace::detail::timing_wheel_access<timing_wheel<int>>;

TEST(TimingWheelWrap, NodeNearItsGenerationWrapIsRetiredNotReused) {
    // A counter wrap, with the 2^32 lifetimes replaced by the hook: x's dead entry
    // stays in the tick-100 slot; its node lives on until gen and stamp wrap, and the timer
    // that then reuses it has x's id and x's old stamp, so advance(100) must not fire it.
    timing_wheel<int> w;
    const timer_id x = w.insert(100, 7);
    ASSERT_TRUE(w.cancel(x));
    timer_id z = w.insert(std::uint64_t{1} << 50, 0);
    ASSERT_EQ(z.index, x.index);
    // 127 lifetimes before both counters wrap back to x's (gen + 2 and stamp + 1 each).
    z = access::set_counters(w, z, 0xFFFF'FF01u, 0xFFFF'FF80u);
    ASSERT_TRUE(w.cancel(z));
    for (int i = 0; i < 127; ++i)
        ASSERT_TRUE(w.cancel(w.insert(std::uint64_t{1} << 50, i)));
    const timer_id y = w.insert(1000000, 42);
    EXPECT_NE(y, x);
    EXPECT_FALSE(w.pending(x));
    EXPECT_FALSE(w.cancel(x));
    EXPECT_GE(access::retired(w), 1u);
    std::vector<int> got;
    EXPECT_EQ(w.advance(100, [&](int&& v) { got.push_back(v); }), 0u) << "fired early";
    EXPECT_EQ(w.advance(1000000, [&](int&& v) { got.push_back(v); }), 1u);
    EXPECT_EQ(got, std::vector<int>{42});
    // clear keeps the retired node out of use (ids from before clear stay stale).
    w.clear();
    EXPECT_GE(access::retired(w), 1u);
}

TEST(TimingWheelWrap, RescheduleAtTheStampLimitDropsOldEntriesFirst) {
    // Rescheduling a pending timer 2^32 times wraps its stamp back to that of its first,
    // now dead, entry (tick 100), which then fired it early.
    timing_wheel<int> w;
    timer_id x = w.insert(100, 7);
    ASSERT_TRUE(w.reschedule(x, 500));
    x = access::set_counters(w, x, x.generation, 0xFFFF'FFFFu);
    ASSERT_TRUE(w.reschedule(x, 1000000));
    EXPECT_TRUE(w.pending(x));
    std::vector<int> got;
    EXPECT_EQ(w.advance(600, [&](int&& v) { got.push_back(v); }), 0u) << "an old entry fired";
    EXPECT_EQ(w.advance(1000000, [&](int&& v) { got.push_back(v); }), 1u);
    EXPECT_EQ(got, std::vector<int>{7});
    EXPECT_TRUE(w.empty());
}

TEST(TimingWheelWrap, RescheduleAtTheStampLimitInsideTheSlotBeingFired) {
    // x's dead entry sits in the level-0 slot being fired, behind a's. a's callback
    // reschedules x (at the stamp limit) to now(): the dead entry must not fire x in this
    // advance; x fires in the next one, once.
    timing_wheel<int> w;
    (void)w.insert(10, 1);
    timer_id x = w.insert(10, 7);
    ASSERT_TRUE(w.reschedule(x, 500));
    x = access::set_counters(w, x, x.generation, 0xFFFF'FFFFu);
    std::vector<int> got;
    EXPECT_EQ(w.advance(10,
                        [&](int&& v) {
                            got.push_back(v);
                            if (v == 1) {
                                EXPECT_TRUE(w.reschedule(x, w.now()));
                            }
                        }),
              1u);
    EXPECT_EQ(got, std::vector<int>{1});
    EXPECT_EQ(w.advance(10, [&](int&& v) { got.push_back(v); }), 1u);
    EXPECT_EQ(w.advance(1000, [&](int&& v) { got.push_back(v); }), 0u);
    EXPECT_EQ(got, (std::vector<int>{1, 7}));
    EXPECT_TRUE(w.empty());
}

}  // namespace
