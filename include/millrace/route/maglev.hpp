// millrace/route/maglev.hpp: Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and
// Reliable Software Network Load Balancer", NSDI 2016, section 3.4), weighted.
//
// Algorithm: the table has M entries, M prime. Node i has a permutation of the entries given by
// offset_i = h1(i) mod M and skip_i = h2(i) mod (M - 1) + 1 (entry j of the permutation is
// (offset_i + j * skip_i) mod M). Nodes take turns, in id order, each claiming the next entry
// of its own permutation that is still free, until the table is full. A lookup is one multiply
// (the hash mapped onto [0, M) by Lemire's multiply-shift range reduction, no division) and
// two loads. Weights by fill turns: in each round, node i earns weight_i / max_weight credit
// and claims one entry per whole credit, so its share of the table is weight_i / sum(weights).
//
// Guarantees: route is O(1) and noexcept on a snapshot. Balance: each node holds M/N entries
// within one (equal weights). Disruption: adding or removing one node moves slightly more than
// the optimal 1/N of the keys; the excess shrinks as M/N grows (the paper's figure 12), which is
// why the default table size grows with the node count: M is the smallest prime at least 512
// times the node count rounded up to a power of two, and at least 65537 (so M / N is between
// 512 and 1024 above 128 nodes). Measured (docs/routing.md): one add or remove moves about 1.6x
// the optimal number of keys at N = 100 (M = 65537) but 4.9x at N = 1000 (M = 524309); the
// excess falls only slowly with M (3.1x at M = 2^20, 1.8x at M = 2^22), so a table large enough
// for 1.6x at N = 1000 would cost far more memory, lookup time and rebuild time than it saves. The size therefore depends on the node set only (two routers with the same
// nodes agree), but when the node count crosses a power of two the whole table is rebuilt at a
// new size and most keys move. Pass a fixed `table_size` to keep M constant forever.
// Rebuild: O(M log M), from scratch, on every add and remove (see docs/routing.md for times).
//
// Throws: add throws std::invalid_argument for a bad weight or when a fixed table size is
// smaller than the node count; route on an empty router throws std::logic_error.
// Threading: see router.hpp (writer owns the router; readers use snapshot()).
#pragma once

#include <millrace/core/hash.hpp>
#include <millrace/route/detail/table_router.hpp>
#include <millrace/route/router.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

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
    while (!is_prime(n)) n += 2;
    return n;
}

struct maglev_params {
    std::uint64_t fixed_size = 0;          // 0: chosen from the node count
    std::uint64_t entries_per_node = 512;   // with fixed_size == 0
};

class maglev_table {
public:
    using params = maglev_params;

    static std::uint64_t table_size_for(const params& p, std::size_t nodes) noexcept {
        if (p.fixed_size != 0) return p.fixed_size;
        const std::uint64_t n = std::bit_ceil(std::max<std::uint64_t>(nodes, 1));
        return next_prime(std::max<std::uint64_t>(65537, n * p.entries_per_node));
    }

    static std::shared_ptr<const maglev_table> build(const params& p, const maglev_table* /*previous*/,
                                                     std::span<const node_entry> nodes, const node_change& /*change*/,
                                                     std::uint64_t generation) {
        const std::uint64_t m = table_size_for(p, nodes.size());
        if (nodes.size() > m) {
            throw std::invalid_argument("millrace maglev_router: more nodes than table entries");
        }
        auto t = std::make_shared<maglev_table>();
        t->generation_ = generation;
        t->ids_.reserve(nodes.size());
        double max_weight = 0.0;
        for (const auto& n : nodes) {
            t->ids_.push_back(n.id);
            max_weight = std::max(max_weight, n.weight);
        }
        t->entry_.resize(m);
        // Which entries are taken, one bit each: the permutation walks probe this bitmap
        // (M / 8 bytes, cache-resident) instead of the table itself (4 M bytes).
        std::vector<std::uint64_t> taken((m + 63) / 64, 0);

        struct cursor {
            std::uint64_t pos;   // the next entry of this node's permutation
            std::uint64_t skip;
            double share;        // weight / max weight
            double credit;
        };
        std::vector<cursor> c(nodes.size());
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const std::uint64_t h = hash64(nodes[i].id);
            c[i].pos = h % m;                                   // offset
            c[i].skip = mix64(h ^ 0x6a09e667f3bcc909ULL) % (m - 1) + 1;
            c[i].share = nodes[i].weight / max_weight;
            c[i].credit = 0.0;
        }
        std::uint64_t filled = 0;
        while (filled < m) {
            for (std::size_t i = 0; i < c.size() && filled < m; ++i) {
                auto& ci = c[i];
                ci.credit += ci.share;
                while (ci.credit >= 1.0 && filled < m) {
                    ci.credit -= 1.0;
                    while ((taken[ci.pos >> 6] >> (ci.pos & 63)) & 1U) {
                        ci.pos += ci.skip;
                        if (ci.pos >= m) ci.pos -= m;
                    }
                    taken[ci.pos >> 6] |= std::uint64_t{1} << (ci.pos & 63);
                    t->entry_[ci.pos] = static_cast<std::uint32_t>(i);
                    ci.pos += ci.skip;
                    if (ci.pos >= m) ci.pos -= m;
                    ++filled;
                }
            }
        }
        return t;
    }

    node_id route(std::uint64_t hash) const noexcept { return ids_[entry_[fast_range(hash, entry_.size())]]; }
    std::size_t size() const noexcept { return ids_.size(); }
    std::uint64_t generation() const noexcept { return generation_; }
    /// M, the number of entries.
    std::size_t table_size() const noexcept { return entry_.size(); }
    /// The entries each node holds (tests, balance figures).
    std::vector<std::size_t> entries_per_node() const {
        std::vector<std::size_t> count(ids_.size());
        for (const auto e : entry_) ++count[e];
        return count;
    }

private:
    std::vector<std::uint32_t> entry_;  // index into ids_
    std::vector<node_id> ids_;
    std::uint64_t generation_ = 0;
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
