// tests/store/conformance/stress.hpp: the threaded conservation tests
// (StoreConformanceStress): instantiate them in a binary labelled `stress`.
#pragma once

#include "store/conformance/support.hpp"

namespace millrace::test {

// ---------------------------------------------------------------------------------------
// Stress: many threads, conservation checked (label the binary `stress`).
// ---------------------------------------------------------------------------------------
template <class Factory>
class StoreConformanceStress : public ::testing::Test {
protected:
    using store_type = typename Factory::store_type;
    static_assert(task_store<store_type>, "the adapter does not model millrace::task_store");
    void SetUp() override { store_ = Factory::make(); }
    store_type& s() { return *store_; }
    std::unique_ptr<store_type> store_;
};

TYPED_TEST_SUITE_P(StoreConformanceStress);

// 8 claimers, 2 producers enqueueing while they claim: every job is claimed exactly once
// and completed.
TYPED_TEST_P(StoreConformanceStress, EightClaimersClaimEachJobExactlyOnce) {
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
                    if (!st.complete(j.id(), j.token, at(2)))
                        bad_completes.fetch_add(1, std::memory_order_relaxed);
                    completed.fetch_add(1, std::memory_order_relaxed);
                }
            }
        });
    }
    for (auto& t : threads)
        t.join();
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
TYPED_TEST_P(StoreConformanceStress, ClaimersRaceRequeuerOnExpiringLeases) {
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
    for (std::size_t i = 0; i < jobs; ++i)
        index_of[ids[i]] = i;
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
                auto got = st.claim("q", 1 + rng() % 8, at(t),
                                    at(t + 1 + static_cast<std::int64_t>(rng() % 3)), worker);
                if (got.empty()) {
                    ++empty_rounds;
                    std::this_thread::yield();
                    continue;
                }
                empty_rounds = 0;
                for (auto& j : got) {
                    if (rng() % 4 == 0)  // a slow worker: its lease probably expires
                        for (int y = 0; y < 20; ++y)
                            std::this_thread::yield();
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
    for (auto& t : threads)
        t.join();
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
TYPED_TEST_P(StoreConformanceStress, PerQueueClaimersWithConcurrentRequeueAndPurge) {
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
        for (std::uint64_t round = 0; !stop.load(std::memory_order_acquire);
             ++round) {  // (A3) pairs with (R3)
            const std::int64_t t = now.fetch_add(1, std::memory_order_relaxed) + 1;
            requeued.fetch_add(st.requeue_expired(at(t)), std::memory_order_relaxed);
            if (round % 4 == 0)
                purged.fetch_add(st.purge(job_state::succeeded, at(t)), std::memory_order_relaxed);
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
    for (auto& t : claimers)
        t.join();
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
    for (int q = 0; q < queues; ++q)
        EXPECT_EQ(st.stats(qname(q)), store_stats{});
    std::printf("per-queue: %zu jobs, %zu abandoned, %zu requeued, %zu purged while running\n", jobs,
                abandoned.load(), requeued.load(), purged.load());
}

REGISTER_TYPED_TEST_SUITE_P(StoreConformanceStress, EightClaimersClaimEachJobExactlyOnce,
                            ClaimersRaceRequeuerOnExpiringLeases,
                            PerQueueClaimersWithConcurrentRequeueAndPurge);

}  // namespace millrace::test
