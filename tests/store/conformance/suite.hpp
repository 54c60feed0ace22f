// tests/store/conformance/suite.hpp: the fixture of the core conformance suite
// (StoreConformance): a fresh store per test from the factory, reopen when it has one.
#pragma once

#include <memory>
#include <string_view>

#include <gtest/gtest.h>

#include "millrace/store/concepts.hpp"
#include "store/conformance/support.hpp"

namespace millrace::test {

template <class Factory>
class StoreConformance : public ::testing::Test {
protected:
    using store_type = typename Factory::store_type;
    static_assert(task_store<store_type>, "the adapter does not model millrace::task_store");

    void SetUp() override { store_ = Factory::make(); }

    store_type& s() { return *store_; }

    static constexpr bool can_reopen = requires(std::unique_ptr<store_type> & p) { Factory::reopen(p); };
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

TYPED_TEST_SUITE_P(StoreConformance);

}  // namespace millrace::test
