// route/ benchmarks: ns per lookup for every router at N = 10, 100, 1000 (table routers
// measured on a snapshot, as readers use them), with a plain-loop rendezvous as the baseline a
// user would write; hash64 on 8- and 32-byte keys against std::hash and multiply-shift;
// rebuild time after one add at N = 1000 (equal weights, weights 1..10, and for Maglev one
// node of weight 10^4); and balance / disruption figures as counters
// (route/quality_<N>/<router>: peak_over_avg over 1M keys, moved_*_vs_optimal, wrong_moves).
//
// Lookups are independent (keys from a precomputed array), so the figures are throughput per
// lookup with the CPU overlapping cache misses, not the latency of one isolated lookup.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <benchmark/benchmark.h>

#include "millrace/core/hash.hpp"
#include "millrace/route/balance.hpp"
#include "millrace/route/jump.hpp"
#include "millrace/route/maglev.hpp"
#include "millrace/route/rendezvous.hpp"
#include "millrace/route/ring.hpp"

namespace {

using millrace::node_entry;
using millrace::node_id;

constexpr std::size_t key_count = 1 << 16;

const std::vector<std::uint64_t>& keys() {
    static const std::vector<std::uint64_t> k = [] {
        std::vector<std::uint64_t> v(key_count);
        for (std::size_t i = 0; i < key_count; ++i)
            v[i] = millrace::hash64(i + 77);
        return v;
    }();
    return k;
}

std::vector<node_entry> nodes(std::size_t n, bool weighted) {
    std::vector<node_entry> v;
    for (std::size_t i = 0; i < n; ++i) {
        v.push_back({1000 + i * 13, weighted ? 1.0 + static_cast<double>(millrace::hash64(i) % 10) : 1.0});
    }
    return v;
}

template <class Router>
void run_lookups(benchmark::State& state, const Router& r) {
    const auto& k = keys();
    std::size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(r.route(k[i]));
        i = (i + 1) & (key_count - 1);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// ---- lookups -----------------------------------------------------------------------------

template <std::size_t N>
void lookup_jump(benchmark::State& state) {
    run_lookups(state, millrace::jump_router(N));
}

template <std::size_t N, bool Weighted>
void lookup_rendezvous(benchmark::State& state) {
    millrace::rendezvous_router r;
    r.set_nodes(nodes(N, Weighted));
    run_lookups(state, r.snapshot());
}

// The baseline: the loop a user writes, over an array of {id, seed, weight}.
struct reference_rendezvous {
    struct node {
        node_id id;
        std::uint64_t seed;
        double weight;
    };
    std::vector<node> nodes_;
    bool weighted_;
    node_id route(std::uint64_t h) const {
        node_id best = 0;
        if (!weighted_) {
            std::uint64_t best_score = 0;
            for (const auto& n : nodes_) {
                const std::uint64_t s = millrace::detail::mix64(h ^ n.seed);
                if (s >= best_score) {
                    best_score = s;
                    best = n.id;
                }
            }
        } else {
            double best_score = -1.0;
            for (const auto& n : nodes_) {
                const double u =
                    (static_cast<double>(millrace::detail::mix64(h ^ n.seed) >> 11) + 0.5) * 0x1.0p-53;
                const double s = -n.weight / std::log(u);
                if (s > best_score) {
                    best_score = s;
                    best = n.id;
                }
            }
        }
        return best;
    }
};

template <std::size_t N, bool Weighted>
void lookup_rendezvous_reference(benchmark::State& state) {
    reference_rendezvous r{{}, Weighted};
    for (const auto& n : nodes(N, Weighted)) {
        r.nodes_.push_back({n.id, millrace::detail::rendezvous_table::seed_of(n.id), n.weight});
    }
    run_lookups(state, r);
}

template <std::size_t N>
void lookup_ring(benchmark::State& state) {
    millrace::ring_router r;
    r.set_nodes(nodes(N, false));
    run_lookups(state, r.snapshot());
}

template <std::size_t N>
void lookup_maglev(benchmark::State& state) {
    millrace::maglev_router r;
    r.set_nodes(nodes(N, false));
    run_lookups(state, r.snapshot());
}

template <std::size_t N>
void lookup_round_robin(benchmark::State& state) {
    run_lookups(state, millrace::round_robin_router(N));
}

template <std::size_t N>
void lookup_p2c(benchmark::State& state) {
    millrace::p2c_router r(N);
    const auto& k = keys();
    std::size_t i = 0;
    for (auto _ : state) {  // acquire + release: the full cost per request
        const node_id n = r.acquire(k[i]);
        r.release(n);
        i = (i + 1) & (key_count - 1);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

template <std::size_t N>
void lookup_bounded_load(benchmark::State& state) {
    millrace::bounded_load_router<millrace::ring_router> r(0.25);
    r.set_nodes(nodes(N, false));
    // A standing load of 20 per node, so caps bind now and then.
    const auto& k = keys();
    for (std::size_t i = 0; i < 20 * N; ++i)
        (void)r.assign(k[i & (key_count - 1)]);
    std::size_t i = 0;
    for (auto _ : state) {  // assign + release
        const node_id n = r.assign(k[i]);
        (void)r.release(n);
        i = (i + 1) & (key_count - 1);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// ---- hashing -------------------------------------------------------------------------------

// All six hash benchmarks measure throughput the same way: each iteration hashes a fresh key
// (a counter, or a counter written into the 32-byte key) that does not depend on the previous
// hash, so the CPU may overlap successive hashes. Every baseline calls the function it is
// named after (std::hash is the identity on integers in libstdc++, so hash_8B/std_hash is
// the cost of the loop itself).

void hash8_hash64(benchmark::State& state) {
    std::uint64_t x = 1;
    for (auto _ : state) {
        benchmark::DoNotOptimize(millrace::hash64(x));
        ++x;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void hash8_std_hash(benchmark::State& state) {
    std::uint64_t x = 1;
    const std::hash<std::uint64_t> h;
    for (auto _ : state) {
        benchmark::DoNotOptimize(h(x));
        ++x;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void hash8_multiply_shift(benchmark::State& state) {
    std::uint64_t x = 1;
    for (auto _ : state) {
        const std::uint64_t m = x * 0x9e3779b97f4a7c15ULL;
        benchmark::DoNotOptimize(m ^ (m >> 32));  // one multiply, fold
        ++x;
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

char key32[33] = "tenant-0000042/orders/2026-11-26";

// A fresh 32-byte key per iteration: the counter overwrites bytes 8..15.
inline std::string_view next_key32(std::uint64_t& x) {
    std::memcpy(key32 + 8, &x, 8);
    ++x;
    return {key32, 32};
}

void hash32_hash64(benchmark::State& state) {
    std::uint64_t x = 1;
    for (auto _ : state)
        benchmark::DoNotOptimize(millrace::hash64(next_key32(x)));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void hash32_std_hash(benchmark::State& state) {
    std::uint64_t x = 1;
    const std::hash<std::string_view> h;
    for (auto _ : state)
        benchmark::DoNotOptimize(h(next_key32(x)));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
void hash32_multiply_shift(benchmark::State& state) {
    // Dietzfelbinger-style multiply-shift over the four 8-byte words (not avalanche-quality).
    std::uint64_t x = 1;
    for (auto _ : state) {
        const std::string_view k = next_key32(x);
        std::uint64_t w[4];
        std::memcpy(w, k.data(), 32);
        const std::uint64_t h = w[0] * 0x9e3779b97f4a7c15ULL + w[1] * 0xc2b2ae3d27d4eb4fULL +
                                w[2] * 0x165667b19e3779f9ULL + w[3] * 0xd6e8feb86659fd93ULL;
        benchmark::DoNotOptimize(h >> 32);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// ---- rebuild after one add at N = 1000 -----------------------------------------------------

// weighted: weights 1..10; heavy: equal weights but one node of weight 10^4 (the case that
// made the old credit-per-round Maglev fill take ~M * N * w_max / sum(w) turns).
template <class Router>
void rebuild(benchmark::State& state, bool weighted, bool heavy = false) {
    Router r;
    auto list = nodes(1000, weighted);
    if (heavy) list[500].weight = 1e4;
    r.set_nodes(list);
    for (auto _ : state) {
        r.add(7);
        state.PauseTiming();  // the remove (another rebuild) is not counted
        r.remove(7);
        state.ResumeTiming();
    }
}
void rebuild_rendezvous(benchmark::State& s) {
    rebuild<millrace::rendezvous_router>(s, false);
}
void rebuild_ring(benchmark::State& s) {
    rebuild<millrace::ring_router>(s, false);
}
void rebuild_maglev(benchmark::State& s) {
    rebuild<millrace::maglev_router>(s, false);
}
void rebuild_rendezvous_weighted(benchmark::State& s) {
    rebuild<millrace::rendezvous_router>(s, true);
}
void rebuild_ring_weighted(benchmark::State& s) {
    rebuild<millrace::ring_router>(s, true);
}
void rebuild_maglev_weighted(benchmark::State& s) {
    rebuild<millrace::maglev_router>(s, true);
}
void rebuild_maglev_heavy(benchmark::State& s) {
    rebuild<millrace::maglev_router>(s, false, true);
}
void rebuild_jump(benchmark::State& state) {
    millrace::jump_router r(1000);
    for (auto _ : state) {
        r.resize(1001);
        benchmark::DoNotOptimize(r);
        r.resize(1000);
    }
}

// ---- balance and disruption, as counters ---------------------------------------------------

struct quality {
    double peak_over_avg = 0;
    double moved_add_vs_optimal = 0;
    double moved_remove_vs_optimal = 0;
    double wrong_moves = 0;  // keys that moved though the algorithm promises they would not
};

template <class Snap>
std::vector<node_id> route_keys(const Snap& s, std::size_t n) {
    std::vector<node_id> out(n);
    for (std::size_t i = 0; i < n; ++i)
        out[i] = s.route(millrace::hash64(i + 0xabc));
    return out;
}

quality measure(const std::function<std::vector<node_id>(int)>& routes, std::size_t n, node_id fresh,
                node_id gone, bool strict) {
    // routes(0): before; routes(1): after adding `fresh`; routes(2): after removing `gone`.
    const auto before = routes(0);
    const auto added = routes(1);
    const auto removed = routes(2);
    const std::size_t k = before.size();
    std::map<node_id, std::size_t> load;
    for (const auto x : before)
        ++load[x];
    std::size_t peak = 0;
    for (const auto& [x, c] : load)
        peak = std::max(peak, c);
    quality q;
    q.peak_over_avg = static_cast<double>(peak) * static_cast<double>(n) / static_cast<double>(k);
    std::size_t moved_add = 0;
    std::size_t moved_remove = 0;
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < k; ++i) {
        if (added[i] != before[i]) {
            ++moved_add;
            wrong += added[i] != fresh;
        }
        if (removed[i] != before[i]) {
            ++moved_remove;
            wrong += before[i] != gone;
        }
    }
    q.moved_add_vs_optimal =
        static_cast<double>(moved_add) * static_cast<double>(n + 1) / static_cast<double>(k);
    q.moved_remove_vs_optimal =
        static_cast<double>(moved_remove) * static_cast<double>(n) / static_cast<double>(k);
    q.wrong_moves = strict ? static_cast<double>(wrong) : 0.0;
    return q;
}

template <class Router>
quality table_quality(std::size_t n, std::size_t keys_n) {
    const node_id fresh = 7;
    const node_id gone = 1000 + (n / 2) * 13;
    return measure(
        [&](int which) {
            Router r;
            auto ns = nodes(n, false);
            if (which == 1) ns.push_back({fresh, 1.0});
            if (which == 2) std::erase_if(ns, [&](const node_entry& e) { return e.id == gone; });
            r.set_nodes(ns);
            return route_keys(r.snapshot(), keys_n);
        },
        n, fresh, gone, !std::is_same_v<Router, millrace::maglev_router>);
}

quality jump_quality(std::size_t n, std::size_t keys_n) {
    // Jump can only add or remove the last bucket: "remove" is shrinking by one.
    return measure(
        [&](int which) {
            return route_keys(millrace::jump_router(which == 1 ? n + 1 : which == 2 ? n - 1 : n), keys_n);
        },
        n, n, n - 1, true);
}

template <class F>
void report_quality(benchmark::State& state, const std::string& name, F compute) {
    static std::map<std::string, quality> cache;  // deterministic: computed once for all repetitions
    auto it = cache.find(name);
    if (it == cache.end()) it = cache.emplace(name, compute()).first;
    for (auto _ : state)
        benchmark::DoNotOptimize(it->second.peak_over_avg);
    state.counters["peak_over_avg"] = it->second.peak_over_avg;
    state.counters["moved_add_vs_optimal"] = it->second.moved_add_vs_optimal;
    state.counters["moved_remove_vs_optimal"] = it->second.moved_remove_vs_optimal;
    state.counters["wrong_moves"] = it->second.wrong_moves;
}

constexpr std::size_t quality_keys = 1000000;

template <std::size_t N>
void quality_jump(benchmark::State& s) {
    report_quality(s, "jump" + std::to_string(N), [] { return jump_quality(N, quality_keys); });
}
template <std::size_t N>
void quality_rendezvous(benchmark::State& s) {
    report_quality(s, "rdv" + std::to_string(N),
                   [] { return table_quality<millrace::rendezvous_router>(N, quality_keys); });
}
template <std::size_t N>
void quality_ring(benchmark::State& s) {
    report_quality(s, "ring" + std::to_string(N),
                   [] { return table_quality<millrace::ring_router>(N, quality_keys); });
}
template <std::size_t N>
void quality_maglev(benchmark::State& s) {
    report_quality(s, "maglev" + std::to_string(N),
                   [] { return table_quality<millrace::maglev_router>(N, quality_keys); });
}

#define MILLRACE_LOOKUPS(N)                                                                             \
    BENCHMARK(lookup_jump<N>)->Name("route/lookup_" #N "/jump");                                        \
    BENCHMARK(lookup_rendezvous<N, false>)->Name("route/lookup_" #N "/rendezvous");                     \
    BENCHMARK(lookup_rendezvous_reference<N, false>)->Name("route/lookup_" #N "/rendezvous_reference"); \
    BENCHMARK(lookup_rendezvous<N, true>)->Name("route/lookup_" #N "/rendezvous_weighted");             \
    BENCHMARK(lookup_rendezvous_reference<N, true>)                                                     \
        ->Name("route/lookup_" #N "/rendezvous_weighted_reference");                                    \
    BENCHMARK(lookup_ring<N>)->Name("route/lookup_" #N "/ring");                                        \
    BENCHMARK(lookup_maglev<N>)->Name("route/lookup_" #N "/maglev");                                    \
    BENCHMARK(lookup_round_robin<N>)->Name("route/lookup_" #N "/round_robin");                          \
    BENCHMARK(lookup_p2c<N>)->Name("route/lookup_" #N "/p2c");                                          \
    BENCHMARK(lookup_bounded_load<N>)->Name("route/lookup_" #N "/bounded_load_ring");                   \
    BENCHMARK(quality_jump<N>)->Name("route/quality_" #N "/jump");                                      \
    BENCHMARK(quality_rendezvous<N>)->Name("route/quality_" #N "/rendezvous");                          \
    BENCHMARK(quality_ring<N>)->Name("route/quality_" #N "/ring");                                      \
    BENCHMARK(quality_maglev<N>)->Name("route/quality_" #N "/maglev")

MILLRACE_LOOKUPS(10);
MILLRACE_LOOKUPS(100);
MILLRACE_LOOKUPS(1000);

BENCHMARK(hash8_hash64)->Name("route/hash_8B/hash64");
BENCHMARK(hash8_std_hash)->Name("route/hash_8B/std_hash");
BENCHMARK(hash8_multiply_shift)->Name("route/hash_8B/multiply_shift");
BENCHMARK(hash32_hash64)->Name("route/hash_32B/hash64");
BENCHMARK(hash32_std_hash)->Name("route/hash_32B/std_hash");
BENCHMARK(hash32_multiply_shift)->Name("route/hash_32B/multiply_shift");

BENCHMARK(rebuild_jump)->Name("route/rebuild_add_1000/jump");
BENCHMARK(rebuild_rendezvous)->Name("route/rebuild_add_1000/rendezvous")->Unit(benchmark::kMicrosecond);
BENCHMARK(rebuild_ring)->Name("route/rebuild_add_1000/ring")->Unit(benchmark::kMillisecond);
BENCHMARK(rebuild_maglev)->Name("route/rebuild_add_1000/maglev")->Unit(benchmark::kMillisecond);
BENCHMARK(rebuild_rendezvous_weighted)
    ->Name("route/rebuild_add_1000_weighted/rendezvous")
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(rebuild_ring_weighted)->Name("route/rebuild_add_1000_weighted/ring")->Unit(benchmark::kMillisecond);
BENCHMARK(rebuild_maglev_weighted)
    ->Name("route/rebuild_add_1000_weighted/maglev")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(rebuild_maglev_heavy)->Name("route/rebuild_add_1000_heavy/maglev")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
