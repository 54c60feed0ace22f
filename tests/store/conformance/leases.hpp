// tests/store/conformance/leases.hpp: the late-worker case (tokens refused after a lost
// lease), fail with retry or dead, extend_lease, requeue_expired and cancel.
#pragma once

#include "store/conformance/suite.hpp"

namespace millrace::test {

TYPED_TEST_P(StoreConformance, LostLeaseRefusesCompleteFailAndExtend) {
    const job_id id = this->add(make_job());
    const auto a = this->claim_one("q", at(0), at(5), "A");
    EXPECT_EQ(this->s().requeue_expired(at(5)), 1u);
    EXPECT_EQ(this->state_of(id), job_state::ready);
    const auto b = this->claim_one("q", at(6), at(20), "B");
    ASSERT_EQ(b.id(), id);
    EXPECT_NE(a.token, b.token);
    const auto before = this->s().find(id);

    EXPECT_FALSE(this->s().complete(id, a.token, at(7)));
    EXPECT_FALSE(this->s().fail(id, a.token, fail_outcome::dead(), "late", at(7)));
    EXPECT_FALSE(this->s().fail(id, a.token, fail_outcome::retry_at(at(50)), "late", at(7)));
    EXPECT_FALSE(this->s().extend_lease(id, a.token, at(99)));
    EXPECT_EQ(this->s().find(id), before);  // nothing changed

    EXPECT_TRUE(this->s().extend_lease(id, b.token, at(30)));
    EXPECT_TRUE(this->s().complete(id, b.token, at(8)));
    EXPECT_EQ(this->state_of(id), job_state::succeeded);
    // Once finished, no token is accepted, not even the last one.
    EXPECT_FALSE(this->s().complete(id, b.token, at(9)));
    EXPECT_FALSE(this->s().extend_lease(id, b.token, at(99)));
    EXPECT_FALSE(this->s().fail(id, b.token, fail_outcome::dead(), "x", at(9)));
    EXPECT_EQ(this->s().stats("q"), make_stats(0, 0, 0, 1, 0, 0));
}

TYPED_TEST_P(StoreConformance, WrongTokenOnARunningJobChangesNothing) {
    const job_id id = this->add(make_job());
    const auto c = this->claim_one("q", at(0), at(5));
    const auto before = this->s().find(id);
    EXPECT_FALSE(this->s().complete(id, c.token + 1, at(1)));
    EXPECT_FALSE(this->s().complete(id, 0, at(1)));
    EXPECT_FALSE(this->s().fail(id, c.token + 1, fail_outcome::dead(), "x", at(1)));
    EXPECT_FALSE(this->s().extend_lease(id, c.token + 1, at(50)));
    EXPECT_EQ(this->s().find(id), before);
    EXPECT_FALSE(this->s().complete(id + 1000, c.token, at(1)));
    EXPECT_FALSE(this->s().complete(0, c.token, at(1)));
    EXPECT_TRUE(this->s().complete(id, c.token, at(2)));
    EXPECT_EQ(this->s().find(id)->updated_at, at(2));
}

TYPED_TEST_P(StoreConformance, LateCompletionRefusedEvenBeforeRequeueReclaims) {
    // A complete after requeue but before any re-claim: the job is ready, nobody owns it.
    const job_id id = this->add(make_job());
    const auto a = this->claim_one("q", at(0), at(5), "A");
    EXPECT_EQ(this->s().requeue_expired(at(6)), 1u);
    EXPECT_FALSE(this->s().complete(id, a.token, at(7)));
    EXPECT_EQ(this->state_of(id), job_state::ready);
    // A complete after the lease time but before requeue_expired ran is still accepted:
    // the token, not the clock, decides.
    const auto b = this->claim_one("q", at(8), at(9), "B");
    EXPECT_TRUE(this->s().complete(id, b.token, at(20)));
    EXPECT_EQ(this->s().requeue_expired(at(100)), 0u);
}

TYPED_TEST_P(StoreConformance, FailWithRetrySchedulesAndCountsAttempts) {
    auto r = make_job();
    r.max_attempts = 3;
    const job_id id = this->add(r);
    auto c1 = this->claim_one("q", at(0), at(5));
    EXPECT_TRUE(this->s().fail(id, c1.token, fail_outcome::retry_at(at(10)), "boom", at(1)));
    auto rec = this->s().find(id);
    EXPECT_EQ(rec->state, job_state::scheduled);
    EXPECT_EQ(rec->run_at, at(10));
    EXPECT_EQ(rec->last_error, "boom");
    EXPECT_EQ(rec->updated_at, at(1));
    EXPECT_EQ(rec->attempts, 1u);
    EXPECT_EQ(this->s().next_run_at("q"), at(10));
    EXPECT_TRUE(this->s().claim("q", 1, at(9), at(20), "w").empty());
    auto c2 = this->claim_one("q", at(10), at(20));
    EXPECT_EQ(c2.record.attempts, 2u);
    // A retry time not after now: ready at once.
    EXPECT_TRUE(this->s().fail(id, c2.token, fail_outcome::retry_at(at(11)), "again", at(11)));
    EXPECT_EQ(this->state_of(id), job_state::ready);
    auto c3 = this->claim_one("q", at(12), at(20));
    EXPECT_EQ(c3.record.attempts, 3u);
    // The last attempt: a retry is refused, the job goes dead.
    EXPECT_TRUE(this->s().fail(id, c3.token, fail_outcome::retry_at(at(30)), "final", at(13)));
    rec = this->s().find(id);
    EXPECT_EQ(rec->state, job_state::dead);
    EXPECT_EQ(rec->last_error, "final");
    EXPECT_EQ(rec->updated_at, at(13));
    EXPECT_EQ(this->s().stats("q"), make_stats(0, 0, 0, 0, 1, 0));
}

TYPED_TEST_P(StoreConformance, FailDeadGoesDeadAtOnce) {
    const job_id id = this->add(make_job());
    auto c = this->claim_one("q", at(0), at(5));
    EXPECT_TRUE(this->s().fail(id, c.token, fail_outcome::dead(), "fatal", at(2)));
    auto rec = this->s().find(id);
    EXPECT_EQ(rec->state, job_state::dead);
    EXPECT_EQ(rec->attempts, 1u);
    EXPECT_EQ(rec->last_error, "fatal");
    EXPECT_TRUE(this->s().claim("q", 1, at(3), at(5), "w").empty());
}

TYPED_TEST_P(StoreConformance, ExtendLeaseKeepsTheJobThroughRequeue) {
    const job_id id = this->add(make_job());
    auto c = this->claim_one("q", at(0), at(5));
    EXPECT_TRUE(this->s().extend_lease(id, c.token, at(20)));
    EXPECT_EQ(this->s().find(id)->lease_until, at(20));
    EXPECT_EQ(this->s().requeue_expired(at(10)), 0u);
    EXPECT_EQ(this->state_of(id), job_state::running);
    EXPECT_EQ(this->s().requeue_expired(at(19)), 0u);
    EXPECT_TRUE(this->s().complete(id, c.token, at(19)));
}

TYPED_TEST_P(StoreConformance, RequeueExpiredCountsTheAttemptAndGoesDeadPastMax) {
    auto r = make_job();
    r.max_attempts = 3;
    const job_id id = this->add(r);
    for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
        const std::int64_t t0 = 10 * attempt;
        auto c = this->claim_one("q", at(t0), at(t0 + 5));
        ASSERT_EQ(c.id(), id);
        EXPECT_EQ(c.record.attempts, attempt);
        EXPECT_EQ(this->s().requeue_expired(at(t0 + 4)), 0u);  // not yet
        EXPECT_EQ(this->s().requeue_expired(at(t0 + 5)), 1u);  // lease_until <= now: expired
        auto rec = this->s().find(id);
        EXPECT_EQ(rec->attempts, attempt);
        EXPECT_EQ(rec->updated_at, at(t0 + 5));
        if (attempt < 3) {
            EXPECT_EQ(rec->state, job_state::ready);
            EXPECT_EQ(rec->run_at, at(0));  // keeps its place in the claim order
        } else {
            EXPECT_EQ(rec->state, job_state::dead);
            EXPECT_EQ(rec->last_error, "lease expired");
        }
        EXPECT_FALSE(this->s().complete(id, c.token, at(t0 + 6)));
    }
    EXPECT_TRUE(this->s().claim("q", 1, at(100), at(200), "w").empty());
    EXPECT_EQ(this->s().stats("q"), make_stats(0, 0, 0, 0, 1, 0));
}

TYPED_TEST_P(StoreConformance, SingleAttemptJobDiesOnFirstExpiry) {
    auto r = make_job();
    r.max_attempts = 1;
    const job_id id = this->add(r);
    const job_id other = this->add(make_job());
    this->claim_one("q", at(0), at(5));
    this->claim_one("q", at(0), at(50));
    EXPECT_EQ(this->s().requeue_expired(at(5)), 1u);
    EXPECT_EQ(this->state_of(id), job_state::dead);
    EXPECT_EQ(this->state_of(other), job_state::running);
}

TYPED_TEST_P(StoreConformance, CancelReadyScheduledAndRunningJobs) {
    const job_id ready = this->add(make_job());
    auto later = make_job();
    later.run_at = at(10);
    const job_id scheduled = this->add(later);
    const job_id running = this->add(make_job());
    const job_id done = this->add(make_job());
    std::map<job_id, claimed_job> claims;
    // Claim order for equal keys is by id: ready (1st), running (3rd), done (4th).
    for (auto& c : this->s().claim("q", 3, at(1), at(5), "w"))
        claims[c.id()] = c;
    ASSERT_EQ(claims.size(), 3u);
    // Put `ready` back: fail with an immediate retry.
    EXPECT_TRUE(this->s().fail(ready, claims[ready].token, fail_outcome::retry_at(at(1)), "x", at(1)));
    EXPECT_TRUE(this->s().complete(done, claims[done].token, at(2)));

    EXPECT_TRUE(this->s().cancel(ready, at(3)));
    EXPECT_TRUE(this->s().cancel(scheduled, at(3)));
    EXPECT_TRUE(this->s().cancel(running, at(3)));
    EXPECT_FALSE(this->s().cancel(done, at(3)));     // finished: nothing to cancel
    EXPECT_FALSE(this->s().cancel(running, at(4)));  // already cancelled
    EXPECT_FALSE(this->s().cancel(done + ready + running + 1000, at(4)));
    for (job_id id : {ready, scheduled, running}) {
        auto rec = this->s().find(id);
        EXPECT_EQ(rec->state, job_state::cancelled);
        EXPECT_EQ(rec->updated_at, at(3));
    }
    // The running job's worker is refused from now on.
    EXPECT_FALSE(this->s().complete(running, claims[running].token, at(4)));
    EXPECT_FALSE(this->s().fail(running, claims[running].token, fail_outcome::dead(), "x", at(4)));
    EXPECT_FALSE(this->s().extend_lease(running, claims[running].token, at(50)));
    EXPECT_EQ(this->s().requeue_expired(at(100)), 0u);
    EXPECT_TRUE(this->s().claim("q", 10, at(100), at(200), "w").empty());
    EXPECT_EQ(this->s().stats("q"), make_stats(0, 0, 0, 1, 0, 3));
    EXPECT_EQ(this->s().next_run_at("q"), std::nullopt);
}

}  // namespace millrace::test
