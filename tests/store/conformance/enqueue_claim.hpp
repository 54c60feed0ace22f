// tests/store/conformance/enqueue_claim.hpp: enqueue (fields, validation, batches) and claim
// (order, max, queue isolation, the lease, scheduled jobs, next_run_at).
#pragma once

#include "store/conformance/suite.hpp"

namespace millrace::test {

TYPED_TEST_P(StoreConformance, EnqueueAssignsIdsAndInitialState) {
    auto r = make_job();
    r.id = 777;                 // ignored
    r.attempts = 9;             // reset
    r.state = job_state::dead;  // derived from run_at
    r.token = 5;
    r.worker = "x";
    r.last_error = "x";
    const job_id a = this->add(r);
    auto later = make_job();
    later.run_at = at(10);
    const job_id b = this->add(later);
    EXPECT_NE(a, b);

    auto ra = this->s().find(a);
    ASSERT_TRUE(ra);
    EXPECT_EQ(ra->id, a);
    EXPECT_EQ(ra->state, job_state::ready);
    EXPECT_EQ(ra->attempts, 0u);
    EXPECT_EQ(ra->token, 0u);
    EXPECT_TRUE(ra->worker.empty());
    EXPECT_TRUE(ra->last_error.empty());
    EXPECT_EQ(ra->queue, "q");
    EXPECT_EQ(ra->type, "email");
    EXPECT_EQ(ra->payload, r.payload);
    EXPECT_EQ(ra->partition_key, "p");
    EXPECT_EQ(ra->created_at, at(0));
    EXPECT_EQ(ra->updated_at, at(0));
    EXPECT_EQ(this->state_of(b), job_state::scheduled);
    EXPECT_EQ(this->s().stats("q"), make_stats(1, 1, 0, 0, 0, 0));
    EXPECT_FALSE(this->s().find(a + b + 1000).has_value());
}

TYPED_TEST_P(StoreConformance, EnqueueRejectsBadRecordsAndChangesNothing) {
    auto no_queue = make_job("");
    EXPECT_THROW((void)this->s().enqueue(no_queue), std::invalid_argument);
    auto no_attempts = make_job();
    no_attempts.max_attempts = 0;
    EXPECT_THROW((void)this->s().enqueue(no_attempts), std::invalid_argument);
    std::vector<job_record> batch{make_job(), make_job(), no_attempts};
    EXPECT_THROW((void)this->s().enqueue_batch(batch), std::invalid_argument);
    EXPECT_EQ(this->s().stats("q"), store_stats{});
}

TYPED_TEST_P(StoreConformance, EnqueueBatchReturnsOneResultPerRecordInOrder) {
    auto k = make_job();
    k.dedup_key = "k";
    std::vector<job_record> batch{make_job(), k, make_job("other"), k};
    auto res = this->s().enqueue_batch(batch);
    ASSERT_EQ(res.size(), 4u);
    EXPECT_TRUE(res[0].inserted);
    EXPECT_TRUE(res[1].inserted);
    EXPECT_TRUE(res[2].inserted);
    EXPECT_FALSE(res[3].inserted);
    EXPECT_EQ(res[3].id, res[1].id);
    EXPECT_EQ(this->s().find(res[2].id)->queue, "other");
    EXPECT_EQ(this->s().stats("q").count(job_state::ready), 2u);
    EXPECT_TRUE(this->s().enqueue_batch({}).empty());
}

TYPED_TEST_P(StoreConformance, ClaimOrdersByPriorityThenRunAtThenId) {
    // Enqueue in an order that matches none of the keys.
    auto mk = [](std::int32_t prio, std::int64_t run_at) {
        auto r = make_job("q", prio);
        r.run_at = at(run_at);
        r.created_at = at(100);  // all ready
        return r;
    };
    const job_id p0_t5 = this->add(mk(0, 5));
    const job_id p1_t9 = this->add(mk(1, 9));
    const job_id p0_t1 = this->add(mk(0, 1));
    const job_id p1_t9b = this->add(mk(1, 9));
    const job_id pm1_t0 = this->add(mk(-1, 0));
    const job_id p1_t3 = this->add(mk(1, 3));
    const job_id p0_t5b = this->add(mk(0, 5));
    auto got = this->s().claim("q", 100, at(100), at(200), "w");
    std::vector<job_id> ids;
    for (auto& c : got)
        ids.push_back(c.id());
    EXPECT_EQ(ids, (std::vector<job_id>{p1_t3, p1_t9, p1_t9b, p0_t1, p0_t5, p0_t5b, pm1_t0}));
    EXPECT_TRUE(this->s().claim("q", 100, at(100), at(200), "w").empty());
}

TYPED_TEST_P(StoreConformance, ClaimRespectsMaxQueueAndSetsTheLease) {
    for (int i = 0; i < 5; ++i)
        this->add(make_job());
    this->add(make_job("other"));
    EXPECT_TRUE(this->s().claim("q", 0, at(1), at(5), "w").empty());
    EXPECT_TRUE(this->s().claim("nope", 10, at(1), at(5), "w").empty());
    auto two = this->s().claim("q", 2, at(1), at(5), "w1");
    ASSERT_EQ(two.size(), 2u);
    EXPECT_NE(two[0].token, 0u);
    EXPECT_NE(two[0].token, two[1].token);
    for (auto& c : two) {
        EXPECT_EQ(c.record.state, job_state::running);
        EXPECT_EQ(c.record.attempts, 1u);
        EXPECT_EQ(c.record.lease_until, at(5));
        EXPECT_EQ(c.record.worker, "w1");
        EXPECT_EQ(c.record.updated_at, at(1));
        EXPECT_EQ(c.record.token, c.token);
        EXPECT_EQ(c.record.queue, "q");
        EXPECT_EQ(this->s().find(c.id()), std::optional<job_record>(c.record));
    }
    EXPECT_EQ(this->s().claim("q", 10, at(1), at(5), "w2").size(), 3u);
    EXPECT_EQ(this->s().stats("q"), make_stats(0, 0, 5, 0, 0, 0));
    EXPECT_EQ(this->s().stats("other"), make_stats(0, 1, 0, 0, 0, 0));
}

TYPED_TEST_P(StoreConformance, ScheduledJobBecomesClaimableExactlyAtRunAt) {
    auto r = make_job();
    r.run_at = at(10);
    const job_id id = this->add(r);
    EXPECT_EQ(this->s().next_run_at("q"), at(10));
    EXPECT_TRUE(this->s().claim("q", 1, at(9), at(20), "w").empty());
    EXPECT_TRUE(this->s().claim("q", 1, at(10) - std::chrono::nanoseconds(1), at(20), "w").empty());
    EXPECT_EQ(this->state_of(id), job_state::scheduled);
    auto c = this->s().claim("q", 1, at(10), at(20), "w");
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].id(), id);
    EXPECT_EQ(this->s().next_run_at("q"), std::nullopt);
}

TYPED_TEST_P(StoreConformance, NextRunAtIsTheEarliestPendingRunAt) {
    EXPECT_EQ(this->s().next_run_at("q"), std::nullopt);
    auto a = make_job();
    a.run_at = at(30);
    this->add(a);
    auto b = make_job();
    b.run_at = at(20);
    this->add(b);
    EXPECT_EQ(this->s().next_run_at("q"), at(20));
    auto ready = make_job("q", 5);
    ready.run_at = at(-3);
    const job_id rid = this->add(ready);
    EXPECT_EQ(this->s().next_run_at("q"), at(-3));
    EXPECT_TRUE(this->s().cancel(rid, at(1)));
    EXPECT_EQ(this->s().next_run_at("q"), at(20));
    EXPECT_EQ(this->s().claim("q", 5, at(25), at(100), "w").size(), 1u);
    EXPECT_EQ(this->s().next_run_at("q"), at(30));
    EXPECT_EQ(this->s().next_run_at("other"), std::nullopt);
}

// The late-worker case (Hangfire #1960, River #1302): A's lease expires, the job is
// requeued and claimed by B; A's complete, fail and extend_lease must all be refused.

}  // namespace millrace::test
