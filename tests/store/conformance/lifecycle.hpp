// tests/store/conformance/lifecycle.hpp: dedup, retry_dead, purge, list, stats, fresh tokens
// and state across a reopen.
#pragma once

#include "store/conformance/suite.hpp"

namespace millrace::test {

TYPED_TEST_P(StoreConformance, DedupHoldsWhileLiveAndFreesAfterwards) {
    auto k = make_job();
    k.dedup_key = "invoice-7";
    const job_id first = this->add(k);
    auto dup = this->s().enqueue(k);
    EXPECT_FALSE(dup.inserted);
    EXPECT_EQ(dup.id, first);
    // Same key in another queue, and jobs without a key: independent.
    auto other = k;
    other.queue = "other";
    EXPECT_TRUE(this->s().enqueue(other).inserted);
    EXPECT_TRUE(this->s().enqueue(make_job()).inserted);
    EXPECT_TRUE(this->s().enqueue(make_job()).inserted);

    // While running: still held.
    auto c = this->s().claim("q", 1, at(1), at(5), "w");
    ASSERT_EQ(c.size(), 1u);
    ASSERT_EQ(c[0].id(), first);
    EXPECT_EQ(this->s().enqueue(k), (enqueue_result{first, false}));
    // While scheduled for a retry: still held.
    EXPECT_TRUE(this->s().fail(first, c[0].token, fail_outcome::retry_at(at(50)), "x", at(2)));
    EXPECT_EQ(this->s().enqueue(k), (enqueue_result{first, false}));
    // After it finishes: free again.
    EXPECT_TRUE(this->s().cancel(first, at(3)));
    auto again = this->s().enqueue(k);
    EXPECT_TRUE(again.inserted);
    EXPECT_NE(again.id, first);
    // Freed by success and by death as well.
    for (auto& x : this->s().claim("q", 10, at(4), at(5), "w"))  // `again` and the two keyless
        EXPECT_TRUE(this->s().complete(x.id(), x.token, at(5)));
    EXPECT_EQ(this->state_of(again.id), job_state::succeeded);
    auto third = this->s().enqueue(k);
    EXPECT_TRUE(third.inserted);
    auto c3 = this->s().claim("q", 1, at(6), at(7), "w");
    ASSERT_EQ(c3.size(), 1u);
    ASSERT_EQ(c3[0].id(), third.id);
    EXPECT_TRUE(this->s().fail(third.id, c3[0].token, fail_outcome::dead(), "x", at(6)));
    EXPECT_TRUE(this->s().enqueue(k).inserted);
}

TYPED_TEST_P(StoreConformance, RetryDeadRevivesAndRespectsDedup) {
    auto k = make_job();
    k.dedup_key = "k";
    k.max_attempts = 1;
    const job_id id = this->add(k);
    auto c = this->claim_one("q", at(0), at(5));
    EXPECT_FALSE(this->s().retry_dead(id, at(1)));  // running, not dead
    EXPECT_TRUE(this->s().fail(id, c.token, fail_outcome::dead(), "x", at(1)));
    EXPECT_TRUE(this->s().retry_dead(id, at(2)));
    auto rec = this->s().find(id);
    EXPECT_EQ(rec->state, job_state::ready);
    EXPECT_EQ(rec->attempts, 0u);
    EXPECT_EQ(rec->run_at, at(2));
    EXPECT_EQ(rec->updated_at, at(2));
    EXPECT_FALSE(this->s().retry_dead(id, at(3)));                 // ready now
    EXPECT_EQ(this->s().enqueue(k), (enqueue_result{id, false}));  // holds its key again
    auto c2 = this->claim_one("q", at(3), at(5));
    EXPECT_EQ(c2.record.attempts, 1u);
    EXPECT_EQ(this->s().requeue_expired(at(5)), 1u);  // max_attempts 1: dead again
    EXPECT_EQ(this->state_of(id), job_state::dead);
    // While another live job holds the key, a revive would duplicate it: refused.
    const job_id holder = this->add(k);
    EXPECT_FALSE(this->s().retry_dead(id, at(6)));
    EXPECT_EQ(this->state_of(id), job_state::dead);
    EXPECT_TRUE(this->s().cancel(holder, at(7)));
    EXPECT_TRUE(this->s().retry_dead(id, at(8)));
    EXPECT_FALSE(this->s().retry_dead(id + holder + 1000, at(8)));
}

TYPED_TEST_P(StoreConformance, PurgeRemovesOldTerminalJobsOnly) {
    std::vector<claimed_job> c;
    for (int i = 0; i < 6; ++i)
        this->add(make_job());
    c = this->s().claim("q", 6, at(0), at(100), "w");
    ASSERT_EQ(c.size(), 6u);
    EXPECT_TRUE(this->s().complete(c[0].id(), c[0].token, at(10)));
    EXPECT_TRUE(this->s().complete(c[1].id(), c[1].token, at(20)));
    EXPECT_TRUE(this->s().complete(c[2].id(), c[2].token, at(15)));
    EXPECT_TRUE(this->s().fail(c[3].id(), c[3].token, fail_outcome::dead(), "x", at(10)));
    EXPECT_TRUE(this->s().cancel(c[4].id(), at(10)));
    EXPECT_THROW((void)this->s().purge(job_state::ready, at(100)), std::invalid_argument);
    EXPECT_THROW((void)this->s().purge(job_state::running, at(100)), std::invalid_argument);
    EXPECT_THROW((void)this->s().purge(job_state::scheduled, at(100)), std::invalid_argument);

    EXPECT_EQ(this->s().purge(job_state::succeeded, at(15)), 1u);  // updated_at < 15 only
    EXPECT_FALSE(this->s().find(c[0].id()).has_value());
    EXPECT_TRUE(this->s().find(c[2].id()).has_value());
    EXPECT_EQ(this->s().stats("q"), make_stats(0, 0, 1, 2, 1, 1));
    EXPECT_EQ(this->s().purge(job_state::succeeded, at(21)), 2u);
    EXPECT_EQ(this->s().purge(job_state::dead, at(11)), 1u);
    EXPECT_EQ(this->s().purge(job_state::cancelled, at(10)), 0u);
    EXPECT_EQ(this->s().purge(job_state::cancelled, at(11)), 1u);
    EXPECT_EQ(this->s().stats("q"), make_stats(0, 0, 1, 0, 0, 0));
    EXPECT_EQ(this->s().purge(job_state::succeeded, at(1000)), 0u);
    EXPECT_TRUE(this->s().find(c[5].id()).has_value());  // running: untouched
    EXPECT_TRUE(this->s().complete(c[5].id(), c[5].token, at(30)));
}

TYPED_TEST_P(StoreConformance, ListByStateInIdOrderWithLimit) {
    std::vector<job_id> ids;
    for (int i = 0; i < 5; ++i)
        ids.push_back(this->add(make_job("q", i)));  // priority = i
    this->add(make_job("other"));
    auto c = this->s().claim("q", 2, at(0), at(5), "w");  // the two highest priorities: ids[4], ids[3]
    ASSERT_EQ(c.size(), 2u);
    auto ready = this->s().list("q", job_state::ready, 10);
    ASSERT_EQ(ready.size(), 3u);
    EXPECT_EQ(ready[0].id, ids[0]);
    EXPECT_EQ(ready[1].id, ids[1]);
    EXPECT_EQ(ready[2].id, ids[2]);
    auto two = this->s().list("q", job_state::ready, 2);
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[1].id, ids[1]);
    auto running = this->s().list("q", job_state::running, 10);
    ASSERT_EQ(running.size(), 2u);
    EXPECT_EQ(running[0].id, ids[3]);
    EXPECT_EQ(running[0], *this->s().find(ids[3]));
    EXPECT_TRUE(this->s().list("q", job_state::dead, 10).empty());
    EXPECT_TRUE(this->s().list("q", job_state::ready, 0).empty());
    EXPECT_TRUE(this->s().list("nope", job_state::ready, 10).empty());
    EXPECT_EQ(this->s().list("other", job_state::ready, 10).size(), 1u);
}

TYPED_TEST_P(StoreConformance, StatsFollowEveryKindOfOperation) {
    auto& st = this->s();
    auto expect = [&](state_counts want) { EXPECT_EQ(st.stats("q"), want); };
    expect(make_stats(0, 0, 0, 0, 0, 0));
    auto later = make_job();
    later.run_at = at(10);
    const job_id s1 = this->add(later);  // scheduled
    expect(make_stats(1, 0, 0, 0, 0, 0));
    auto r = make_job();
    r.max_attempts = 2;
    const job_id a = this->add(r);
    const job_id b = this->add(r);
    const job_id c = this->add(r);
    expect(make_stats(1, 3, 0, 0, 0, 0));
    auto cl = st.claim("q", 3, at(1), at(5), "w");  // a, b, c running
    ASSERT_EQ(cl.size(), 3u);
    expect(make_stats(1, 0, 3, 0, 0, 0));
    EXPECT_TRUE(st.complete(a, cl[0].token, at(2)));
    expect(make_stats(1, 0, 2, 1, 0, 0));
    EXPECT_TRUE(st.fail(b, cl[1].token, fail_outcome::retry_at(at(20)), "x", at(2)));
    expect(make_stats(2, 0, 1, 1, 0, 0));
    EXPECT_TRUE(st.extend_lease(c, cl[2].token, at(6)));
    expect(make_stats(2, 0, 1, 1, 0, 0));
    EXPECT_EQ(st.requeue_expired(at(6)), 1u);  // c back to ready
    expect(make_stats(2, 1, 0, 1, 0, 0));
    auto cl2 = st.claim("q", 5, at(10), at(11), "w");  // s1 promoted and claimed with c
    ASSERT_EQ(cl2.size(), 2u);
    expect(make_stats(1, 0, 2, 1, 0, 0));
    EXPECT_EQ(st.requeue_expired(at(11)), 2u);  // c: attempt 2 of 2 -> dead; s1 ready
    expect(make_stats(1, 1, 0, 1, 1, 0));
    EXPECT_EQ(this->state_of(c), job_state::dead);
    EXPECT_TRUE(st.cancel(s1, at(12)));
    expect(make_stats(1, 0, 0, 1, 1, 1));
    EXPECT_TRUE(st.retry_dead(c, at(12)));
    expect(make_stats(1, 1, 0, 1, 0, 1));
    EXPECT_EQ(st.purge(job_state::succeeded, at(100)), 1u);
    expect(make_stats(1, 1, 0, 0, 0, 1));
    EXPECT_EQ(st.purge(job_state::cancelled, at(100)), 1u);
    expect(make_stats(1, 1, 0, 0, 0, 0));
    // Refused operations change no count.
    EXPECT_FALSE(st.complete(a, cl[0].token, at(13)));
    EXPECT_FALSE(st.cancel(a, at(13)));
    EXPECT_FALSE(st.retry_dead(b, at(13)));
    expect(make_stats(1, 1, 0, 0, 0, 0));
}

TYPED_TEST_P(StoreConformance, TokensAreFreshForEveryClaim) {
    auto r = make_job();
    r.max_attempts = 100;
    const job_id id = this->add(r);
    std::set<lease_token> seen;
    for (int i = 0; i < 50; ++i) {
        auto c = this->claim_one("q", at(i), at(i));
        EXPECT_TRUE(seen.insert(c.token).second) << "token reused";
        EXPECT_NE(c.token, 0u);
        EXPECT_EQ(this->s().requeue_expired(at(i)), 1u);
    }
    EXPECT_EQ(this->s().find(id)->attempts, 50u);
}

// Durable adapters only (the factory has reopen): everything survives a close and open,
// ids and tokens are never reused afterwards, and a lease taken before is still honoured.
TYPED_TEST_P(StoreConformance, StateSurvivesReopen) {
    if constexpr (!TestFixture::can_reopen) {
        GTEST_SKIP() << "the factory has no reopen(): not a durable adapter";
    } else {
        auto k = make_job();
        k.dedup_key = "k";
        const job_id a = this->add(k);
        const job_id b = this->add(make_job("q", 5));
        auto later = make_job();
        later.run_at = at(50);
        const job_id sched = this->add(later);
        auto cb = this->claim_one("q", at(1), at(10), "w");  // b (priority 5)
        ASSERT_EQ(cb.id(), b);
        auto ca = this->claim_one("q", at(1), at(10), "w");
        ASSERT_EQ(ca.id(), a);
        EXPECT_TRUE(this->s().complete(a, ca.token, at(2)));
        const auto stats = this->s().stats("q");
        const auto rb = this->s().find(b);
        const auto ra = this->s().find(a);
        this->reopen();
        EXPECT_EQ(this->s().stats("q"), stats);
        EXPECT_EQ(this->s().find(b), rb);
        EXPECT_EQ(this->s().find(a), ra);
        EXPECT_EQ(this->state_of(sched), job_state::scheduled);
        EXPECT_EQ(this->s().next_run_at("q"), at(50));
        EXPECT_TRUE(this->s().enqueue(k).inserted);  // a finished: key free
        const job_id fresh = this->add(make_job());
        EXPECT_NE(fresh, a);
        EXPECT_NE(fresh, b);
        EXPECT_NE(fresh, sched);
        EXPECT_TRUE(this->s().extend_lease(b, cb.token, at(20)));
        auto more = this->s().claim("q", 10, at(60), at(70), "w");
        for (auto& c : more)
            EXPECT_NE(c.token, cb.token);
        EXPECT_EQ(more.size(), 3u);
        EXPECT_TRUE(this->s().complete(b, cb.token, at(3)));
    }
}

}  // namespace millrace::test
