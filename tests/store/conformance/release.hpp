// tests/store/conformance/release.hpp: release gives a running job back without using an
// attempt, and only to the holder of its token.
#pragma once

#include "store/conformance/fixture.hpp"

namespace millrace::test {

template <class Factory>
class StoreRelease : public store_fixture<Factory> {};
TYPED_TEST_SUITE_P(StoreRelease);

TYPED_TEST_P(StoreRelease, KeepsTheAttemptCount) {
    auto j = make_job();
    j.max_attempts = 1;  // one attempt: a release that counted it would leave the job dead-bound
    const job_id id = this->add(j);
    for (int round = 0; round < 5; ++round) {
        const claimed_job c = this->claim_one("q", at(round), at(round + 100));
        ASSERT_EQ(c.record.attempts, 1u) << "round " << round;
        ASSERT_TRUE(this->s().release(id, c.token, at(round)));
        const job_record r = this->get(id);
        EXPECT_EQ(r.state, job_state::ready);
        EXPECT_EQ(r.attempts, 0u) << "release used an attempt";
        EXPECT_EQ(r.updated_at, at(round));
    }
    // Its one attempt is still there: a claim and an expiry now kill it, not before.
    const claimed_job c = this->claim_one("q", at(10), at(11));
    EXPECT_EQ(c.record.attempts, 1u);
    EXPECT_EQ(this->s().requeue_expired(at(11)), 1u);
    EXPECT_EQ(this->get(id).state, job_state::dead);
}

TYPED_TEST_P(StoreRelease, GoesBackToScheduledUntilRunAt) {
    auto j = make_job();
    j.run_at = at(0);
    const job_id id = this->add(j);
    const claimed_job c = this->claim_one("q", at(0), at(100));
    ASSERT_TRUE(this->s().fail(id, c.token, fail_outcome::retry_at(at(50)), "later", at(1)));
    const claimed_job c2 = this->claim_one("q", at(50), at(100));
    ASSERT_TRUE(this->s().release(id, c2.token, at(20)));  // run_at 50 is after 20
    EXPECT_EQ(this->get(id).state, job_state::scheduled);
    EXPECT_EQ(this->get(id).attempts, 1u);
    EXPECT_TRUE(this->s().claim("q", 1, at(49), at(100), "w").empty());
    EXPECT_EQ(this->s().claim("q", 1, at(50), at(100), "w").size(), 1u);
}

TYPED_TEST_P(StoreRelease, RefusedWithoutTheToken) {
    const job_id id = this->add(make_job());
    EXPECT_FALSE(this->s().release(id, 1, at(0))) << "a ready job was released";
    const claimed_job c = this->claim_one("q", at(0), at(100));
    const job_record before = this->get(id);
    EXPECT_FALSE(this->s().release(id, c.token + 1, at(1)));
    EXPECT_FALSE(this->s().release(id + 1000, c.token, at(1)));
    EXPECT_EQ(this->get(id), before);
    ASSERT_TRUE(this->s().release(id, c.token, at(2)));
    // The released lease is over: every call with its token is refused.
    EXPECT_FALSE(this->s().release(id, c.token, at(3)));
    EXPECT_FALSE(this->s().complete(id, c.token, at(3)));
    EXPECT_FALSE(this->s().extend_lease(id, c.token, at(300)));
    const claimed_job again = this->claim_one("q", at(4), at(100));
    EXPECT_NE(again.token, c.token);
    EXPECT_TRUE(this->s().complete(id, again.token, at(5)));
}

TYPED_TEST_P(StoreRelease, SurvivesReopen) {
    const job_id id = this->add(make_job());
    const claimed_job c = this->claim_one("q", at(0), at(100));
    ASSERT_TRUE(this->s().release(id, c.token, at(1)));
    this->reopen();
    const job_record r = this->get(id);
    EXPECT_EQ(r.state, job_state::ready);
    EXPECT_EQ(r.attempts, 0u);
    EXPECT_FALSE(this->s().complete(id, c.token, at(2)));
}

REGISTER_TYPED_TEST_SUITE_P(StoreRelease, KeepsTheAttemptCount, GoesBackToScheduledUntilRunAt,
                            RefusedWithoutTheToken, SurvivesReopen);

}  // namespace millrace::test
