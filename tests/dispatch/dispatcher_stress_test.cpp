// Stress tests of the dispatcher (threaded, scaled by MILLRACE_STRESS_SCALE, TSan-clean):
// exactly-once delivery, per-key order, isolation of a slow key, shutdown racing submitters.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/dispatch/dispatcher.hpp"
#include "support/stress.hpp"

using namespace std::chrono_literals;

namespace {
millrace::queue_config q(std::string name, std::size_t workers, std::size_t capacity) {
    millrace::queue_config c;
    c.name = std::move(name);
    c.workers = workers;
    c.capacity = capacity;
    return c;
}
}  // namespace

TEST(DispatcherStress, ExactlyOnceFromFourSubmittersOverThreeQueues) {
    const std::size_t total = millrace::test::scaled(1'000'000, 20'000) / 4 * 4;
    auto hits = std::make_unique<std::atomic<std::uint8_t>[]>(total);
    auto prio = q("b", 1, 512);
    prio.priority_weights = {1, 2};
    millrace::dispatcher d({.queues = {q("a", 2, 1024), prio, q("c", 1, 256)}});
    const char* names[] = {"a", "b", "c"};
    std::vector<std::thread> submitters;
    for (std::size_t s = 0; s < 4; ++s)
        submitters.emplace_back([&, s] {
            for (std::size_t i = s; i < total; i += 4) {
                auto* h = &hits[i];
                millrace::submit_options o{
                    .queue = names[i % 3],
                    .priority = static_cast<std::uint32_t>((i / 3) % 2 * (i % 3 == 1))};
                if (i % 7 == 0) o.partition_key = millrace::partition_key(i % 64);
                millrace::submit_status st;
                if (i % 101 == 0) {
                    st = d.submit([h] { h->fetch_add(1, std::memory_order_relaxed); }, o).status;
                } else {
                    st = d.post([h] { h->fetch_add(1, std::memory_order_relaxed); }, o);
                }
                ASSERT_EQ(st, millrace::submit_status::accepted);
            }
        });
    for (auto& t : submitters)
        t.join();
    ASSERT_TRUE(d.wait_idle(120s));
    std::size_t bad = 0;
    for (std::size_t i = 0; i < total; ++i)
        bad += hits[i].load() != 1;
    EXPECT_EQ(bad, 0u) << "of " << total;
    std::uint64_t run = 0;
    for (auto* n : names)
        run += d.stats(n).run;
    EXPECT_EQ(run, total);
}

TEST(DispatcherStress, StrandsRunInOrderOneAtATime) {
    const std::size_t keys = 200;
    const std::size_t per_key = std::max<std::size_t>(millrace::test::scaled(5000, 100) / 10, 50);
    struct alignas(64) key_state {
        std::atomic<int> running{0};
        std::atomic<std::uint64_t> next{0};
        std::atomic<std::uint64_t> errors{0};
    };
    auto ks = std::make_unique<key_state[]>(keys);
    millrace::dispatcher d({.queues = {q("default", 2, 8192)}});
    std::vector<std::thread> submitters;
    // Each key belongs to one submitter, so its submits are ordered by happens-before.
    for (std::size_t s = 0; s < 4; ++s)
        submitters.emplace_back([&, s] {
            for (std::uint64_t i = 0; i < per_key; ++i)
                for (std::size_t k = s; k < keys; k += 4) {
                    key_state* st = &ks[k];
                    ASSERT_EQ(d.post(
                                  [st, i] {
                                      if (st->running.fetch_add(1) != 0) st->errors.fetch_add(1);
                                      if (st->next.load(std::memory_order_relaxed) != i)
                                          st->errors.fetch_add(1);
                                      st->next.store(i + 1, std::memory_order_relaxed);
                                      std::this_thread::yield();
                                      st->running.fetch_sub(1);
                                  },
                                  {.partition_key = millrace::partition_key(k)}),
                              millrace::submit_status::accepted);
                }
        });
    for (auto& t : submitters)
        t.join();
    ASSERT_TRUE(d.wait_idle(120s));
    for (std::size_t k = 0; k < keys; ++k) {
        EXPECT_EQ(ks[k].errors.load(), 0u) << "key " << k;
        EXPECT_EQ(ks[k].next.load(), per_key) << "key " << k;
    }
}

TEST(DispatcherStress, ASleepingKeyDelaysOthersOnlyByAWorker) {
    millrace::dispatcher d({.queues = {q("default", 2, 4096)}});
    std::atomic<bool> slow_started{false}, release{false}, second_ran{false};
    (void)d.post(
        [&] {
            slow_started.store(true);
            // Sleeps (up to 10 s) until the test has seen every other key's task finish.
            for (int i = 0; i < 10'000 && !release.load(); ++i)
                std::this_thread::sleep_for(1ms);
        },
        {.partition_key = 0});
    (void)d.post([&] { second_ran.store(true); }, {.partition_key = 0});  // behind the sleeper
    while (!slow_started.load())
        std::this_thread::yield();
    std::atomic<int> done{0};
    const int n = static_cast<int>(millrace::test::scaled(2000, 200));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i)
        (void)d.post([&] { done.fetch_add(1); }, {.partition_key = 1 + i % 50});
    while (done.load() < n && std::chrono::steady_clock::now() - t0 < 9s)
        std::this_thread::yield();
    // Every other key ran on the free worker while key 0 slept; key 0's next task waited.
    EXPECT_EQ(done.load(), n);
    EXPECT_FALSE(second_ran.load());
    release.store(true);
    ASSERT_TRUE(d.wait_idle(20s));
    EXPECT_TRUE(second_ran.load());
}

TEST(DispatcherStress, ShutdownRacingSubmittersLosesNothing) {
    const int rounds = static_cast<int>(std::max<std::size_t>(millrace::test::scaled(20, 5), 5));
    for (int round = 0; round < rounds; ++round) {
        std::atomic<std::uint64_t> accepted{0}, ran{0};
        millrace::shutdown_report r;
        {
            millrace::dispatcher d({.queues = {q("a", 2, 256), q("b", 1, 64)}});
            std::vector<std::thread> submitters;
            std::atomic<bool> go{false};
            for (int s = 0; s < 3; ++s)
                submitters.emplace_back([&, s] {
                    while (!go.load())
                        std::this_thread::yield();
                    for (int i = 0;; ++i) {
                        const millrace::submit_options o{.queue = (i + s) % 2 ? "a" : "b",
                                                         .delay = i % 5 == 0 ? 1ms : 0ms};
                        const auto st = d.post([&] { ran.fetch_add(1); }, o);
                        if (st == millrace::submit_status::closed) return;
                        if (st == millrace::submit_status::accepted) accepted.fetch_add(1);
                    }
                });
            go.store(true);
            std::this_thread::sleep_for(5ms);
            r = d.shutdown(round % 2 ? millrace::shutdown_mode::cancel : millrace::shutdown_mode::drain, 10s);
            for (auto& t : submitters)
                t.join();
            EXPECT_EQ(r.still_running, 0u);
        }
        // Every accepted post ran or was reported cancelled, never both, never neither.
        EXPECT_EQ(ran.load() + r.cancelled, accepted.load())
            << "ran " << ran.load() << " cancelled " << r.cancelled << " accepted " << accepted.load();
        if (round % 2 == 0) {
            EXPECT_EQ(r.cancelled, 0u);
        }
    }
}
