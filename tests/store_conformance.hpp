// tests/store_conformance.hpp: the conformance suite every millrace::task_store adapter must
// pass (docs/storage.md, "Writing and testing an adapter").
//
// Usage, in one test .cpp of the adapter:
//
//   struct my_factory {
//       using store_type = my_store;
//       static std::unique_ptr<my_store> make();                 // a fresh, empty store
//       // optional: static void reopen(std::unique_ptr<my_store>&);  close and open again
//       //           (durable adapters: the suite then checks that state survives a reopen)
//       // optional: static constexpr std::size_t model_operations = 100000;
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(my, store_conformance, ::testing::Types<my_factory>);
//   // and, in the adapter's stress binary (label it `stress`):
//   INSTANTIATE_TYPED_TEST_SUITE_P(my, store_conformance_stress, ::testing::Types<my_factory>);
//
// Several factories (e.g. one per durability mode) go in one ::testing::Types list.
// The stress tests and the model test size themselves with millrace::test::scaled().
#pragma once

#include <millrace/store/concepts.hpp>
#include <millrace/store/job.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/model.hpp"
#include "support/stress.hpp"

namespace millrace {
// Readable failure messages for records (gtest finds these by ADL).
inline void PrintTo(const job_record& r, std::ostream* os) {
    *os << "{id " << r.id << " queue " << r.queue << " " << to_string(r.state) << " prio " << r.priority
        << " run_at " << r.run_at.time_since_epoch().count() << " attempts " << r.attempts << "/"
        << r.max_attempts << " key '" << r.dedup_key << "' created " << r.created_at.time_since_epoch().count()
        << " updated " << r.updated_at.time_since_epoch().count() << " lease "
        << r.lease_until.time_since_epoch().count() << " token " << r.token << " worker '" << r.worker
        << "' error '" << r.last_error << "' payload " << r.payload.size() << "B}";
}
inline void PrintTo(const claimed_job& c, std::ostream* os) {
    *os << "claimed token " << c.token << " ";
    PrintTo(c.record, os);
}
}  // namespace millrace

namespace millrace::test {

/// A fixed epoch plus `s` seconds: tests speak in small integers of time.
inline job_time at(std::int64_t s) {
    return job_time{} + std::chrono::seconds{1'700'000'000} + std::chrono::seconds{s};
}

/// A record ready at at(0), created at at(0).
inline job_record make_job(std::string queue = "q", std::int32_t priority = 0) {
    job_record r;
    r.queue = std::move(queue);
    r.type = "email";
    r.payload = {std::byte{1}, std::byte{2}, std::byte{3}};
    r.priority = priority;
    r.run_at = at(0);
    r.created_at = at(0);
    r.partition_key = "p";
    return r;
}

/// The counts per state (compared with a store_stats, the totals only).
inline state_counts make_stats(std::uint64_t scheduled, std::uint64_t ready, std::uint64_t running,
                               std::uint64_t succeeded, std::uint64_t dead, std::uint64_t cancelled) {
    state_counts s;
    s.counts = {scheduled, ready, running, succeeded, dead, cancelled};
    return s;
}

template <class Factory>
class store_conformance : public ::testing::Test {
protected:
    using store_type = typename Factory::store_type;
    static_assert(task_store<store_type>, "the adapter does not model millrace::task_store");

    void SetUp() override { store_ = Factory::make(); }

    store_type& s() { return *store_; }

    static constexpr bool can_reopen = requires(std::unique_ptr<store_type>& p) { Factory::reopen(p); };
    void reopen() {
        if constexpr (can_reopen) Factory::reopen(store_);
    }

    job_id add(job_record r) {
        auto res = s().enqueue(std::move(r));
        EXPECT_TRUE(res.inserted);
        EXPECT_NE(res.id, 0u);
        return res.id;
    }
    job_state state_of(job_id id) {
        auto r = s().find(id);
        EXPECT_TRUE(r.has_value()) << "job " << id << " missing";
        return r ? r->state : job_state::cancelled;
    }
    claimed_job claim_one(std::string_view q, job_time now, job_time until, std::string_view worker = "w") {
        auto c = s().claim(q, 1, now, until, worker);
        EXPECT_EQ(c.size(), 1u);
        return c.empty() ? claimed_job{} : c.front();
    }

    std::unique_ptr<store_type> store_;
};

TYPED_TEST_SUITE_P(store_conformance);

TYPED_TEST_P(store_conformance, enqueue_assigns_ids_and_initial_state) {
    auto r = make_job();
    r.id = 777;                  // ignored
    r.attempts = 9;              // reset
    r.state = job_state::dead;   // derived from run_at
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

TYPED_TEST_P(store_conformance, enqueue_rejects_bad_records_and_changes_nothing) {
    auto no_queue = make_job("");
    EXPECT_THROW((void)this->s().enqueue(no_queue), std::invalid_argument);
    auto no_attempts = make_job();
    no_attempts.max_attempts = 0;
    EXPECT_THROW((void)this->s().enqueue(no_attempts), std::invalid_argument);
    std::vector<job_record> batch{make_job(), make_job(), no_attempts};
    EXPECT_THROW((void)this->s().enqueue_batch(batch), std::invalid_argument);
    EXPECT_EQ(this->s().stats("q"), store_stats{});
}

TYPED_TEST_P(store_conformance, enqueue_batch_returns_one_result_per_record_in_order) {
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

TYPED_TEST_P(store_conformance, claim_orders_by_priority_then_run_at_then_id) {
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
    for (auto& c : got) ids.push_back(c.id());
    EXPECT_EQ(ids, (std::vector<job_id>{p1_t3, p1_t9, p1_t9b, p0_t1, p0_t5, p0_t5b, pm1_t0}));
    EXPECT_TRUE(this->s().claim("q", 100, at(100), at(200), "w").empty());
}

TYPED_TEST_P(store_conformance, claim_respects_max_queue_and_sets_the_lease) {
    for (int i = 0; i < 5; ++i) this->add(make_job());
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

TYPED_TEST_P(store_conformance, scheduled_job_becomes_claimable_exactly_at_run_at) {
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

TYPED_TEST_P(store_conformance, next_run_at_is_the_earliest_pending_run_at) {
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
TYPED_TEST_P(store_conformance, lost_lease_refuses_complete_fail_and_extend) {
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

TYPED_TEST_P(store_conformance, wrong_token_on_a_running_job_changes_nothing) {
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

TYPED_TEST_P(store_conformance, late_completion_refused_even_before_requeue_reclaims) {
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

TYPED_TEST_P(store_conformance, fail_with_retry_schedules_and_counts_attempts) {
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

TYPED_TEST_P(store_conformance, fail_dead_goes_dead_at_once) {
    const job_id id = this->add(make_job());
    auto c = this->claim_one("q", at(0), at(5));
    EXPECT_TRUE(this->s().fail(id, c.token, fail_outcome::dead(), "fatal", at(2)));
    auto rec = this->s().find(id);
    EXPECT_EQ(rec->state, job_state::dead);
    EXPECT_EQ(rec->attempts, 1u);
    EXPECT_EQ(rec->last_error, "fatal");
    EXPECT_TRUE(this->s().claim("q", 1, at(3), at(5), "w").empty());
}

TYPED_TEST_P(store_conformance, extend_lease_keeps_the_job_through_requeue) {
    const job_id id = this->add(make_job());
    auto c = this->claim_one("q", at(0), at(5));
    EXPECT_TRUE(this->s().extend_lease(id, c.token, at(20)));
    EXPECT_EQ(this->s().find(id)->lease_until, at(20));
    EXPECT_EQ(this->s().requeue_expired(at(10)), 0u);
    EXPECT_EQ(this->state_of(id), job_state::running);
    EXPECT_EQ(this->s().requeue_expired(at(19)), 0u);
    EXPECT_TRUE(this->s().complete(id, c.token, at(19)));
}

TYPED_TEST_P(store_conformance, requeue_expired_counts_the_attempt_and_goes_dead_past_max) {
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

TYPED_TEST_P(store_conformance, single_attempt_job_dies_on_first_expiry) {
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

TYPED_TEST_P(store_conformance, cancel_ready_scheduled_and_running_jobs) {
    const job_id ready = this->add(make_job());
    auto later = make_job();
    later.run_at = at(10);
    const job_id scheduled = this->add(later);
    const job_id running = this->add(make_job());
    const job_id done = this->add(make_job());
    std::map<job_id, claimed_job> claims;
    // Claim order for equal keys is by id: ready (1st), running (3rd), done (4th).
    for (auto& c : this->s().claim("q", 3, at(1), at(5), "w")) claims[c.id()] = c;
    ASSERT_EQ(claims.size(), 3u);
    // Put `ready` back: fail with an immediate retry.
    EXPECT_TRUE(this->s().fail(ready, claims[ready].token, fail_outcome::retry_at(at(1)), "x", at(1)));
    EXPECT_TRUE(this->s().complete(done, claims[done].token, at(2)));

    EXPECT_TRUE(this->s().cancel(ready, at(3)));
    EXPECT_TRUE(this->s().cancel(scheduled, at(3)));
    EXPECT_TRUE(this->s().cancel(running, at(3)));
    EXPECT_FALSE(this->s().cancel(done, at(3)));       // finished: nothing to cancel
    EXPECT_FALSE(this->s().cancel(running, at(4)));    // already cancelled
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

TYPED_TEST_P(store_conformance, dedup_holds_while_live_and_frees_afterwards) {
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

TYPED_TEST_P(store_conformance, retry_dead_revives_and_respects_dedup) {
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
    EXPECT_FALSE(this->s().retry_dead(id, at(3)));  // ready now
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

TYPED_TEST_P(store_conformance, purge_removes_old_terminal_jobs_only) {
    std::vector<claimed_job> c;
    for (int i = 0; i < 6; ++i) this->add(make_job());
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

TYPED_TEST_P(store_conformance, list_by_state_in_id_order_with_limit) {
    std::vector<job_id> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(this->add(make_job("q", i)));  // priority = i
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

TYPED_TEST_P(store_conformance, stats_follow_every_kind_of_operation) {
    auto& st = this->s();
    auto expect = [&](state_counts want) { EXPECT_EQ(st.stats("q"), want); };
    expect(make_stats(0, 0, 0, 0, 0, 0));
    auto later = make_job();
    later.run_at = at(10);
    const job_id s1 = this->add(later);                  // scheduled
    expect(make_stats(1, 0, 0, 0, 0, 0));
    auto r = make_job();
    r.max_attempts = 2;
    const job_id a = this->add(r);
    const job_id b = this->add(r);
    const job_id c = this->add(r);
    expect(make_stats(1, 3, 0, 0, 0, 0));
    auto cl = st.claim("q", 3, at(1), at(5), "w");      // a, b, c running
    ASSERT_EQ(cl.size(), 3u);
    expect(make_stats(1, 0, 3, 0, 0, 0));
    EXPECT_TRUE(st.complete(a, cl[0].token, at(2)));
    expect(make_stats(1, 0, 2, 1, 0, 0));
    EXPECT_TRUE(st.fail(b, cl[1].token, fail_outcome::retry_at(at(20)), "x", at(2)));
    expect(make_stats(2, 0, 1, 1, 0, 0));
    EXPECT_TRUE(st.extend_lease(c, cl[2].token, at(6)));
    expect(make_stats(2, 0, 1, 1, 0, 0));
    EXPECT_EQ(st.requeue_expired(at(6)), 1u);           // c back to ready
    expect(make_stats(2, 1, 0, 1, 0, 0));
    auto cl2 = st.claim("q", 5, at(10), at(11), "w");   // s1 promoted and claimed with c
    ASSERT_EQ(cl2.size(), 2u);
    expect(make_stats(1, 0, 2, 1, 0, 0));
    EXPECT_EQ(st.requeue_expired(at(11)), 2u);          // c: attempt 2 of 2 -> dead; s1 ready
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

TYPED_TEST_P(store_conformance, tokens_are_fresh_for_every_claim) {
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
TYPED_TEST_P(store_conformance, state_survives_reopen) {
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
        for (auto& c : more) EXPECT_NE(c.token, cb.token);
        EXPECT_EQ(more.size(), 3u);
        EXPECT_TRUE(this->s().complete(b, cb.token, at(3)));
    }
}

// ---------------------------------------------------------------------------------------
// The randomized model test: random operations on the adapter and on model_store
// (tests/store/model.hpp), every result and every touched record compared, and the whole
// table every 256 operations. Ids and tokens are mapped (adapters number them their way).
// ---------------------------------------------------------------------------------------
template <class Store>
class model_checker {
public:
    explicit model_checker(Store& s, std::uint64_t seed) : s_(s), rng_(seed) {}

    void run(std::size_t ops) {
        for (std::size_t i = 0; i < ops && !::testing::Test::HasFailure(); ++i) {
            step(i);
            if (i % 256 == 255) compare_all(i);
        }
        compare_all(ops);
    }

private:
    static constexpr const char* queues[3] = {"a", "b", "c"};
    static constexpr const char* types[3] = {"t0", "t1", "t2"};

    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
    job_time t(std::int64_t s) { return at(s); }
    job_time near_now() { return at(now_ + static_cast<std::int64_t>(pick(9)) - 3); }

    job_record random_record() {
        job_record r = make_job(queues[pick(3)], static_cast<std::int32_t>(pick(3)) - 1);
        r.type = types[pick(3)];
        r.created_at = t(now_);
        r.run_at = near_now();
        r.max_attempts = static_cast<std::uint32_t>(1 + pick(3));
        if (pick(3) == 0) r.dedup_key = "k" + std::to_string(pick(4));
        r.payload.resize(pick(4), std::byte{7});
        return r;
    }

    // A model id, and its adapter id: a known job (purged ones included) or an unknown id.
    std::pair<job_id, job_id> random_job() {
        if (to_store_.empty() || pick(20) == 0) return {1'000'000'000, 999'999'937};
        auto it = to_store_.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(pick(to_store_.size())));
        return *it;
    }
    // A model token and its adapter token for a job: mostly the current one, sometimes an old
    // one, sometimes one never issued.
    std::pair<lease_token, lease_token> random_token(job_id model_id) {
        auto rec = model_.find(model_id);
        const std::size_t roll = pick(10);
        if (rec && rec->token != 0 && roll < 7) return {rec->token, tok_to_store_.at(rec->token)};
        auto& hist = history_[model_id];
        if (!hist.empty() && roll < 9) {
            lease_token m = hist[pick(hist.size())];
            return {m, tok_to_store_.at(m)};
        }
        return {~lease_token{0}, ~lease_token{0} - 1};
    }

    void learn(const enqueue_result& m, const enqueue_result& r, const char* what) {
        ASSERT_EQ(m.inserted, r.inserted) << what;
        if (m.inserted) {
            ASSERT_EQ(to_store_.count(m.id), 0u);
            to_store_[m.id] = r.id;
            to_model_[r.id] = m.id;
        } else {
            ASSERT_EQ(to_model_.at(r.id), m.id) << what << ": dedup hit names another job";
        }
    }

    // The adapter's record in the model's numbering.
    job_record mapped(job_record r) {
        r.id = to_model_.at(r.id);
        if (r.token != 0) r.token = tok_to_model_.at(r.token);
        return r;
    }

    void compare_job(job_id model_id, job_id store_id, std::size_t op) {
        auto m = model_.find(model_id);
        auto r = s_.find(store_id);
        ASSERT_EQ(m.has_value(), r.has_value()) << "op " << op << " job " << model_id;
        if (m) {
            ASSERT_EQ(*m, mapped(*r)) << "op " << op << " job " << model_id;
        }
    }

    void compare_all(std::size_t op) {
        for (const char* q : queues) {
            ASSERT_EQ(model_.stats(q), s_.stats(q)) << "op " << op << " queue " << q;
            ASSERT_EQ(model_.next_run_at(q), s_.next_run_at(q)) << "op " << op << " queue " << q;
            for (job_state st : all_job_states) {
                auto ml = model_.list(q, st, 1'000'000);
                auto rl = s_.list(q, st, 1'000'000);
                ASSERT_EQ(ml.size(), rl.size()) << "op " << op;
                for (std::size_t i = 0; i < ml.size(); ++i) ASSERT_EQ(ml[i], mapped(rl[i])) << "op " << op;
            }
        }
        for (auto [m, r] : to_store_) compare_job(m, r, op);
    }

    void step(std::size_t op) {
        if (pick(4) == 0) now_ += static_cast<std::int64_t>(pick(3));
        const job_time now = t(now_);
        switch (pick(16)) {
            case 0:
            case 1:
            case 2: {
                auto r = random_record();
                if (pick(50) == 0) r.max_attempts = 0;
                if (r.max_attempts == 0) {
                    EXPECT_THROW((void)model_.enqueue(r), std::invalid_argument);
                    EXPECT_THROW((void)s_.enqueue(r), std::invalid_argument);
                    return;
                }
                learn(model_.enqueue(r), s_.enqueue(r), "enqueue");
                return;
            }
            case 3: {
                std::vector<job_record> batch(1 + pick(3));
                for (auto& r : batch) r = random_record();
                auto rr = s_.enqueue_batch(batch);
                ASSERT_EQ(rr.size(), batch.size());
                for (std::size_t i = 0; i < batch.size(); ++i) learn(model_.enqueue(batch[i]), rr[i], "batch");
                return;
            }
            case 4:
            case 5:
            case 6: {
                const char* q = queues[pick(3)];
                const std::size_t max = pick(5);
                const job_time until = at(now_ + static_cast<std::int64_t>(pick(6)));
                const std::string worker = "w" + std::to_string(pick(3));
                std::vector<std::string> only;  // sometimes a type filter
                for (const char* ty : types)
                    if (pick(4) == 0) only.emplace_back(ty);
                auto mc = model_.claim(q, max, now, until, worker, only);
                auto rc = s_.claim(q, max, now, until, worker, only);
                ASSERT_EQ(mc.size(), rc.size()) << "op " << op << " claim";
                for (std::size_t i = 0; i < mc.size(); ++i) {
                    ASSERT_EQ(tok_to_store_.count(mc[i].token), 0u);
                    ASSERT_EQ(tok_to_model_.count(rc[i].token), 0u) << "op " << op << ": adapter reused a token";
                    ASSERT_EQ(rc[i].token, rc[i].record.token);
                    tok_to_store_[mc[i].token] = rc[i].token;
                    tok_to_model_[rc[i].token] = mc[i].token;
                    history_[mc[i].id()].push_back(mc[i].token);
                    ASSERT_EQ(mc[i].record, mapped(rc[i].record)) << "op " << op << " claim #" << i;
                }
                return;
            }
            case 7: {
                auto [m, r] = random_job();
                auto [mt, rt] = random_token(m);
                ASSERT_EQ(model_.complete(m, mt, now), s_.complete(r, rt, now)) << "op " << op << " complete";
                compare_job(m, r, op);
                return;
            }
            case 8: {
                const std::size_t kind = pick(3);
                if (kind == 0) {  // release
                    auto [m, r] = random_job();
                    auto [mt, rt] = random_token(m);
                    ASSERT_EQ(model_.release(m, mt, now), s_.release(r, rt, now)) << "op " << op << " release";
                    compare_job(m, r, op);
                    return;
                }
                std::vector<std::pair<job_id, job_id>> jobs(1 + pick(4));
                for (auto& j : jobs) j = random_job();
                if (kind == 1) {  // complete_many
                    std::vector<lease_ref> mi, ri;
                    for (auto [m, r] : jobs) {
                        auto [mt, rt] = random_token(m);
                        mi.push_back({m, mt});
                        ri.push_back({r, rt});
                    }
                    ASSERT_EQ(model_.complete_many(mi, now), s_.complete_many(ri, now)) << "op " << op << " complete_many";
                } else {  // fail_many
                    std::vector<failure> mi, ri;
                    for (auto [m, r] : jobs) {
                        auto [mt, rt] = random_token(m);
                        const fail_outcome o = pick(3) == 0 ? fail_outcome::dead() : fail_outcome::retry_at(near_now());
                        const std::string err = "m" + std::to_string(op);
                        mi.push_back({m, mt, o, err});
                        ri.push_back({r, rt, o, err});
                    }
                    ASSERT_EQ(model_.fail_many(mi, now), s_.fail_many(ri, now)) << "op " << op << " fail_many";
                }
                for (auto [m, r] : jobs) compare_job(m, r, op);
                return;
            }
            case 9: {
                auto [m, r] = random_job();
                auto [mt, rt] = random_token(m);
                const fail_outcome o = pick(3) == 0 ? fail_outcome::dead() : fail_outcome::retry_at(near_now());
                const std::string err = "e" + std::to_string(op);
                ASSERT_EQ(model_.fail(m, mt, o, err, now), s_.fail(r, rt, o, err, now)) << "op " << op << " fail";
                compare_job(m, r, op);
                return;
            }
            case 10: {
                auto [m, r] = random_job();
                auto [mt, rt] = random_token(m);
                const job_time until = at(now_ + static_cast<std::int64_t>(pick(6)));
                ASSERT_EQ(model_.extend_lease(m, mt, until), s_.extend_lease(r, rt, until)) << "op " << op;
                compare_job(m, r, op);
                return;
            }
            case 11:
                ASSERT_EQ(model_.requeue_expired(now), s_.requeue_expired(now)) << "op " << op << " requeue";
                return;
            case 12: {
                auto [m, r] = random_job();
                ASSERT_EQ(model_.cancel(m, now), s_.cancel(r, now)) << "op " << op << " cancel";
                compare_job(m, r, op);
                return;
            }
            case 13: {
                auto [m, r] = random_job();
                ASSERT_EQ(model_.retry_dead(m, now), s_.retry_dead(r, now)) << "op " << op << " retry_dead";
                compare_job(m, r, op);
                return;
            }
            case 14: {
                if (pick(4) != 0) {  // purge rarely enough that terminal jobs are seen
                    const char* q = queues[pick(3)];
                    ASSERT_EQ(model_.next_run_at(q), s_.next_run_at(q)) << "op " << op;
                    ASSERT_EQ(model_.stats(q), s_.stats(q)) << "op " << op;
                    return;
                }
                const job_state st = all_job_states[3 + pick(3)];
                const job_time older = at(now_ - static_cast<std::int64_t>(pick(20)));
                ASSERT_EQ(model_.purge(st, older), s_.purge(st, older)) << "op " << op << " purge";
                return;
            }
            default: {
                const char* q = queues[pick(3)];
                const job_state st = all_job_states[pick(6)];
                const std::size_t limit = pick(6);
                auto ml = model_.list(q, st, limit);
                auto rl = s_.list(q, st, limit);
                ASSERT_EQ(ml.size(), rl.size()) << "op " << op << " list";
                for (std::size_t i = 0; i < ml.size(); ++i) ASSERT_EQ(ml[i], mapped(rl[i])) << "op " << op;
                return;
            }
        }
    }

    Store& s_;
    model_store model_;
    std::mt19937_64 rng_;
    std::int64_t now_ = 0;
    std::map<job_id, job_id> to_store_;
    std::unordered_map<job_id, job_id> to_model_;
    std::unordered_map<lease_token, lease_token> tok_to_store_, tok_to_model_;
    std::unordered_map<job_id, std::vector<lease_token>> history_;
};

template <class Factory>
constexpr std::size_t model_operations() {
    if constexpr (requires { Factory::model_operations; }) {
        return Factory::model_operations;
    } else {
        return 100'000;
    }
}

TYPED_TEST_P(store_conformance, randomized_against_the_model) {
    // Several seeds over fresh stores: small tables, so every path is hit often; 100k
    // operations in all at scale 1.
    const std::size_t total = scaled(model_operations<TypeParam>(), 5'000);
    const std::size_t per_seed = 10'000;
    for (std::uint64_t seed = 1; seed * per_seed <= std::max(total, per_seed); ++seed) {
        auto fresh = TypeParam::make();
        model_checker<typename TypeParam::store_type> checker(*fresh, seed);
        checker.run(std::min(per_seed, total));
        if (::testing::Test::HasFailure()) {
            ADD_FAILURE() << "model test seed " << seed;
            return;
        }
    }
}

REGISTER_TYPED_TEST_SUITE_P(store_conformance, enqueue_assigns_ids_and_initial_state,
                            enqueue_rejects_bad_records_and_changes_nothing,
                            enqueue_batch_returns_one_result_per_record_in_order,
                            claim_orders_by_priority_then_run_at_then_id,
                            claim_respects_max_queue_and_sets_the_lease,
                            scheduled_job_becomes_claimable_exactly_at_run_at,
                            next_run_at_is_the_earliest_pending_run_at,
                            lost_lease_refuses_complete_fail_and_extend,
                            wrong_token_on_a_running_job_changes_nothing,
                            late_completion_refused_even_before_requeue_reclaims,
                            fail_with_retry_schedules_and_counts_attempts, fail_dead_goes_dead_at_once,
                            extend_lease_keeps_the_job_through_requeue,
                            requeue_expired_counts_the_attempt_and_goes_dead_past_max,
                            single_attempt_job_dies_on_first_expiry, cancel_ready_scheduled_and_running_jobs,
                            dedup_holds_while_live_and_frees_afterwards,
                            retry_dead_revives_and_respects_dedup, purge_removes_old_terminal_jobs_only,
                            list_by_state_in_id_order_with_limit, stats_follow_every_kind_of_operation,
                            tokens_are_fresh_for_every_claim, state_survives_reopen,
                            randomized_against_the_model);

// ---------------------------------------------------------------------------------------
// Stress: many threads, conservation checked (label the binary `stress`).
// ---------------------------------------------------------------------------------------
template <class Factory>
class store_conformance_stress : public ::testing::Test {
protected:
    using store_type = typename Factory::store_type;
    static_assert(task_store<store_type>, "the adapter does not model millrace::task_store");
    void SetUp() override { store_ = Factory::make(); }
    store_type& s() { return *store_; }
    std::unique_ptr<store_type> store_;
};

TYPED_TEST_SUITE_P(store_conformance_stress);

// 8 claimers, 2 producers enqueueing while they claim: every job is claimed exactly once
// and completed.
TYPED_TEST_P(store_conformance_stress, eight_claimers_claim_each_job_exactly_once) {
    const std::size_t jobs = scaled(100'000);
    constexpr int claimers = 8;
    constexpr int producers = 2;
    auto& st = this->s();
    std::vector<std::atomic<std::uint32_t>> claimed_by_index(jobs);
    // Half before the claimers start, half while they run.
    for (std::size_t i = 0; i < jobs / 2; ++i) {
        auto r = make_job("q", static_cast<std::int32_t>(i % 3));
        r.payload.assign(sizeof(std::size_t), std::byte{0});
        std::memcpy(r.payload.data(), &i, sizeof i);
        (void)st.enqueue(std::move(r));
    }
    std::atomic<int> producers_left{producers};
    std::atomic<std::size_t> completed{0};
    std::atomic<std::size_t> bad_completes{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            std::vector<job_record> batch;
            for (std::size_t i = jobs / 2 + static_cast<std::size_t>(p); i < jobs; i += producers) {
                auto r = make_job("q", static_cast<std::int32_t>(i % 3));
                r.payload.assign(sizeof(std::size_t), std::byte{0});
                std::memcpy(r.payload.data(), &i, sizeof i);
                batch.push_back(std::move(r));
                if (batch.size() == 7) {
                    (void)st.enqueue_batch(batch);
                    batch.clear();
                }
            }
            (void)st.enqueue_batch(batch);
            producers_left.fetch_sub(1, std::memory_order_release);  // (R1) pairs with (A1)
        });
    }
    for (int c = 0; c < claimers; ++c) {
        threads.emplace_back([&, c] {
            std::mt19937 rng(static_cast<unsigned>(c));
            const std::string worker = "w" + std::to_string(c);
            for (;;) {
                const bool done_producing = producers_left.load(std::memory_order_acquire) == 0;  // (A1)
                auto got = st.claim("q", 1 + rng() % 16, at(1), at(1'000'000), worker);
                if (got.empty()) {
                    if (done_producing) return;  // everything enqueued was visible to this claim
                    std::this_thread::yield();
                    continue;
                }
                for (auto& j : got) {
                    std::size_t i = 0;
                    std::memcpy(&i, j.record.payload.data(), sizeof i);
                    claimed_by_index[i].fetch_add(1, std::memory_order_relaxed);  // counted, joined below
                    if (!st.complete(j.id(), j.token, at(2))) bad_completes.fetch_add(1, std::memory_order_relaxed);
                    completed.fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    std::size_t never = 0, twice = 0;
    for (auto& c : claimed_by_index) {
        const auto v = c.load(std::memory_order_relaxed);
        never += v == 0;
        twice += v > 1;
    }
    EXPECT_EQ(never, 0u);
    EXPECT_EQ(twice, 0u);
    EXPECT_EQ(bad_completes.load(), 0u);
    EXPECT_EQ(completed.load(), jobs);
    EXPECT_EQ(st.stats("q"), make_stats(0, 0, 0, jobs, 0, 0));
}

// Claimers whose leases expire under them while a requeuer moves time forward and requeues:
// each job ends succeeded (exactly one complete accepted, by the holder of its last lease)
// or dead (no complete accepted), nothing stays live.
TYPED_TEST_P(store_conformance_stress, claimers_race_requeuer_on_expiring_leases) {
    const std::size_t jobs = scaled(20'000);
    constexpr int claimers = 4;
    auto& st = this->s();
    std::vector<job_id> ids;
    ids.reserve(jobs);
    for (std::size_t i = 0; i < jobs; ++i) {
        auto r = make_job("q");
        r.max_attempts = 3;
        ids.push_back(st.enqueue(std::move(r)).id);
    }
    std::unordered_map<job_id, std::size_t> index_of;
    for (std::size_t i = 0; i < jobs; ++i) index_of[ids[i]] = i;
    std::vector<std::atomic<std::uint32_t>> accepted(jobs);
    std::vector<std::atomic<lease_token>> accepted_token(jobs);
    std::atomic<std::int64_t> now{0};
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> refused{0};

    std::atomic<std::size_t> requeued{0};
    std::thread requeuer([&] {
        while (!stop.load(std::memory_order_acquire)) {  // (A2) pairs with (R2)
            const std::int64_t t = now.fetch_add(1, std::memory_order_relaxed) + 1;
            requeued.fetch_add(st.requeue_expired(at(t)), std::memory_order_relaxed);
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> threads;
    std::atomic<int> idle_claimers{0};
    for (int c = 0; c < claimers; ++c) {
        threads.emplace_back([&, c] {
            std::mt19937 rng(static_cast<unsigned>(c) + 100);
            const std::string worker = "w" + std::to_string(c);
            int empty_rounds = 0;
            while (empty_rounds < 200) {
                const std::int64_t t = now.load(std::memory_order_relaxed);
                auto got = st.claim("q", 1 + rng() % 8, at(t), at(t + 1 + static_cast<std::int64_t>(rng() % 3)), worker);
                if (got.empty()) {
                    ++empty_rounds;
                    std::this_thread::yield();
                    continue;
                }
                empty_rounds = 0;
                for (auto& j : got) {
                    if (rng() % 4 == 0)  // a slow worker: its lease probably expires
                        for (int y = 0; y < 20; ++y) std::this_thread::yield();
                    if (rng() % 32 == 0) {
                        // A worker that is surely late: it waits (bounded) until the requeuer
                        // has taken the job away, so that refusals happen on every run.
                        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
                        for (;;) {
                            auto cur = st.find(j.id());
                            if (!cur || cur->state != job_state::running || cur->token != j.token) break;
                            if (std::chrono::steady_clock::now() > give_up) break;
                            std::this_thread::yield();
                        }
                    }
                    if (rng() % 8 == 0) (void)st.extend_lease(j.id(), j.token, at(now.load() + 2));
                    const std::size_t i = index_of.at(j.id());
                    if (st.complete(j.id(), j.token, at(now.load(std::memory_order_relaxed)))) {
                        accepted[i].fetch_add(1, std::memory_order_relaxed);
                        accepted_token[i].store(j.token, std::memory_order_relaxed);
                    } else {
                        refused.fetch_add(1, std::memory_order_relaxed);
                    }
                }
            }
            idle_claimers.fetch_add(1);
        });
    }
    for (auto& t : threads) t.join();
    // Drain what is left (expired leases of the last rounds), single-threaded.
    for (int round = 0; round < 100 && st.stats("q").live() != 0; ++round) {
        const std::int64_t t = now.fetch_add(10) + 10;
        requeued.fetch_add(st.requeue_expired(at(t)), std::memory_order_relaxed);
        for (auto& j : st.claim("q", jobs, at(t), at(t + 5), "drain")) {
            if (st.complete(j.id(), j.token, at(t))) {
                const std::size_t i = index_of.at(j.id());
                accepted[i].fetch_add(1, std::memory_order_relaxed);
                accepted_token[i].store(j.token, std::memory_order_relaxed);
            }
        }
    }
    stop.store(true, std::memory_order_release);  // (R2)
    requeuer.join();

    std::size_t succeeded = 0, dead = 0;
    for (std::size_t i = 0; i < jobs; ++i) {
        auto rec = st.find(ids[i]);
        ASSERT_TRUE(rec.has_value());
        const auto n = accepted[i].load();
        if (rec->state == job_state::succeeded) {
            ++succeeded;
            ASSERT_EQ(n, 1u) << "job " << ids[i] << " completed " << n << " times";
            // Only the holder of the job's last lease may complete it.
            ASSERT_EQ(accepted_token[i].load(), rec->token) << "a stale lease completed job " << ids[i];
        } else {
            ASSERT_EQ(rec->state, job_state::dead) << "job " << ids[i] << " left " << to_string(rec->state);
            ++dead;
            ASSERT_EQ(n, 0u) << "dead job " << ids[i] << " had a complete accepted";
            ASSERT_EQ(rec->attempts, 3u);
        }
    }
    EXPECT_EQ(succeeded + dead, jobs);
    EXPECT_GT(succeeded, 0u);
    // The race happened: leases expired under their workers, and late completes were refused.
    EXPECT_GT(requeued.load(), 0u);
    EXPECT_GT(refused.load(), 0u);
    EXPECT_EQ(st.stats("q"), make_stats(0, 0, 0, succeeded, dead, 0));
    std::printf("race: %zu succeeded, %zu dead, %zu refused completes, %zu requeued\n", succeeded, dead,
                refused.load(), requeued.load());
}


// 8 queues, one claimer per queue (an adapter that shards by queue serves them from
// different shards), while one thread moves time forward, requeues expired leases and purges
// succeeded jobs. Claimers leave some jobs unfinished (their leases expire and the jobs come
// back). Each job is completed exactly once; what is purged plus what is left succeeded is
// every job; nothing stays live.
TYPED_TEST_P(store_conformance_stress, per_queue_claimers_with_concurrent_requeue_and_purge) {
    constexpr int queues = 8;
    const std::size_t per_queue = std::max<std::size_t>(scaled(5'000), 50);
    const std::size_t jobs = per_queue * queues;
    auto& st = this->s();
    auto qname = [](int q) { return "stress-queue-" + std::to_string(q); };
    for (std::size_t i = 0; i < jobs; ++i) {
        auto r = make_job(qname(static_cast<int>(i % queues)), static_cast<std::int32_t>(i % 4));
        r.max_attempts = 1'000'000;  // nothing goes dead: every job must end succeeded
        r.payload.assign(sizeof(std::size_t), std::byte{0});
        std::memcpy(r.payload.data(), &i, sizeof i);
        ASSERT_TRUE(st.enqueue(std::move(r)).inserted);
    }
    std::vector<std::atomic<std::uint32_t>> accepted(jobs);
    std::atomic<std::int64_t> now{1};
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> requeued{0}, purged{0}, abandoned{0}, timed_out{0};
    std::thread keeper([&] {
        for (std::uint64_t round = 0; !stop.load(std::memory_order_acquire); ++round) {  // (A3) pairs with (R3)
            const std::int64_t t = now.fetch_add(1, std::memory_order_relaxed) + 1;
            requeued.fetch_add(st.requeue_expired(at(t)), std::memory_order_relaxed);
            if (round % 4 == 0) purged.fetch_add(st.purge(job_state::succeeded, at(t)), std::memory_order_relaxed);
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> claimers;
    for (int q = 0; q < queues; ++q) {
        claimers.emplace_back([&, q] {
            std::mt19937 rng(static_cast<unsigned>(q) + 7);
            const std::string queue = qname(q);
            const std::string worker = "w" + std::to_string(q);
            std::size_t done = 0;
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
            while (done < per_queue) {
                if (std::chrono::steady_clock::now() > give_up) {
                    timed_out.fetch_add(1);
                    return;
                }
                const std::int64_t t = now.load(std::memory_order_relaxed);
                auto got = st.claim(queue, 1 + rng() % 16, at(t), at(t + 2), worker);
                if (got.empty()) {
                    std::this_thread::yield();  // the abandoned ones come back after requeue
                    continue;
                }
                for (auto& j : got) {
                    if (j.record.queue != queue) {
                        ADD_FAILURE() << "claimed a job of " << j.record.queue << " from " << queue;
                        continue;
                    }
                    if (rng() % 16 == 0) {  // abandoned: the lease expires, the job comes back
                        abandoned.fetch_add(1, std::memory_order_relaxed);
                        continue;
                    }
                    if (st.complete(j.id(), j.token, at(now.load(std::memory_order_relaxed)))) {
                        std::size_t i = 0;
                        std::memcpy(&i, j.record.payload.data(), sizeof i);
                        accepted[i].fetch_add(1, std::memory_order_relaxed);
                        ++done;
                    }
                }
            }
        });
    }
    for (auto& t : claimers) t.join();
    stop.store(true, std::memory_order_release);  // (R3)
    keeper.join();
    ASSERT_EQ(timed_out.load(), 0u) << "a queue never drained";
    std::size_t never = 0, twice = 0;
    for (auto& a : accepted) {
        never += a.load() == 0;
        twice += a.load() > 1;
    }
    EXPECT_EQ(never, 0u);
    EXPECT_EQ(twice, 0u);
    EXPECT_GT(abandoned.load(), 0u);
    EXPECT_GT(requeued.load(), 0u);
    std::uint64_t succeeded_left = 0;
    for (int q = 0; q < queues; ++q) {
        const store_stats s = st.stats(qname(q));
        EXPECT_EQ(s.live(), 0u) << qname(q);
        EXPECT_EQ(s.count(job_state::dead) + s.count(job_state::cancelled), 0u);
        succeeded_left += s.count(job_state::succeeded);
    }
    EXPECT_EQ(purged.load() + succeeded_left, jobs);
    EXPECT_EQ(st.purge(job_state::succeeded, at(now.load() + 1'000'000)), succeeded_left);
    for (int q = 0; q < queues; ++q) EXPECT_EQ(st.stats(qname(q)), store_stats{});
    std::printf("per-queue: %zu jobs, %zu abandoned, %zu requeued, %zu purged while running\n", jobs,
                abandoned.load(), requeued.load(), purged.load());
}

REGISTER_TYPED_TEST_SUITE_P(store_conformance_stress, eight_claimers_claim_each_job_exactly_once,
                            claimers_race_requeuer_on_expiring_leases,
                            per_queue_claimers_with_concurrent_requeue_and_purge);

}  // namespace millrace::test
