// millrace/route/ring.hpp: a consistent-hash ring with virtual nodes and a bucket index.
//
// Algorithm (Karger et al., "Consistent hashing and random trees", STOC 1997; virtual nodes as in
// ketama and Dynamo): each node places round(points_per_weight * weight) points (at least one)
// on a 64-bit ring, at the positions of a splitmix64 stream seeded by the node id. A key goes
// to the owner of the first point at or after its hash, wrapping past the top. Points are kept
// sorted by (position, node), and a bucket index of 2^b entries (2^b <= points < 2^(b+1)) holds,
// for each value of the hash's top b bits, the first point in that bucket, so a lookup reads
// one index entry and scans the one or two points of its bucket instead of binary-searching
// the whole ring (about 20 levels at a million points).
//
// Guarantees: the ring depends on the node set only. Removing a node moves exactly the keys of
// its points (each to the next point's owner); adding one moves keys only to the new node:
// optimal disruption. Weights scale the number of points, so a node's share tends to
// weight / sum(weights); with the default 1000 points per unit weight the peak/average load at
// 100 equal nodes is about 1.09. replicas() walks the ring from the key's point and lists
// the first k distinct owners.
// Cost: route O(1) expected, noexcept on a snapshot. Memory: 16 bytes per point plus 4 per index
// entry (about 20 MB for 1000 equal nodes at the default; 5.5M points, about 90 MB, for 1000
// nodes of weights 1..10). Rebuild: O(points), by merging the new node's sorted points into
// the previous table (add) or filtering them out (remove); set_nodes sorts all of them. The
// point count is points_per_weight * sum(weights), so rebuild time and memory scale with it:
// lower points_per_weight (or normalise weights so the smallest is 1) for large weighted sets.
//
// Throws: add throws std::invalid_argument for a bad weight or when the ring would pass 2^31
// points; route on an empty router throws std::logic_error. Threading: see router.hpp.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

#include "millrace/core/detail/planted.hpp"
#include "millrace/core/hash.hpp"
#include "millrace/route/detail/table_router.hpp"
#include "millrace/route/router.hpp"

namespace millrace {

namespace detail {

struct ring_params {
    double points_per_weight = 1000.0;
};

struct ring_point {
    std::uint64_t pos;
    node_id node;
    friend bool operator<(const ring_point& a, const ring_point& b) noexcept {
        return a.pos != b.pos ? a.pos < b.pos : a.node < b.node;
    }
};

class ring_table {
public:
    using params = ring_params;
    static constexpr const char* router_name = "millrace::ring_router";  // names the router in errors
    static constexpr std::size_t max_points = std::size_t{1} << 31;

    /// The number of points a node of weight `w` places.
    static std::size_t points_for(const params& p, double w) {
        const double n = std::max(1.0, std::round(p.points_per_weight * w));
        if (!(n < static_cast<double>(max_points))) {
            throw std::invalid_argument("millrace ring_router: too many points for this weight");
        }
        return static_cast<std::size_t>(n);
    }

    /// The positions of `id`'s points: the splitmix64 stream seeded by the node's hash, sorted.
    static void points_of(node_id id, std::size_t count, std::vector<ring_point>& out) {
        const std::uint64_t seed = hash64(id) ^ 0x13198a2e03707344ULL;
        out.clear();
        out.reserve(count);
        for (std::size_t i = 0; i < count; ++i)
            out.push_back(ring_point{mix64(seed + i * golden64), id});
        std::sort(out.begin(), out.end());
    }

    static std::shared_ptr<const ring_table> build(const params& p, const ring_table* previous,
                                                   std::span<const node_entry> nodes,
                                                   const node_change& change, std::uint64_t generation) {
        auto t = std::make_shared<ring_table>();
        t->generation_ = generation;
        t->nodes_ = nodes.size();
        std::vector<ring_point> fresh;
        if (previous != nullptr && change.what == node_change::kind::add) {
            points_of(change.node.id, points_for(p, change.node.weight), fresh);
            if (previous->points_.size() + fresh.size() > max_points) {
                throw std::invalid_argument("millrace ring_router: more than 2^31 points");
            }
            // reserve + back_inserter: no zero fill of a vector the merge overwrites anyway.
            t->points_.reserve(previous->points_.size() + fresh.size());
            std::merge(previous->points_.begin(), previous->points_.end(), fresh.begin(), fresh.end(),
                       std::back_inserter(t->points_));
        } else if (previous != nullptr && change.what == node_change::kind::remove) {
            t->points_.reserve(previous->points_.size());
            for (const auto& pt : previous->points_) {
                if (pt.node != change.node.id) t->points_.push_back(pt);
            }
        } else {
            std::size_t total = 0;
            for (const auto& n : nodes)
                total += points_for(p, n.weight);
            if (total > max_points)
                throw std::invalid_argument("millrace ring_router: more than 2^31 points");
            t->points_.reserve(total);
            for (const auto& n : nodes) {
                points_of(n.id, points_for(p, n.weight), fresh);
                t->points_.insert(t->points_.end(), fresh.begin(), fresh.end());
            }
            std::sort(t->points_.begin(), t->points_.end());
        }
        t->build_index();
        return t;
    }

    /// The index of the first point at or after `hash` (wrapping to 0).
    std::size_t successor(std::uint64_t hash) const noexcept {
        const std::size_t b = static_cast<std::size_t>(hash >> shift_);
        std::size_t i = index_[b];
        const std::size_t end = index_[b + 1];
        while (i < end && points_[i].pos < hash)
            ++i;
        // Past the bucket: the next bucket's first point is above `hash`, or we wrap.
        if (i == points_.size()) i = 0;
        if constexpr (detail::planted("ring_off_by_one"))
            i = i + 1 == points_.size() ? 0 : i + 1;  // one point too far
        return i;
    }

    node_id route(std::uint64_t hash) const noexcept { return points_[successor(hash)].node; }

    std::size_t replicas(std::uint64_t hash, std::span<node_id> out) const {
        const std::size_t k = std::min(out.size(), nodes_);
        if (k == 0) return 0;
        std::size_t found = 0;
        std::vector<node_id> seen;  // sorted; used (and allocated) only for k > 64
        std::size_t i = successor(hash);
        for (std::size_t walked = 0; walked < points_.size() && found < k; ++walked) {
            const node_id n = points_[i].node;
            bool dup;
            if (k <= 64) {
                dup = std::find(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(found), n) !=
                      out.begin() + static_cast<std::ptrdiff_t>(found);
            } else {
                const auto it = std::lower_bound(seen.begin(), seen.end(), n);
                dup = it != seen.end() && *it == n;
                if (!dup) seen.insert(it, n);
            }
            if (!dup) out[found++] = n;
            if (++i == points_.size()) i = 0;
        }
        return found;
    }

    std::size_t size() const noexcept { return nodes_; }
    std::uint64_t generation() const noexcept { return generation_; }
    /// The sorted points (tests, balance figures).
    std::span<const ring_point> points() const noexcept { return points_; }

private:
    void build_index() {
        const std::size_t n = points_.size();
        const std::size_t buckets = std::max<std::size_t>(2, std::bit_floor(n));
        const int bits = std::countr_zero(buckets);
        shift_ = 64 - bits;
        index_.assign(buckets + 1, 0);
        std::size_t i = 0;
        for (std::size_t b = 0; b < buckets; ++b) {
            while (i < n && static_cast<std::size_t>(points_[i].pos >> shift_) < b)
                ++i;
            index_[b] = static_cast<std::uint32_t>(i);
        }
        index_[buckets] = static_cast<std::uint32_t>(n);
    }

    std::vector<ring_point> points_;
    std::vector<std::uint32_t> index_;  // index_[b]: first point whose top bits are >= b
    int shift_ = 63;
    std::size_t nodes_ = 0;
    std::uint64_t generation_ = 0;
};

}  // namespace detail

/// Consistent-hash ring with weighted virtual nodes; see the header comment.
class ring_router : public detail::table_router<detail::ring_table> {
public:
    /// Empty, 1000 points per unit of weight.
    ring_router() = default;
    /// Empty, with `points_per_weight` points per unit of weight (> 0, finite; else
    /// std::invalid_argument). More points: better balance, more memory, slower rebuild.
    explicit ring_router(double points_per_weight) : table_router(make_params(points_per_weight)) {}

    // replicas(hash, out) and replicas(hash, k): see detail::table_router (ring order from
    // the key for the ring, best first for rendezvous).

private:
    static detail::ring_params make_params(double ppw) {
        if (!(ppw > 0.0) || !std::isfinite(ppw)) {
            throw std::invalid_argument("millrace ring_router: points_per_weight must be finite and > 0");
        }
        return detail::ring_params{ppw};
    }
};

}  // namespace millrace
