// millrace/route/rendezvous.hpp: weighted rendezvous (highest random weight) hashing.
//
// Algorithm (Thaler & Ravishankar, "Using name-based mappings to increase hit rates", IEEE/ACM
// ToN 1998; weighted form: Schindelhauer & Schomaker, "Weighted distributed hash tables", SPAA
// 2005, and Resch's "-w / ln(u)" score): every node draws a pseudo-random number for the key,
// u = uniform(0, 1) from mix64(hash ^ seed_node), and the key goes to the node with the highest
// score w / -ln(u). A node of weight w then wins a share w / sum(weights) of the keys exactly
// (the scores are exponential variables with rate 1/w). When every weight is equal the score is
// monotone in u, so route skips the logarithm and takes the largest mixed hash: one multiply-xor
// mix per node.
//
// Guarantees: only the keys of a removed node move (each to its next-best node), and an added
// node takes keys only for itself: exactly the optimal disruption, for any weights. Ties (equal
// scores) go to the larger mixed hash, then the smaller node id, so the result depends on the
// node set only. replicas() lists the k best nodes, which are distinct and stable in the same sense: removing
// a node that is not among them leaves them as they were. Cost: route is O(N) (about 1 ns per node); rebuild
// is O(N) and never touches other tables.
//
// Throws: add throws std::invalid_argument for a weight that is not finite and > 0;
// route on an empty router throws std::logic_error. Threading: see router.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "millrace/core/hash.hpp"
#include "millrace/route/detail/table_router.hpp"
#include "millrace/route/router.hpp"

namespace millrace {

namespace detail {

struct rendezvous_params {};

class rendezvous_table {
public:
    using params = rendezvous_params;
    static constexpr const char* router_name = "millrace::rendezvous_router";  // names the router in errors

    /// The seed a node's scores are drawn with.
    static std::uint64_t seed_of(node_id id) noexcept { return mix64(hash64(id) ^ 0x243f6a8885a308d3ULL); }
    /// The uniform draw in (0, 1) of a mixed score.
    static double unit(std::uint64_t x) noexcept { return (static_cast<double>(x >> 11) + 0.5) * 0x1.0p-53; }

    static std::shared_ptr<const rendezvous_table> build(const params&, const rendezvous_table*,
                                                         std::span<const node_entry> nodes,
                                                         const node_change&, std::uint64_t generation) {
        auto t = std::make_shared<rendezvous_table>();
        t->generation_ = generation;
        t->ids_.reserve(nodes.size());
        t->seeds_.reserve(nodes.size());
        t->inv_weight_.reserve(nodes.size());
        t->uniform_ = true;
        for (const auto& n : nodes) {
            t->ids_.push_back(n.id);
            t->seeds_.push_back(seed_of(n.id));
            t->inv_weight_.push_back(1.0 / n.weight);
            if (n.weight != nodes[0].weight) t->uniform_ = false;
        }
        return t;
    }

    node_id route(std::uint64_t hash) const noexcept {
        const std::size_t n = ids_.size();
        const std::uint64_t* seeds = seeds_.data();
        std::size_t best = 0;
        if (uniform_) {
            // Highest mixed value wins; `>` keeps the first (smallest id) on a tie.
            std::uint64_t best_score = mix64(hash ^ seeds[0]);
            for (std::size_t i = 1; i < n; ++i) {
                const std::uint64_t s = mix64(hash ^ seeds[i]);
                if (s > best_score) {
                    best_score = s;
                    best = i;
                }
            }
        } else {
            // Highest w / -ln(u) wins, i.e. the smallest -ln(u) / w.
            // Equal costs: the larger raw hash wins, as in the unweighted path, then the
            // smaller id.
            std::uint64_t best_raw = mix64(hash ^ seeds[0]);
            double best_cost = cost_of(best_raw, 0);
            for (std::size_t i = 1; i < n; ++i) {
                const std::uint64_t raw = mix64(hash ^ seeds[i]);
                const double c = cost_of(raw, i);
                if (c < best_cost || (c == best_cost && raw > best_raw)) {
                    best_cost = c;
                    best_raw = raw;
                    best = i;
                }
            }
        }
        return ids_[best];
    }

    /// Up to out.size() distinct nodes, best first; returns how many (min(k, size())).
    std::size_t replicas(std::uint64_t hash, std::span<node_id> out) const {
        const std::size_t k = std::min(out.size(), ids_.size());
        if (k == 0) return 0;
        // Insertion into a sorted top-k of (cost, index); the cost is the negated score (uniform)
        // or -ln(u)/w, so smaller is better for both, and index breaks ties like route().
        struct cand {
            double cost;
            std::uint64_t raw;  // the mixed value (higher is better; breaks cost ties)
            std::size_t index;
        };
        constexpr std::size_t stack_k = 64;
        cand stack[stack_k];
        std::vector<cand> heap_buf;
        cand* top = stack;
        if (k > stack_k) {
            heap_buf.resize(k);  // the only allocation, and only for k > 64
            top = heap_buf.data();
        }
        const auto better = [this](const cand& a, const cand& b) {
            if (uniform_) return a.raw != b.raw ? a.raw > b.raw : a.index < b.index;
            if (a.cost != b.cost) return a.cost < b.cost;
            return a.raw != b.raw ? a.raw > b.raw : a.index < b.index;
        };
        std::size_t filled = 0;
        for (std::size_t i = 0; i < ids_.size(); ++i) {
            cand c{0.0, mix64(hash ^ seeds_[i]), i};
            if (!uniform_) c.cost = cost_of(c.raw, i);
            if (filled == k && !better(c, top[k - 1])) continue;
            std::size_t j = filled < k ? filled++ : k - 1;
            while (j > 0 && better(c, top[j - 1])) {
                top[j] = top[j - 1];
                --j;
            }
            top[j] = c;
        }
        for (std::size_t j = 0; j < k; ++j)
            out[j] = ids_[top[j].index];
        return k;
    }

    std::size_t size() const noexcept { return ids_.size(); }
    std::uint64_t generation() const noexcept { return generation_; }

private:
    double cost_of(std::uint64_t raw, std::size_t i) const noexcept {
        return -std::log(unit(raw)) * inv_weight_[i];
    }

    std::vector<node_id> ids_;  // sorted
    std::vector<std::uint64_t> seeds_;
    std::vector<double> inv_weight_;
    bool uniform_ = true;
    std::uint64_t generation_ = 0;
};

}  // namespace detail

/// Weighted rendezvous (HRW) hashing; see the header comment.
class rendezvous_router : public detail::table_router<detail::rendezvous_table> {
public:
    rendezvous_router() = default;
    // replicas(hash, out) and replicas(hash, k): see detail::table_router (best first).
};

}  // namespace millrace
