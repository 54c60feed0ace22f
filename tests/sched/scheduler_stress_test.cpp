// Threaded stress: the inbox under many producers (conservation, per-producer order, slab
// recycling racing with allocation), the real-time scheduler (exactly once, never early,
// lateness), cancels racing with firing on shard threads, and idle CPU use.
// Registered RUN_SERIAL: lateness and CPU figures need the machine to themselves.
#include "millrace/sched/sharded_scheduler.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <time.h>

#include <gtest/gtest.h>

#include "support/stress.hpp"

namespace {

using namespace std::chrono_literals;
using millrace::detail::inbox_node;
using millrace::detail::mpsc_inbox;
using millrace::detail::node_slab;

struct node : inbox_node {
    std::uint64_t value = 0;
};

TEST(SchedStress, InboxConservesAndOrdersPerProducer) {
    constexpr int producers = 4;
    const std::size_t per = millrace::test::scaled(500'000);
    node_slab<node> slab(64);  // small: growth and recycling race with allocation
    mpsc_inbox q;
    std::atomic<int> go{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
        threads.emplace_back([&, p] {
            go.fetch_add(1);
            while (go.load() < producers + 1) {
            }
            for (std::size_t i = 0; i < per; ++i) {
                node* n = slab.allocate();
                n->value = static_cast<std::uint64_t>(p) << 40 | i;
                q.push(n);
            }
        });
    go.fetch_add(1);
    while (go.load() < producers + 1) {
    }
    std::vector<std::uint64_t> next(producers, 0);
    std::size_t got = 0, gaps = 0;
    while (got < per * producers) {
        inbox_node* out = nullptr;
        const auto r = q.pop(out);
        if (r != mpsc_inbox::pop_status::item) {
            gaps += r == mpsc_inbox::pop_status::gap;
            std::this_thread::yield();
            continue;
        }
        const auto v = static_cast<node*>(out)->value;
        const auto p = static_cast<std::size_t>(v >> 40);
        ASSERT_LT(p, next.size());
        ASSERT_EQ(v & ((std::uint64_t{1} << 40) - 1), next[p]) << "lost, duplicated or reordered";
        ++next[p];
        slab.release(static_cast<node*>(out));
        ++got;
    }
    for (auto& t : threads)
        t.join();
    inbox_node* out = nullptr;
    EXPECT_EQ(q.pop(out), mpsc_inbox::pop_status::empty);
    std::printf("inbox: %zu items, %zu gaps seen, slab capacity %zu\n", got, gaps, slab.capacity());
}

struct timed_task {
    std::uint32_t id;
    std::chrono::steady_clock::time_point due;
};

TEST(SchedStress, ThreadedEveryTaskOnceNoneEarlyLatenessBounded) {
    constexpr int producers = 4;
    const std::size_t per = millrace::test::scaled(250'000);
    const std::size_t n = per * producers;
    std::vector<std::atomic<std::uint8_t>> hits(n);
    std::vector<std::int64_t> late_us(n, -1);
    std::atomic<std::size_t> early{0}, delivered{0};
    millrace::sharded_scheduler<timed_task> s([&](timed_task&& t) {
        const auto now = std::chrono::steady_clock::now();
        if (now < t.due) early.fetch_add(1, std::memory_order_relaxed);
        hits[t.id].fetch_add(1, std::memory_order_relaxed);
        late_us[t.id] = std::chrono::duration_cast<std::chrono::microseconds>(now - t.due).count();
        delivered.fetch_add(1, std::memory_order_release);
    });
    // Each producer schedules at a sustained rate (1M calls/s together in an optimised build,
    // the load of the benchmark's lateness case; 100k/s in Debug and ASan builds, which run the
    // shard several times slower: the run then lasts 10 s, so that one stall of this shared
    // machine touches few of the tasks). Flat out, four producers on this 2-core machine would starve
    // the shard threads of CPU and measure the OS scheduler instead. Under ThreadSanitizer every
    // memory access costs ~10x and a schedule call microseconds: the lateness bound is not
    // checked there (exactly-once and never-early are).
#if defined(__SANITIZE_THREAD__)
    constexpr double rate_per_producer = 20'000.0;
    constexpr bool check_lateness = false;
#elif !defined(NDEBUG) || defined(__SANITIZE_ADDRESS__)
    constexpr double rate_per_producer = 25'000.0;
    constexpr bool check_lateness = true;
#else
    constexpr double rate_per_producer = 250'000.0;
    constexpr bool check_lateness = true;
#endif
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
        threads.emplace_back([&, p] {
            std::mt19937_64 rng(static_cast<std::uint64_t>(p) + 1);
            const auto start = std::chrono::steady_clock::now();
            for (std::size_t i = 0; i < per; ++i) {
                if (i % 256 == 0)
                    std::this_thread::sleep_until(
                        start +
                        std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::duration<double>(static_cast<double>(i) / rate_per_producer)));
                const auto id = static_cast<std::uint32_t>(static_cast<std::size_t>(p) * per + i);
                const auto due =
                    std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 200'001);
                (void)s.schedule_at(due, timed_task{id, due});
            }
        });
    for (auto& t : threads)
        t.join();
    const auto end = std::chrono::steady_clock::now() + 30s;
    while (delivered.load(std::memory_order_acquire) < n && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(5ms);
    s.stop();
    ASSERT_EQ(delivered.load(), n);
    EXPECT_EQ(early.load(), 0u) << "a task fired before its due time";
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[i].load(), 1u) << "task " << i;
    std::sort(late_us.begin(), late_us.end());
    const auto p50 = late_us[n / 2], p99 = late_us[n * 99 / 100], mx = late_us.back();
    std::printf("lateness over %zu tasks, %zu shards: p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", n,
                s.shard_count(), static_cast<double>(p50) / 1000, static_cast<double>(p99) / 1000,
                static_cast<double>(mx) / 1000);
    if (check_lateness) {
        EXPECT_LT(p99, 50'000) << "p99 lateness over 50 ms";
    }
}

TEST(SchedStress, ThreadedCancelsRaceWithFiring) {
    const std::size_t n = millrace::test::scaled(200'000);
    std::vector<std::atomic<std::uint8_t>> fired(n);
    std::vector<std::uint8_t> cancelled(n, 0);
    std::vector<millrace::schedule_handle> hs(n);
    std::atomic<std::size_t> published{0};
    millrace::sharded_scheduler<std::uint32_t> s(
        [&](std::uint32_t&& id) { fired[id].fetch_add(1, std::memory_order_relaxed); });
    std::thread producer([&] {
        std::mt19937_64 rng(9);
        for (std::size_t i = 0; i < n; ++i) {
            hs[i] = s.schedule_after(std::chrono::microseconds(rng() % 5'000), static_cast<std::uint32_t>(i));
            published.store(i + 1, std::memory_order_release);
        }
    });
    std::thread canceller([&] {
        std::size_t i = 0;
        while (i < n) {
            const std::size_t upto = published.load(std::memory_order_acquire);
            for (; i < upto; ++i)
                if (i % 2 == 0) cancelled[i] = s.cancel(hs[i]) ? 1 : 0;
        }
    });
    producer.join();
    canceller.join();
    const auto end = std::chrono::steady_clock::now() + 20s;
    while (s.pending() != 0 && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(5ms);
    s.stop();
    std::size_t both = 0, neither = 0, twice = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const auto f = fired[i].load();
        twice += f > 1;
        both += f && cancelled[i];
        neither += !f && !cancelled[i];
    }
    EXPECT_EQ(twice, 0u);
    EXPECT_EQ(both, 0u);
    EXPECT_EQ(neither, 0u);
}

double process_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

TEST(SchedStress, IdleShardsUseNoCpu) {
    millrace::scheduler_options<> opts;
    opts.shards = 4;
    millrace::sharded_scheduler<int> s([](int&&) {}, opts);
    for (int i = 0; i < 1000; ++i)
        (void)s.schedule_after(1h + std::chrono::milliseconds(i), i);  // far timers
    std::this_thread::sleep_for(100ms);                                // let the shards settle
    const double before = process_cpu_ms();
    std::this_thread::sleep_for(1s);
    const double used = process_cpu_ms() - before;
    std::printf("process CPU over an idle second: %.3f ms\n", used);
    EXPECT_LT(used, 5.0);
}

}  // namespace
