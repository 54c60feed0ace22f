// tests/store/conformance/fixture.hpp: the fixture of the contract sections (release, batches,
// type filters, schedules, wait_for_jobs, times) that every millrace::task_store adapter must
// pass, and the macro that instantiates them all for a list of factories:
//
//   MILLRACE_STORE_CONTRACT_TESTS(my, ::testing::Types<my_factory>);
//
// A factory is the one of the core suite (tests/store/conformance.hpp): store_type,
// make(), optionally reopen() and these sizes:
//   static constexpr std::size_t race_firings = 10000;  // schedule firings raced by 8 threads
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/store/concepts.hpp"
#include "millrace/store/job.hpp"
#include "store/conformance/support.hpp"

namespace millrace::test {

template <class Factory>
class store_fixture : public ::testing::Test {
protected:
    using store_type = typename Factory::store_type;
    static_assert(task_store<store_type>, "the adapter does not model millrace::task_store");

    void SetUp() override { store_ = Factory::make(); }

    store_type& s() { return *store_; }

    static constexpr bool can_reopen = requires(std::unique_ptr<store_type> & p) { Factory::reopen(p); };
    void reopen() {
        if constexpr (can_reopen) Factory::reopen(store_);
    }

    static constexpr std::size_t race_firings() {
        if constexpr (requires { Factory::race_firings; }) {
            return Factory::race_firings;
        } else {
            return 10'000;
        }
    }

    job_id add(job_record r) {
        auto res = s().enqueue(std::move(r));
        EXPECT_TRUE(res.inserted);
        return res.id;
    }
    job_record get(job_id id) {
        auto r = s().find(id);
        EXPECT_TRUE(r.has_value()) << "job " << id << " missing";
        return r ? *r : job_record{};
    }
    claimed_job claim_one(std::string_view q, job_time now, job_time until, std::string_view worker = "w") {
        auto c = s().claim(q, 1, now, until, worker);
        EXPECT_EQ(c.size(), 1u);
        return c.empty() ? claimed_job{} : c.front();
    }

    std::unique_ptr<store_type> store_;
};

/// A job of `type` ready at at(0).
inline job_record typed_job(std::string type, std::string queue = "q", std::int32_t priority = 0) {
    job_record r = make_job(std::move(queue), priority);
    r.type = std::move(type);
    return r;
}

/// A schedule of queue "q" firing first at at(0).
inline schedule_record make_schedule(std::string name) {
    schedule_record r;
    r.name = std::move(name);
    r.queue = "q";
    r.type = "report";
    r.payload = payload_from("{}");
    r.recurrence = "*/5 * * * *";
    r.next_run = at(0);
    return r;
}

}  // namespace millrace::test
