// Readers route on snapshots while a writer adds and removes nodes (run it under TSan: the tsan
// preset). The writer's sequence of node sets is computed before the threads start, so a
// reader can check every answer against the node set of the generation its snapshot carries:
// every routed node belongs to that generation's set (nothing routed to a node that table
// did not hold), the snapshot's size matches, and the writer's generations are exactly
// 1, 2, 3 ... Readers refresh only when router.generation() moves.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <optional>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/core/hash.hpp"
#include "millrace/route/jump.hpp"
#include "millrace/route/maglev.hpp"
#include "millrace/route/rendezvous.hpp"
#include "millrace/route/ring.hpp"
#include "support/stress.hpp"

using millrace::node_entry;
using millrace::node_id;

namespace {

struct step {
    bool add;
    node_id id;
    double weight;
};

template <class R>
void run_readers_during_churn(R make_router(), std::size_t mutations) {
    // Generation g (g >= 1) holds sets[g]; generation 1 is the initial set_nodes.
    std::mt19937_64 rng(42);
    std::vector<std::vector<node_id>> sets(2);
    std::vector<node_entry> initial;
    for (node_id i = 0; i < 40; ++i)
        initial.push_back({i * 3, 1.0 + static_cast<double>(i % 4)});
    for (const auto& e : initial)
        sets[1].push_back(e.id);
    std::vector<step> steps;
    std::vector<node_id> live = sets[1];
    for (std::size_t m = 0; m < mutations; ++m) {
        step s{};
        if (live.size() > 5 && (live.size() > 60 || rng() % 2 == 0)) {
            s = {false, live[rng() % live.size()], 0.0};
            std::erase(live, s.id);
        } else {
            node_id id;
            do {
                id = rng() % 200;
            } while (std::find(live.begin(), live.end(), id) != live.end());
            s = {true, id, 1.0 + static_cast<double>(rng() % 5)};
            live.push_back(id);
        }
        std::sort(live.begin(), live.end());
        steps.push_back(s);
        sets.push_back(live);
    }
    for (auto& set : sets)
        std::sort(set.begin(), set.end());

    R router = make_router();
    router.set_nodes(initial);
    ASSERT_EQ(router.generation(), 1U);

    std::atomic<bool> done{false};
    std::atomic<std::size_t> bad{0};
    std::atomic<std::size_t> routed{0};
    const unsigned readers = 3;
    std::vector<std::thread> threads;
    std::vector<std::size_t> generations_seen(readers, 0);
    const std::uint64_t final_generation = steps.size() + 1;
    // Every reader holds a snapshot before the writer starts (so each sees the churn), and
    // runs until it has seen the final table (so each refreshes at least once, however the
    // threads were scheduled).
    std::latch started(readers + 1);
    for (unsigned t = 0; t < readers; ++t) {
        threads.emplace_back([&, t] {
            auto snap = router.snapshot();
            started.count_down();
            std::uint64_t k = t * 1000003ULL;
            std::size_t mine = 0;
            std::size_t refreshes = 0;
            std::vector<node_id> rep(3);
            while (!done.load(std::memory_order_acquire) || snap.generation() != final_generation) {
                if (router.generation() != snap.generation()) {
                    snap = router.snapshot();
                    ++refreshes;
                }
                const auto& set = sets[snap.generation()];
                if (snap.size() != set.size()) bad.fetch_add(1);
                for (int i = 0; i < 64; ++i) {
                    const node_id n = snap.route(millrace::hash64(k++));
                    if (!std::binary_search(set.begin(), set.end(), n)) bad.fetch_add(1);
                    ++mine;
                }
                if constexpr (requires { snap.replicas(0, std::span<node_id>(rep)); }) {
                    const std::uint64_t h = millrace::hash64(k);
                    if (snap.replicas(h, std::span<node_id>(rep)) != 3 || rep[0] != snap.route(h))
                        bad.fetch_add(1);
                }
            }
            routed.fetch_add(mine);
            generations_seen[t] = refreshes;
        });
    }
    started.arrive_and_wait();
    for (std::size_t m = 0; m < steps.size(); ++m) {
        const auto& s = steps[m];
        const bool changed = s.add ? router.add(s.id, s.weight) : router.remove(s.id);
        if (!changed || router.generation() != m + 2) bad.fetch_add(1);
        if (m % 16 == 0) std::this_thread::yield();
    }
    done.store(true, std::memory_order_release);
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(bad.load(), 0U);
    EXPECT_GT(routed.load(), 0U);
    for (const auto seen : generations_seen)
        EXPECT_GT(seen, 0U) << "a reader never saw a new table";
    // The final table is the final set.
    const auto snap = router.snapshot();
    EXPECT_EQ(snap.generation(), steps.size() + 1);
    EXPECT_EQ(std::vector<node_id>(sets.back()), [&] {
        std::vector<node_id> ids;
        for (const auto& e : router.nodes())
            ids.push_back(e.id);
        return ids;
    }());
}

// clear() and set_nodes() while readers poll try_snapshot(): a reader gets either nothing
// (cleared) or a whole table of one of the two node sets, never a mix.
template <class R>
void run_clear_and_reset_during_reads(R make_router(), std::size_t rounds) {
    std::vector<node_entry> a;
    std::vector<node_entry> b;
    for (node_id i = 0; i < 30; ++i)
        a.push_back({i, 1.0});
    for (node_id i = 100; i < 107; ++i)
        b.push_back({i, 2.0});
    R router = make_router();
    std::atomic<bool> done{false};
    std::atomic<std::size_t> bad{0};
    std::atomic<std::size_t> empties{0};
    std::atomic<std::size_t> tables{0};
    const unsigned readers = 3;
    std::latch started(readers + 1);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < readers; ++t) {
        threads.emplace_back([&, t] {
            started.count_down();
            std::uint64_t k = t * 7919ULL;
            while (!done.load(std::memory_order_acquire)) {
                const auto snap = router.try_snapshot();
                if (!snap) {
                    empties.fetch_add(1, std::memory_order_relaxed);
                    continue;
                }
                tables.fetch_add(1, std::memory_order_relaxed);
                const bool is_a = snap->size() == a.size();
                if (!is_a && snap->size() != b.size()) bad.fetch_add(1);
                for (int i = 0; i < 32; ++i) {
                    const node_id n = snap->route(millrace::hash64(k++));
                    if (is_a ? n >= 30 : (n < 100 || n >= 107)) bad.fetch_add(1);
                }
            }
        });
    }
    started.arrive_and_wait();
    for (std::size_t r = 0; r < rounds; ++r) {
        router.set_nodes(r % 2 == 0 ? a : b);
        if (r % 3 == 0) std::this_thread::yield();
        router.clear();
        if (router.try_snapshot().has_value()) bad.fetch_add(1);
    }
    router.set_nodes(a);
    done.store(true, std::memory_order_release);
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(bad.load(), 0U);
    EXPECT_EQ(router.snapshot().size(), a.size());
}

millrace::rendezvous_router make_rendezvous() {
    return {};
}
millrace::ring_router make_ring() {
    return millrace::ring_router(50.0);
}
millrace::maglev_router make_maglev() {
    return millrace::maglev_router(4099);
}

}  // namespace

TEST(RouteStress, RendezvousReadersDuringChurn) {
    run_readers_during_churn<millrace::rendezvous_router>(make_rendezvous, millrace::test::scaled(5000, 500));
}
TEST(RouteStress, RingReadersDuringChurn) {
    run_readers_during_churn<millrace::ring_router>(make_ring, millrace::test::scaled(1500, 300));
}
TEST(RouteStress, MaglevReadersDuringChurn) {
    run_readers_during_churn<millrace::maglev_router>(make_maglev, millrace::test::scaled(1500, 300));
}

TEST(RouteStress, ClearAndSetNodesDuringReads) {
    run_clear_and_reset_during_reads<millrace::rendezvous_router>(make_rendezvous,
                                                                  millrace::test::scaled(3000, 300));
    run_clear_and_reset_during_reads<millrace::ring_router>(make_ring, millrace::test::scaled(1000, 100));
    run_clear_and_reset_during_reads<millrace::maglev_router>(make_maglev, millrace::test::scaled(1000, 100));
}

TEST(RouteStress, JumpResizeWhileRouting) {
    millrace::jump_router r(10);
    std::atomic<bool> done{false};
    std::atomic<std::size_t> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&, t] {
            std::uint64_t k = static_cast<std::uint64_t>(t) << 40;
            while (!done.load(std::memory_order_acquire)) {
                for (int i = 0; i < 256; ++i) {
                    if (r.route(millrace::hash64(k++)) >= 64) bad.fetch_add(1);  // sizes stay in [1, 64]
                }
            }
        });
    }
    const std::size_t resizes = millrace::test::scaled(200000, 2000);
    for (std::size_t i = 0; i < resizes; ++i)
        r.resize(1 + i % 64);
    done.store(true, std::memory_order_release);
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(bad.load(), 0U);
}
