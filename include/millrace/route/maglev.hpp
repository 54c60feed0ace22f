// millrace/route/maglev.hpp: Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and
// Reliable Software Network Load Balancer", NSDI 2016, section 3.4), weighted.
//
// Algorithm: the table has M entries, M prime. Node i has a permutation of the entries given by
// offset_i = h1(i) mod M and skip_i = h2(i) mod (M - 1) + 1 (entry j of the permutation is
// (offset_i + j * skip_i) mod M). Nodes take turns, in id order, each claiming the next entry
// of its own permutation that is still free, until the table is full. A lookup is one multiply
// (the hash mapped onto [0, M) by Lemire's multiply-shift range reduction, no division) and
// two loads. Weights by quotas: node i gets floor(M * w_i / sum(w)) entries plus one for the
// largest remainders (so the quotas sum to M), and the turns run over the nodes that still
// have quota, one entry per turn; its share of the table is w_i / sum(w) within one entry.
// With equal weights this is exactly the paper's loop.
//
// Guarantees: route is O(1) and noexcept on a snapshot. Balance: each node holds its quota
// exactly (M/N within one with equal weights). Disruption: adding or removing one node moves
// more than the optimal 1/N of the keys; the excess shrinks as M/N grows (the paper's
// figure 12). Default table size: M is the smallest prime at least 512 times the node count
// rounded up to a power of two, and at least 65537 (M / N between 512 and 1024 above 128
// nodes), and it is grow-only: a rebuild keeps the previous M unless the new node count needs
// a larger one, and M never shrinks while the router holds a node (clear() or removing the
// last node resets it). So a node count flapping across a power of two (128 <-> 129) does not
// rebuild the table at a new size each time; only the first crossing moves most keys. The
// price: M depends on the largest node count the router has held since it was last empty,
// not on the current node set alone; two routers that must agree key for key (in different
// processes) should pass the same fixed `table_size`, which never changes.
// Measured (docs/routing.md): one add or remove moves about 1.6x the optimal number of keys
// at N = 100 (M = 65537) but 4.9x at N = 1000 (M = 524309): the 1.6x target at N = 1000 is
// missed. The excess falls only slowly with M (3.1x at M = 2^20, 1.8x at
// M = 2^22), so a table large enough for 1.6x at N = 1000 would cost far more memory, lookup
// time and rebuild time than it saves.
// Rebuild: from scratch on every add and remove; M turns, each probing its node's permutation
// to a free entry (the probes total about M ln M for equal weights, as in the paper), whatever
// the weights; plus O(N log N) for the quotas.
//
// Throws: add throws std::invalid_argument for a bad weight or when a fixed table size is
// smaller than the node count; route on an empty router throws std::logic_error.
// Threading: see router.hpp (writer owns the router; readers use snapshot()).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

#include "millrace/core/hash.hpp"
#include "millrace/route/detail/table_router.hpp"
#include "millrace/route/router.hpp"

namespace millrace {

namespace detail {

constexpr bool is_prime(std::uint64_t n) noexcept {
    if (n < 2) return false;
    if (n % 2 == 0) return n == 2;
    for (std::uint64_t d = 3; d * d <= n; d += 2) {
        if (n % d == 0) return false;
    }
    return true;
}

constexpr std::uint64_t next_prime(std::uint64_t n) noexcept {
    if (n <= 2) return 2;
    if (n % 2 == 0) ++n;
    while (!is_prime(n))
        n += 2;
    return n;
}

struct maglev_params {
    std::uint64_t fixed_size = 0;          // 0: chosen from the node count
    std::uint64_t entries_per_node = 512;  // with fixed_size == 0
};

class maglev_table {
public:
    using params = maglev_params;
    static constexpr const char* router_name = "millrace::maglev_router";  // names the router in errors

    /// The size a table for `nodes` nodes would have if built from scratch.
    static std::uint64_t table_size_for(const params& p, std::size_t nodes) noexcept {
        if (p.fixed_size != 0) return p.fixed_size;
        const std::uint64_t n = std::bit_ceil(std::max<std::uint64_t>(nodes, 1));
        return next_prime(std::max<std::uint64_t>(65537, n * p.entries_per_node));
    }

    /// The size of the next table: grow-only. With a default size, M is kept from `previous`
    /// unless the new node count needs a larger one (fewer than entries_per_node entries per
    /// node); it never shrinks while the router holds a table, so a node count flapping
    /// across a power of two (128 <-> 129) rebuilds at one size and moves few keys.
    static std::uint64_t next_table_size(const params& p, const maglev_table* previous,
                                         std::size_t nodes) noexcept {
        const std::uint64_t fresh = table_size_for(p, nodes);
        if (p.fixed_size != 0 || previous == nullptr) return fresh;
        return std::max<std::uint64_t>(fresh, previous->table_size());
    }

    static std::shared_ptr<const maglev_table> build(const params& p, const maglev_table* previous,
                                                     std::span<const node_entry> nodes,
                                                     const node_change& /*change*/,
                                                     std::uint64_t generation) {
        const std::uint64_t m = next_table_size(p, previous, nodes.size());
        if (nodes.size() > m) {
            throw std::invalid_argument("millrace maglev_router: more nodes than table entries");
        }
        auto t = std::make_shared<maglev_table>();
        t->generation_ = generation;
        t->ids_.reserve(nodes.size());
        for (const auto& n : nodes)
            t->ids_.push_back(n.id);
        t->entry_.resize(m);
        // Which entries are taken, one bit each: the permutation walks probe this bitmap
        // (M / 8 bytes, cache-resident) instead of the table itself (4 M bytes).
        std::vector<std::uint64_t> taken((m + 63) / 64, 0);

        struct cursor {
            std::uint64_t pos;  // the next entry of this node's permutation
            std::uint64_t skip;
            std::uint64_t quota;  // entries still to claim
        };
        std::vector<cursor> c(nodes.size());
        const std::vector<std::uint64_t> quota = quotas(nodes, m);
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const std::uint64_t h = hash64(nodes[i].id);
            c[i].pos = h % m;  // offset
            c[i].skip = mix64(h ^ 0x6a09e667f3bcc909ULL) % (m - 1) + 1;
            c[i].quota = quota[i];
        }
        // Turns in id order over the nodes that still have quota: one entry per turn, so the
        // work is M turns (plus the permutation probes) whatever the weights. With equal
        // weights every node has quota in every round but the last, which is the paper's loop.
        std::vector<std::uint32_t> active;
        active.reserve(nodes.size());
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            if (c[i].quota > 0) active.push_back(static_cast<std::uint32_t>(i));
        }
        std::uint64_t turns = 0;
        while (!active.empty()) {
            std::size_t keep = 0;
            for (const std::uint32_t i : active) {
                auto& ci = c[i];
                while ((taken[ci.pos >> 6] >> (ci.pos & 63)) & 1U) {
                    ci.pos += ci.skip;
                    if (ci.pos >= m) ci.pos -= m;
                }
                taken[ci.pos >> 6] |= std::uint64_t{1} << (ci.pos & 63);
                t->entry_[ci.pos] = i;
                ci.pos += ci.skip;
                if (ci.pos >= m) ci.pos -= m;
                ++turns;
                if (--ci.quota > 0) active[keep++] = i;  // stable: id order is kept
            }
            active.resize(keep);
        }
        t->build_turns_ = turns;
        return t;
    }

    /// Each node's number of entries: floor(M * w_i / sum w) plus one for the nodes with the
    /// largest remainders (ties: smaller id) until the quotas sum to M exactly (Hamilton's
    /// largest-remainder method). A node whose share is below one entry may get none.
    static std::vector<std::uint64_t> quotas(std::span<const node_entry> nodes, std::uint64_t m) {
        double total = 0.0;
        for (const auto& n : nodes)
            total += n.weight;
        std::vector<std::uint64_t> q(nodes.size());
        std::vector<double> rem(nodes.size());
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const double exact = static_cast<double>(m) * (nodes[i].weight / total);
            const double whole = std::min(std::floor(exact), static_cast<double>(m));
            q[i] = static_cast<std::uint64_t>(whole);
            rem[i] = exact - whole;
            sum += q[i];
        }
        std::vector<std::uint32_t> order(nodes.size());
        for (std::size_t i = 0; i < order.size(); ++i)
            order[i] = static_cast<std::uint32_t>(i);
        if (sum < m) {  // the usual case: hand out the remaining entries, largest remainder first
            // Ties (equal remainders: equal weights) go to the smaller index, i.e. the smaller id.
            // std::sort with the index as tie-break, not std::stable_sort, whose temporary
            // buffer comes from operator new(nothrow) and would bypass a replaced operator new.
            std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
                return rem[a] != rem[b] ? rem[a] > rem[b] : a < b;
            });
            for (std::size_t j = 0; sum < m; j = (j + 1) % order.size(), ++sum)
                ++q[order[j]];
        } else if (sum > m) {  // rounding overshot: take back from the smallest remainders
            std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
                return rem[a] != rem[b] ? rem[a] < rem[b] : a < b;
            });
            for (std::size_t j = 0; sum > m; j = (j + 1) % order.size()) {
                if (q[order[j]] > 0) {
                    --q[order[j]];
                    --sum;
                }
            }
        }
        return q;
    }

    node_id route(std::uint64_t hash) const noexcept { return ids_[entry_[fast_range(hash, entry_.size())]]; }
    std::size_t size() const noexcept { return ids_.size(); }
    std::uint64_t generation() const noexcept { return generation_; }
    /// M, the number of entries.
    std::size_t table_size() const noexcept { return entry_.size(); }
    /// The entries each node holds (tests, balance figures).
    /// Node turns the build of this table took (M: one entry per turn); for tests.
    std::uint64_t build_turns() const noexcept { return build_turns_; }
    std::vector<std::size_t> entries_per_node() const {
        std::vector<std::size_t> count(ids_.size());
        for (const auto e : entry_)
            ++count[e];
        return count;
    }

private:
    std::vector<std::uint32_t> entry_;  // index into ids_
    std::vector<node_id> ids_;
    std::uint64_t generation_ = 0;
    std::uint64_t build_turns_ = 0;
};

}  // namespace detail

/// Weighted Maglev hashing; see the header comment.
class maglev_router : public detail::table_router<detail::maglev_table> {
public:
    /// Empty; the table size follows the node count (see the header comment).
    maglev_router() = default;

    /// Empty, with a table size that never changes: the smallest prime >= `table_size`.
    /// Throws std::invalid_argument when table_size < 2 or > 2^32.
    explicit maglev_router(std::uint64_t table_size) : table_router(make_params(table_size)) {}

    /// The table size M of the current table (0 when empty).
    [[nodiscard]] std::size_t table_size() const noexcept {
        return table() != nullptr ? table()->table_size() : 0;
    }

private:
    static detail::maglev_params make_params(std::uint64_t table_size) {
        if (table_size < 2 || table_size > (std::uint64_t{1} << 32)) {
            throw std::invalid_argument("millrace maglev_router: table size must be in [2, 2^32]");
        }
        detail::maglev_params p;
        p.fixed_size = detail::next_prime(table_size);
        return p;
    }
};

}  // namespace millrace
