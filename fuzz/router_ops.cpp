// Fuzzes the routers with random add / remove / route / assign / release sequences against a
// reference model (the live node set and weights, a brute-force rendezvous and a sorted list
// of ring points): route always returns a live node, rendezvous and ring agree with their
// brute-force references, empty routers throw std::logic_error, snapshots agree with their
// router, replicas are distinct live nodes headed by route(), and bounded_load never assigns
// a node at or above its cap, computed independently in integers. Any disagreement aborts.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <vector>

#include "fuzz_input.hpp"
#include "millrace/core/hash.hpp"
#include "millrace/route/balance.hpp"
#include "millrace/route/maglev.hpp"
#include "millrace/route/rendezvous.hpp"
#include "millrace/route/ring.hpp"

namespace {

using millrace::node_id;
constexpr double ring_ppw = 6.0;

using input = millrace::fuzz::byte_reader;

void check(bool ok) {
    if (!ok) std::abort();
}

template <class F>
void expect_logic_error(F&& f) {
    try {
        f();
    } catch (const std::logic_error&) {
        return;
    }
    std::abort();
}

// The rendezvous reference is derived here from the documented algorithm, not from the
// router's helpers: splitmix64's finalizer (Steele et al. 2014) written out, the node seed
// mix(mix(id) ^ 0x243f6a8885a308d3) and u = ((x >> 11) + 0.5) / 2^53 as docs/routing.md and
// rendezvous.hpp state them, and the score compared as a division by w (the router
// multiplies by 1/w). Because the two computations may round differently, a key whose two
// best costs are within 1e-9 relative is accepted for either node (no spurious aborts).
std::uint64_t splitmix(std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

bool rendezvous_ok(const std::map<node_id, double>& live, std::uint64_t h, node_id got) {
    bool uniform = true;
    for (const auto& [id, w] : live)
        uniform = uniform && w == live.begin()->second;
    struct scored {
        node_id id;
        std::uint64_t raw;
        double cost;
    };
    std::vector<scored> all;
    for (const auto& [id, w] : live) {
        const std::uint64_t raw = splitmix(h ^ splitmix(splitmix(id) ^ 0x243f6a8885a308d3ULL));
        const double u = (static_cast<double>(raw >> 11) + 0.5) / 9007199254740992.0;
        all.push_back({id, raw, -std::log(u) / w});
    }
    if (uniform) {  // the largest raw value wins; equal raw values: the smaller id
        const auto best = std::max_element(all.begin(), all.end(), [](const scored& a, const scored& b) {
            return a.raw != b.raw ? a.raw < b.raw : a.id > b.id;
        });
        return got == best->id;
    }
    const auto best = std::min_element(all.begin(), all.end(),
                                       [](const scored& a, const scored& b) { return a.cost < b.cost; });
    if (got == best->id) return true;
    const auto it = std::find_if(all.begin(), all.end(), [&](const scored& s) { return s.id == got; });
    return it != all.end() && it->cost <= best->cost * (1.0 + 1e-9);
}

// bounded_load's cap computed independently in integers. Fuzzed weights are multiples of
// 0.5 (w2 = 2w) and epsilon is 20%: cap = ceil(120 * (T + 1) * w2 / (100 * sum w2)), >= 1.
std::uint64_t integer_cap(const std::map<node_id, double>& live, node_id n, std::uint64_t total) {
    std::uint64_t sum2 = 0;
    for (const auto& [id, w] : live)
        sum2 += static_cast<std::uint64_t>(std::lround(2 * w));
    const std::uint64_t num = 120 * (total + 1) * static_cast<std::uint64_t>(std::lround(2 * live.at(n)));
    const std::uint64_t den = 100 * sum2;
    return std::max<std::uint64_t>(1, (num + den - 1) / den);
}

std::vector<millrace::detail::ring_point> reference_points(const std::map<node_id, double>& live) {
    std::vector<millrace::detail::ring_point> all;
    std::vector<millrace::detail::ring_point> one;
    for (const auto& [id, w] : live) {
        millrace::detail::ring_table::points_of(
            id, static_cast<std::size_t>(std::max(1.0, std::round(ring_ppw * w))), one);
        all.insert(all.end(), one.begin(), one.end());
    }
    std::sort(all.begin(), all.end());
    return all;
}

node_id reference_ring(const std::vector<millrace::detail::ring_point>& pts, std::uint64_t h) {
    const auto it =
        std::lower_bound(pts.begin(), pts.end(), h,
                         [](const millrace::detail::ring_point& p, std::uint64_t v) { return p.pos < v; });
    return it == pts.end() ? pts.front().node : it->node;
}

template <class Snap>
void check_replicas(const Snap& s, const std::map<node_id, double>& live, std::uint64_t h, std::size_t k) {
    node_id out[24];
    const std::size_t got = s.replicas(h, std::span<node_id>(out, k));
    check(got == std::min(k, live.size()));
    if (got > 0) check(out[0] == s.route(h));
    for (std::size_t i = 0; i < got; ++i) {
        check(live.count(out[i]) == 1);
        for (std::size_t j = 0; j < i; ++j)
            check(out[i] != out[j]);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    input in{data, size};
    millrace::rendezvous_router rdv;
    millrace::ring_router ring(ring_ppw);
    millrace::maglev_router maglev(1021);
    millrace::bounded_load_router<millrace::ring_router> bounded(0.2, ring_ppw);
    std::map<node_id, double> live;
    std::vector<millrace::detail::ring_point> pts;
    std::vector<node_id> assigned;

    while (in.size > 0) {
        const std::uint8_t op = in.byte();
        switch (op % 8) {
            case 0:
            case 1: {
                const node_id id = in.byte() % 48;
                const double w = op % 16 < 8 ? 1.0 : 0.5 + (in.byte() % 16) * 0.5;
                const bool fresh = live.count(id) == 0;
                check(rdv.add(id, w) == fresh);
                check(ring.add(id, w) == fresh);
                check(maglev.add(id, w) == fresh);
                check(bounded.add(id, w) == fresh);
                if (fresh) {
                    live[id] = w;
                    pts = reference_points(live);
                }
                break;
            }
            case 2: {
                const node_id id = in.byte() % 48;
                const bool present = live.erase(id) == 1;
                check(rdv.remove(id) == present);
                check(ring.remove(id) == present);
                check(maglev.remove(id) == present);
                check(bounded.remove(id) == present);
                if (present) {
                    pts = reference_points(live);
                    std::erase(assigned, id);
                }
                break;
            }
            case 7: {
                if (!assigned.empty() && in.byte() % 2 == 0) {
                    const std::size_t i = in.byte() % assigned.size();
                    check(bounded.release(assigned[i]));
                    assigned.erase(assigned.begin() + static_cast<std::ptrdiff_t>(i));
                    break;
                }
                const std::uint64_t h = in.word();
                if (live.empty()) {
                    expect_logic_error([&] { (void)bounded.assign(h); });
                    break;
                }
                const node_id want = bounded.route(h);
                check(live.count(want) == 1);
                const std::uint64_t cap = integer_cap(live, want, bounded.total_load());
                check(bounded.cap(want) == cap);
                check(bounded.load(want) < cap);
                check(bounded.assign(h) == want);
                assigned.push_back(want);
                check(bounded.total_load() == assigned.size());
                break;
            }
            default: {
                const std::uint64_t h = in.word();
                check(rdv.size() == live.size() && ring.size() == live.size() &&
                      maglev.size() == live.size());
                if (live.empty()) {
                    expect_logic_error([&] { (void)rdv.route(h); });
                    expect_logic_error([&] { (void)ring.route(h); });
                    expect_logic_error([&] { (void)maglev.route(h); });
                    expect_logic_error([&] { (void)rdv.snapshot(); });
                    check(!ring.try_snapshot().has_value());
                    break;
                }
                const node_id a = rdv.route(h);
                const node_id b = ring.route(h);
                const node_id c = maglev.route(h);
                check(live.count(a) == 1 && live.count(b) == 1 && live.count(c) == 1);
                check(rendezvous_ok(live, h, a));
                check(b == reference_ring(pts, h));
                check(rdv.snapshot().route(h) == a && ring.snapshot().route(h) == b &&
                      maglev.snapshot().route(h) == c);
                const std::size_t k = 1 + op % 20;
                check_replicas(rdv.snapshot(), live, h, k);
                check_replicas(ring.snapshot(), live, h, k);
                break;
            }
        }
    }
    return 0;
}
