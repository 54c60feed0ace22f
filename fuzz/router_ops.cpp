// Fuzzes the routers with random add / remove / route / assign / release sequences against a
// reference model (the live node set and weights, a brute-force rendezvous and a sorted list
// of ring points): route always returns a live node, rendezvous and ring agree with their
// brute-force references, empty routers throw std::logic_error, snapshots agree with their
// router, replicas are distinct live nodes headed by route(), and bounded_load never assigns
// a node at or above its cap. Any disagreement aborts.
#include <millrace/core/hash.hpp>
#include <millrace/route/balance.hpp>
#include <millrace/route/maglev.hpp>
#include <millrace/route/rendezvous.hpp>
#include <millrace/route/ring.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <vector>

namespace {

using millrace::node_id;
constexpr double ring_ppw = 6.0;

struct input {
    const std::uint8_t* data;
    std::size_t size;
    std::uint8_t byte() {
        if (size == 0) return 0;
        --size;
        return *data++;
    }
    std::uint64_t word() {
        std::uint64_t v = 0;
        const std::size_t n = std::min<std::size_t>(size, 8);
        std::memcpy(&v, data, n);
        data += n;
        size -= n;
        return v;
    }
};

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

node_id reference_rendezvous(const std::map<node_id, double>& live, std::uint64_t h) {
    using T = millrace::detail::rendezvous_table;
    bool uniform = true;
    for (const auto& [id, w] : live) uniform = uniform && w == live.begin()->second;
    node_id best = 0;
    std::uint64_t best_raw = 0;
    double best_cost = INFINITY;
    bool first = true;
    for (const auto& [id, w] : live) {  // ascending ids: strict comparisons keep the smallest on ties
        const std::uint64_t raw = millrace::detail::mix64(h ^ T::seed_of(id));
        const double cost = -std::log(T::unit(raw)) / w;
        if (first || (uniform ? raw > best_raw : cost < best_cost)) {
            best = id;
            best_raw = raw;
            best_cost = cost;
            first = false;
        }
    }
    return best;
}

std::vector<millrace::detail::ring_point> reference_points(const std::map<node_id, double>& live) {
    std::vector<millrace::detail::ring_point> all;
    std::vector<millrace::detail::ring_point> one;
    for (const auto& [id, w] : live) {
        millrace::detail::ring_table::points_of(id, static_cast<std::size_t>(std::max(1.0, std::round(ring_ppw * w))), one);
        all.insert(all.end(), one.begin(), one.end());
    }
    std::sort(all.begin(), all.end());
    return all;
}

node_id reference_ring(const std::vector<millrace::detail::ring_point>& pts, std::uint64_t h) {
    const auto it = std::lower_bound(pts.begin(), pts.end(), h,
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
        for (std::size_t j = 0; j < i; ++j) check(out[i] != out[j]);
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
                check(bounded.load(want) < bounded.cap(want));
                check(bounded.assign(h) == want);
                assigned.push_back(want);
                check(bounded.total_load() == assigned.size());
                break;
            }
            default: {
                const std::uint64_t h = in.word();
                check(rdv.size() == live.size() && ring.size() == live.size() && maglev.size() == live.size());
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
                check(a == reference_rendezvous(live, h));
                check(b == reference_ring(pts, h));
                check(rdv.snapshot().route(h) == a && ring.snapshot().route(h) == b && maglev.snapshot().route(h) == c);
                const std::size_t k = 1 + op % 20;
                check_replicas(rdv.snapshot(), live, h, k);
                check_replicas(ring.snapshot(), live, h, k);
                break;
            }
        }
    }
    return 0;
}
