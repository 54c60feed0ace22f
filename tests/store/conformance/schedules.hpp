// tests/store/conformance/schedules.hpp: persisted schedules, and advance_schedule as a
// compare-and-set that lets exactly one caller win each firing (across threads, across a
// reopen, after the fired job finished and was purged).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "store/conformance/fixture.hpp"

namespace millrace::test {

template <class Factory>
class StoreSchedules : public store_fixture<Factory> {};
TYPED_TEST_SUITE_P(StoreSchedules);

TYPED_TEST_P(StoreSchedules, UpsertListRemove) {
    auto& s = this->s();
    EXPECT_TRUE(s.list_schedules().empty());
    EXPECT_TRUE(s.upsert_schedule(make_schedule("b")));
    auto a = make_schedule("a");
    a.missed = missed_firing::skip;
    a.paused = true;
    a.recurrence = "every 10s";
    EXPECT_TRUE(s.upsert_schedule(a));
    auto got = s.list_schedules();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], a);  // by name
    EXPECT_EQ(got[1], make_schedule("b"));
    a.paused = false;
    a.next_run = at(7);
    EXPECT_FALSE(s.upsert_schedule(a)) << "a replace reported as an insert";
    EXPECT_EQ(s.list_schedules()[0], a);
    this->reopen();
    got = this->s().list_schedules();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], a);
    EXPECT_TRUE(this->s().remove_schedule("b"));
    EXPECT_FALSE(this->s().remove_schedule("b"));
    EXPECT_FALSE(this->s().remove_schedule("nope"));
    this->reopen();
    got = this->s().list_schedules();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].name, "a");
}

TYPED_TEST_P(StoreSchedules, RejectsBadRecords) {
    auto no_name = make_schedule("");
    EXPECT_THROW((void)this->s().upsert_schedule(no_name), std::invalid_argument);
    auto no_queue = make_schedule("x");
    no_queue.queue.clear();
    EXPECT_THROW((void)this->s().upsert_schedule(no_queue), std::invalid_argument);
    EXPECT_TRUE(this->s().list_schedules().empty());
}

TYPED_TEST_P(StoreSchedules, AdvanceIsACompareAndSet) {
    auto& s = this->s();
    ASSERT_TRUE(s.upsert_schedule(make_schedule("s")));
    EXPECT_FALSE(s.advance_schedule("nope", at(0), at(5)));
    EXPECT_FALSE(s.advance_schedule("s", at(1), at(5))) << "won with a wrong expected time";
    EXPECT_TRUE(s.advance_schedule("s", at(0), at(5)));
    EXPECT_FALSE(s.advance_schedule("s", at(0), at(5))) << "the same firing won twice";
    EXPECT_EQ(s.list_schedules()[0].next_run, at(5));
    this->reopen();
    EXPECT_FALSE(this->s().advance_schedule("s", at(0), at(5))) << "a reopen forgot the firing was won";
    EXPECT_TRUE(this->s().advance_schedule("s", at(5), at(10)));
    this->reopen();
    EXPECT_EQ(this->s().list_schedules()[0].next_run, at(10));
}

TYPED_TEST_P(StoreSchedules, FiringWonOnceEvenAfterItsJobWasPurged) {
    auto& s = this->s();
    ASSERT_TRUE(s.upsert_schedule(make_schedule("s")));
    // Fire: win the firing, enqueue its job, run it, purge it.
    ASSERT_TRUE(s.advance_schedule("s", at(0), at(5)));
    const job_id id = this->add(typed_job("report"));
    const claimed_job c = this->claim_one("q", at(0), at(100));
    ASSERT_TRUE(s.complete(id, c.token, at(1)));
    ASSERT_EQ(s.purge(job_state::succeeded, at(2)), 1u);
    this->reopen();
    EXPECT_FALSE(this->s().advance_schedule("s", at(0), at(5)));
    EXPECT_EQ(this->s().list_schedules()[0].next_run, at(5));
}

// 8 threads race for every firing: each reads next_run and tries to advance it by one
// nanosecond. Every firing must be won exactly once.
TYPED_TEST_P(StoreSchedules, EightThreadsWinEachFiringOnce) {
    auto& s = this->s();
    ASSERT_TRUE(s.upsert_schedule(make_schedule("s")));
    const std::int64_t firings = static_cast<std::int64_t>(scaled(this->race_firings(), 200));
    const job_time first = at(0);
    const job_time end = first + std::chrono::nanoseconds(firings);
    constexpr int threads = 8;
    std::vector<std::vector<std::int64_t>> won(threads);
    std::atomic<bool> go{false};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            while (!go.load(std::memory_order_acquire))
                std::this_thread::yield();
            for (;;) {
                const auto all = s.list_schedules();
                if (all.empty()) return;
                const job_time next = all[0].next_run;
                if (next >= end) return;
                if (s.advance_schedule("s", next, next + std::chrono::nanoseconds(1)))
                    won[static_cast<std::size_t>(t)].push_back((next - first).count());
            }
        });
    }
    go.store(true, std::memory_order_release);
    for (auto& th : ts)
        th.join();
    std::vector<std::int64_t> all;
    for (auto& w : won)
        all.insert(all.end(), w.begin(), w.end());
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), static_cast<std::size_t>(firings)) << "firings won more (or less) than once";
    for (std::int64_t i = 0; i < firings; ++i)
        ASSERT_EQ(all[static_cast<std::size_t>(i)], i);
    this->reopen();
    EXPECT_EQ(this->s().list_schedules()[0].next_run, end);
}

REGISTER_TYPED_TEST_SUITE_P(StoreSchedules, UpsertListRemove, RejectsBadRecords, AdvanceIsACompareAndSet,
                            FiringWonOnceEvenAfterItsJobWasPurged, EightThreadsWinEachFiringOnce);

}  // namespace millrace::test
