// tests/store/conformance/batch.hpp: complete_many and fail_many give one result per item,
// each exactly what the single call gives (token checks included).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "store/conformance/fixture.hpp"

namespace millrace::test {

template <class Factory>
class StoreBatch : public store_fixture<Factory> {};
TYPED_TEST_SUITE_P(StoreBatch);

TYPED_TEST_P(StoreBatch, CompleteManyOneResultPerItem) {
    std::vector<job_id> ids;
    for (int i = 0; i < 4; ++i)
        ids.push_back(this->add(make_job()));
    auto c = this->s().claim("q", 4, at(0), at(100), "w");
    ASSERT_EQ(c.size(), 4u);
    const std::vector<lease_ref> items{
        {c[0].id(), c[0].token},      // ok
        {c[1].id(), c[1].token + 7},  // wrong token
        {c[2].id(), c[2].token},      // ok
        {c[0].id(), c[0].token},      // already completed by the first item
        {999'999, 5},                 // unknown
        {0, 0},                       // never an id
    };
    const std::vector<bool> got = this->s().complete_many(items, at(1));
    EXPECT_EQ(got, (std::vector<bool>{true, false, true, false, false, false}));
    EXPECT_EQ(this->get(c[0].id()).state, job_state::succeeded);
    EXPECT_EQ(this->get(c[1].id()).state, job_state::running);
    EXPECT_EQ(this->get(c[2].id()).state, job_state::succeeded);
    EXPECT_EQ(this->get(c[3].id()).state, job_state::running);
    EXPECT_EQ(this->get(c[0].id()).updated_at, at(1));
    EXPECT_TRUE(this->s().complete_many(std::vector<lease_ref>{}, at(1)).empty());
    this->reopen();
    EXPECT_EQ(this->get(c[2].id()).state, job_state::succeeded);
    EXPECT_EQ(this->get(c[1].id()).state, job_state::running);
}

TYPED_TEST_P(StoreBatch, FailManyOneResultPerItem) {
    std::vector<job_id> ids;
    for (int i = 0; i < 3; ++i)
        ids.push_back(this->add(make_job()));
    auto c = this->s().claim("q", 3, at(0), at(100), "w");
    ASSERT_EQ(c.size(), 3u);
    const std::vector<failure> items{
        {c[0].id(), c[0].token, fail_outcome::retry_at(at(30)), "retry"},
        {c[1].id(), c[1].token, fail_outcome::dead(), "fatal"},
        {c[2].id(), c[2].token + 1, fail_outcome::dead(), "late worker"},
    };
    EXPECT_EQ(this->s().fail_many(items, at(2)), (std::vector<bool>{true, true, false}));
    const job_record r0 = this->get(c[0].id());
    EXPECT_EQ(r0.state, job_state::scheduled);
    EXPECT_EQ(r0.run_at, at(30));
    EXPECT_EQ(r0.last_error, "retry");
    EXPECT_EQ(this->get(c[1].id()).state, job_state::dead);
    EXPECT_EQ(this->get(c[1].id()).last_error, "fatal");
    EXPECT_EQ(this->get(c[2].id()).state, job_state::running);
    EXPECT_EQ(this->get(c[2].id()).last_error, "");
}

// Two fresh stores driven by the same random workload, one acknowledging with single calls,
// the other with the batched calls: every result and every record equal.
TYPED_TEST_P(StoreBatch, BatchedEqualsSingleRandomized) {
    auto other = TypeParam::make();
    auto& one = this->s();
    auto& many = *other;
    std::mt19937_64 rng(17);
    const auto pick = [&](std::uint64_t n) {
        return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng);
    };
    std::vector<job_id> ids;
    for (int round = 0; round < 40; ++round) {
        const job_time now = at(round);
        for (int k = 0; k < 6; ++k) {
            job_record r = make_job("q", static_cast<std::int32_t>(pick(3)));
            r.created_at = now;
            r.run_at = now;
            r.max_attempts = static_cast<std::uint32_t>(1 + pick(3));
            const auto a = one.enqueue(r);
            const auto b = many.enqueue(r);
            ASSERT_EQ(a, b);
            ids.push_back(a.id);
        }
        const auto ca = one.claim("q", 1 + pick(8), now, at(round + 3), "w");
        const auto cb = many.claim("q", ca.size(), now, at(round + 3), "w");
        ASSERT_EQ(ca, cb) << "round " << round;
        // Items: the claimed ones (some with a wrong token), and stale or unknown ones.
        std::vector<lease_ref> acks;
        std::vector<failure> fails;
        for (const auto& c : ca) {
            const lease_token t = pick(6) == 0 ? c.token + 1 : c.token;
            if (pick(2) == 0) {
                acks.push_back({c.id(), t});
            } else {
                const fail_outcome o =
                    pick(3) == 0 ? fail_outcome::dead()
                                 : fail_outcome::retry_at(at(round + static_cast<std::int64_t>(pick(3))));
                fails.push_back({c.id(), t, o, "e" + std::to_string(round)});
            }
        }
        if (!ids.empty()) acks.push_back({ids[pick(ids.size())], 1 + pick(50)});
        std::vector<bool> singles_ack, singles_fail;
        for (const auto& a : acks)
            singles_ack.push_back(one.complete(a.id, a.token, now));
        for (const auto& f : fails)
            singles_fail.push_back(one.fail(f.id, f.token, f.outcome, f.error, now));
        ASSERT_EQ(many.complete_many(acks, now), singles_ack) << "round " << round;
        ASSERT_EQ(many.fail_many(fails, now), singles_fail) << "round " << round;
        ASSERT_EQ(one.requeue_expired(now), many.requeue_expired(now));
        for (job_id id : ids)
            ASSERT_EQ(one.find(id), many.find(id)) << "round " << round << " job " << id;
        ASSERT_EQ(one.stats("q"), many.stats("q"));
    }
}

REGISTER_TYPED_TEST_SUITE_P(StoreBatch, CompleteManyOneResultPerItem, FailManyOneResultPerItem,
                            BatchedEqualsSingleRandomized);

}  // namespace millrace::test
