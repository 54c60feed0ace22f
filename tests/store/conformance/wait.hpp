// tests/store/conformance/wait.hpp: wait_for_jobs, on stores that model
// millrace::notifying_store: woken by an enqueue from another thread, false at its deadline.
#pragma once

#include <chrono>
#include <thread>

#include "store/conformance/fixture.hpp"

namespace millrace::test {

template <class Factory>
class StoreWait : public store_fixture<Factory> {
protected:
    static constexpr bool notifying = notifying_store<typename Factory::store_type>;
};
TYPED_TEST_SUITE_P(StoreWait);

TYPED_TEST_P(StoreWait, TimesOutWhenNothingComes) {
    if constexpr (!TestFixture::notifying) {
        GTEST_SKIP() << "the store does not model notifying_store";
    } else {
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_FALSE(this->s().wait_for_jobs("q", t0 + std::chrono::milliseconds(50)));
        const auto waited = std::chrono::steady_clock::now() - t0;
        EXPECT_GE(waited, std::chrono::milliseconds(50));
        EXPECT_LT(waited, std::chrono::seconds(5));
    }
}

TYPED_TEST_P(StoreWait, TrueAtOnceWhenAJobIsReady) {
    if constexpr (!TestFixture::notifying) {
        GTEST_SKIP() << "the store does not model notifying_store";
    } else {
        this->add(make_job());
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_TRUE(this->s().wait_for_jobs("q", t0 + std::chrono::seconds(10)));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    }
}

TYPED_TEST_P(StoreWait, WokenByAnEnqueueFromAnotherThread) {
    if constexpr (!TestFixture::notifying) {
        GTEST_SKIP() << "the store does not model notifying_store";
    } else {
        for (int round = 0; round < 5; ++round) {
            std::thread producer([&] {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                (void)this->s().enqueue(make_job());
            });
            const auto t0 = std::chrono::steady_clock::now();
            const bool woken = this->s().wait_for_jobs("q", t0 + std::chrono::seconds(20));
            const auto waited = std::chrono::steady_clock::now() - t0;
            producer.join();
            EXPECT_TRUE(woken) << "round " << round;
            EXPECT_LT(waited, std::chrono::seconds(10)) << "slept to the deadline";
            auto c = this->s().claim("q", 10, at(0), at(100), "w");
            EXPECT_EQ(c.size(), 1u);
        }
    }
}

TYPED_TEST_P(StoreWait, WokenByARelease) {
    if constexpr (!TestFixture::notifying) {
        GTEST_SKIP() << "the store does not model notifying_store";
    } else {
        const job_id id = this->add(make_job());
        const claimed_job c = this->claim_one("q", at(0), at(100));
        std::thread releaser([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            (void)this->s().release(id, c.token, at(1));
        });
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_TRUE(this->s().wait_for_jobs("q", t0 + std::chrono::seconds(20)));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
        releaser.join();
    }
}

REGISTER_TYPED_TEST_SUITE_P(StoreWait, TimesOutWhenNothingComes, TrueAtOnceWhenAJobIsReady,
                            WokenByAnEnqueueFromAnotherThread, WokenByARelease);

}  // namespace millrace::test
