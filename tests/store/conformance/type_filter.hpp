// tests/store/conformance/type_filter.hpp: claims filtered by job type leave the other types
// ready in their place, and stats count per type.
#pragma once

#include <string>
#include <vector>

#include "store/conformance/fixture.hpp"

namespace millrace::test {

template <class Factory>
class StoreTypeFilter : public store_fixture<Factory> {};
TYPED_TEST_SUITE_P(StoreTypeFilter);

TYPED_TEST_P(StoreTypeFilter, ClaimsOnlyTheTypesAsked) {
    // Claim order over all types: a5 (prio 1), then b1 a2 b3 a4 c6 by id.
    const job_id b1 = this->add(typed_job("b"));
    const job_id a2 = this->add(typed_job("a"));
    const job_id b3 = this->add(typed_job("b"));
    const job_id a4 = this->add(typed_job("a"));
    const job_id a5 = this->add(typed_job("a", "q", 1));
    const job_id c6 = this->add(typed_job("c"));
    const std::vector<std::string> only_b{"b"};
    auto got = this->s().claim("q", 10, at(0), at(100), "w", only_b);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].id(), b1);
    EXPECT_EQ(got[1].id(), b3);
    // The others stayed ready, in their order; a and c together:
    const std::vector<std::string> a_or_c{"c", "a"};
    got = this->s().claim("q", 3, at(0), at(100), "w", a_or_c);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].id(), a5);
    EXPECT_EQ(got[1].id(), a2);
    EXPECT_EQ(got[2].id(), a4);
    EXPECT_TRUE(this->s().claim("q", 10, at(0), at(100), "w", only_b).empty());
    got = this->s().claim("q", 10, at(0), at(100), "w", std::vector<std::string>{});  // empty: any type
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].id(), c6);
}

TYPED_TEST_P(StoreTypeFilter, PassedOverJobsKeepTheirPlace) {
    // Many jobs of a type nobody asks for between the wanted ones, over several priorities.
    std::vector<job_id> wanted;
    for (int i = 0; i < 60; ++i) {
        const bool want = i % 5 == 0;
        const job_id id = this->add(typed_job(want ? "w" : "x", "q", i % 3));
        if (want) wanted.push_back(id);
    }
    const std::vector<std::string> w{"w"};
    for (int round = 0; round < 3; ++round) {
        auto got = this->s().claim("q", 4, at(0), at(100), "w", w);
        for (const auto& c : got)
            EXPECT_EQ(c.record.type, "w");
    }
    EXPECT_EQ(this->s().stats("q").by_type.at("x").count(job_state::ready), 48u);
    // All x jobs still claimable, in priority, run_at, id order.
    auto rest = this->s().claim("q", 100, at(0), at(100), "w");
    std::size_t xs = 0;
    for (std::size_t i = 0; i < rest.size(); ++i) {
        if (rest[i].record.type == "x") ++xs;
        if (i > 0) {
            const auto& p = rest[i - 1].record;
            const auto& r = rest[i].record;
            EXPECT_TRUE(p.priority > r.priority || (p.priority == r.priority && p.id < r.id)) << i;
        }
    }
    EXPECT_EQ(xs, 48u);
}

TYPED_TEST_P(StoreTypeFilter, StatsCountPerType) {
    this->add(typed_job("a"));
    const job_id a2 = this->add(typed_job("a"));
    this->add(typed_job("b"));
    auto sched = typed_job("b");
    sched.run_at = at(50);
    this->add(sched);
    const claimed_job c = this->claim_one("q", at(0), at(100));  // the first a
    ASSERT_TRUE(this->s().complete(c.id(), c.token, at(1)));
    ASSERT_TRUE(this->s().cancel(a2, at(1)));
    const store_stats st = this->s().stats("q");
    EXPECT_EQ(st, make_stats(1, 1, 0, 1, 0, 1));
    ASSERT_EQ(st.by_type.size(), 2u);
    EXPECT_EQ(st.by_type.at("a"), make_stats(0, 0, 0, 1, 0, 1));
    EXPECT_EQ(st.by_type.at("b"), make_stats(1, 1, 0, 0, 0, 0));
    EXPECT_EQ(this->s().purge(job_state::succeeded, at(10)), 1u);
    EXPECT_EQ(this->s().purge(job_state::cancelled, at(10)), 1u);
    EXPECT_EQ(this->s().stats("q").by_type.count("a"), 0u) << "a type with no job is listed";
    this->reopen();
    EXPECT_EQ(this->s().stats("q").by_type.at("b"), make_stats(1, 1, 0, 0, 0, 0));
}

REGISTER_TYPED_TEST_SUITE_P(StoreTypeFilter, ClaimsOnlyTheTypesAsked, PassedOverJobsKeepTheirPlace,
                            StatsCountPerType);

}  // namespace millrace::test
