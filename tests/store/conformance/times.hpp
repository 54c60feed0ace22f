// tests/store/conformance/times.hpp: every time is int64 nanoseconds since the epoch and
// comes back exactly as given (before and after a reopen).
#pragma once

#include <chrono>
#include <type_traits>

#include "store/conformance/fixture.hpp"

namespace millrace::test {

template <class Factory>
class StoreTimes : public store_fixture<Factory> {};
TYPED_TEST_SUITE_P(StoreTimes);

TYPED_TEST_P(StoreTimes, NanosecondsRoundTripExactly) {
    using std::chrono::nanoseconds;
    static_assert(std::is_same_v<job_time::duration, nanoseconds>);
    const job_time created = at(0) + nanoseconds(123'456'789);
    auto j = make_job();
    j.created_at = created;
    j.run_at = created + nanoseconds(1);  // scheduled for one nanosecond
    const job_id id = this->add(j);
    EXPECT_EQ(this->get(id).state, job_state::scheduled);
    EXPECT_TRUE(this->s().claim("q", 1, created, at(100), "w").empty()) << "claimed 1 ns early";
    const job_time lease = at(100) + nanoseconds(987'654'321);
    const job_time claimed_at = created + nanoseconds(1);
    auto c = this->s().claim("q", 1, claimed_at, lease, "w");
    ASSERT_EQ(c.size(), 1u);
    const job_time retry = at(200) + nanoseconds(7);
    ASSERT_TRUE(
        this->s().fail(id, c[0].token, fail_outcome::retry_at(retry), "x", claimed_at + nanoseconds(3)));
    const auto check = [&] {
        const job_record r = this->get(id);
        EXPECT_EQ(r.created_at, created);
        EXPECT_EQ(r.run_at, retry);
        EXPECT_EQ(r.lease_until, lease);
        EXPECT_EQ(r.updated_at, claimed_at + nanoseconds(3));
        EXPECT_EQ(this->s().next_run_at("q"), retry);
    };
    check();
    auto sched = make_schedule("s");
    sched.next_run = job_time{} - nanoseconds(5);  // before the epoch: still exact
    ASSERT_TRUE(this->s().upsert_schedule(sched));
    this->reopen();
    check();
    EXPECT_EQ(this->s().list_schedules().at(0).next_run, job_time{} - nanoseconds(5));
}

REGISTER_TYPED_TEST_SUITE_P(StoreTimes, NanosecondsRoundTripExactly);

}  // namespace millrace::test
