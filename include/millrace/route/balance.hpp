// millrace/route/balance.hpp: load balancers that are not (only) consistent hashing.
//
//  - round_robin_router: node i, i+1, i+2 ... (mod n) on successive calls, from any thread
//    (one relaxed fetch_add per call). Ignores the hash.
//  - p2c_router: the power of two choices (Mitzenmacher, "The Power of Two Choices in
//    Randomized Load Balancing", IEEE TPDS 2001): two distinct candidates drawn from the hash,
//    and the one with the smaller live load wins. The caller keeps the loads current
//    (increment when work starts, decrement when it ends, or acquire/release); every call is
//    safe from any thread. Pass a fresh random hash per request for the classic algorithm,
//    or hash64(key) to confine each key to its two candidates.
//  - bounded_load_router<R>: consistent hashing with bounded loads (Mirrokni, Thorup,
//    Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018). `assign(hash)` walks
//    from R's consistent choice along R's preference order (replicas() for rendezvous and
//    ring; re-hashed probes, then every node, for other routers) to the first node whose load
//    is below its cap ceil((1 + eps) * (total + 1) * weight / total_weight) at that moment —
//    with equal weights, ceil((1 + eps) * average) counting the item being placed — and
//    charges it one unit; `release(node)` gives one back. The cap is computed so that
//    floating-point rounding can never raise it above the exact value for the epsilon the
//    user wrote (1.1 * 100 / 10 is 11.000000000000002 in doubles: the cap is 11, not 12): a
//    product within a few parts in 10^12 of an integer is taken as that integer. Hence, while
//    no release happens, no node ever exceeds that cap, and a node below its cap exists at
//    every assign (the caps sum to at least (1 + eps) * (total + 1) > total); should rounding
//    ever leave none, assign takes the least loaded node. The cap is checked at each assign
//    only: a release lowers the average, so a node may sit at or above the new (lower) cap
//    until its own releases bring it down; it simply receives nothing meanwhile.
//    Not thread-safe: one thread, or the caller's lock, for every call.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

#include "millrace/core/cache.hpp"
#include "millrace/core/detail/planted.hpp"
#include "millrace/core/hash.hpp"
#include "millrace/route/detail/table_router.hpp"
#include "millrace/route/maglev.hpp"
#include "millrace/route/ring.hpp"
#include "millrace/route/router.hpp"

namespace millrace {

/// Round robin over nodes 0 ... n-1; see the header comment.
class round_robin_router {
public:
    /// Throws std::invalid_argument when n == 0.
    explicit round_robin_router(std::size_t n) : n_(n) {
        if (n == 0) throw std::invalid_argument("millrace::round_robin_router: node count must be >= 1");
    }
    /// The next node in turn; `hash` is ignored. Any thread.
    [[nodiscard]] node_id route(std::uint64_t /*hash*/) const noexcept {
        // Relaxed: only the counter's own sequence matters (each call gets a distinct ticket).
        return static_cast<node_id>(next_->fetch_add(1, std::memory_order_relaxed) % n_);
    }
    /// The number of nodes.
    [[nodiscard]] std::size_t size() const noexcept { return n_; }

private:
    std::size_t n_;
    mutable detail::padded<std::atomic<std::uint64_t>> next_{};
};

/// Power of two choices over caller-maintained live loads of nodes 0 ... n-1.
class p2c_router {
public:
    /// Throws std::invalid_argument when n == 0.
    explicit p2c_router(std::size_t n) : n_(n) {
        if (n == 0) throw std::invalid_argument("millrace::p2c_router: node count must be >= 1");
        loads_ = std::make_unique<detail::padded<std::atomic<std::int64_t>>[]>(n);
    }

    /// The less loaded of two distinct candidates drawn from `hash` (the first on a tie).
    /// Any thread; reads two counters.
    [[nodiscard]] node_id route(std::uint64_t hash) const noexcept {
        if (n_ == 1) return 0;
        const auto [a, b] = candidates(hash);
        // Relaxed: loads are a heuristic; no other data is read on their strength.
        return load_of(b) < load_of(a) ? b : a;
    }
    /// route(hash), then increment(node): the usual call when work is handed out.
    node_id acquire(std::uint64_t hash) noexcept {
        const node_id n = route(hash);
        (*loads_[n]).fetch_add(1, std::memory_order_relaxed);  // relaxed: see route()
        return n;
    }
    /// One unit of work on `node` finished: its load drops by one, but never below zero (a
    /// stray extra release is ignored). Throws std::invalid_argument for node >= size().
    void release(node_id node) { decrement(node); }

    /// One more unit of work on `node`. Throws std::invalid_argument for node >= size().
    void increment(node_id node) { add_load(node, 1); }
    /// Like release(): never takes a load below zero.
    void decrement(node_id node) {
        auto& l = *loads_[check(node)];
        std::int64_t cur = l.load(std::memory_order_relaxed);  // relaxed: see route()
        while (cur > 0 && !l.compare_exchange_weak(cur, cur - 1, std::memory_order_relaxed)) {
        }
    }
    /// Adds `delta` (may be negative, and may take the load below zero) to `node`'s load. Throws
    /// std::invalid_argument for node >= size().
    void add_load(node_id node, std::int64_t delta) {
        (*loads_[check(node)]).fetch_add(delta, std::memory_order_relaxed);  // relaxed: see route()
    }
    /// Sets `node`'s load (for a caller that measures load itself: queue depth, latency ...).
    void set_load(node_id node, std::int64_t load) {
        (*loads_[check(node)]).store(load, std::memory_order_relaxed);  // relaxed: see route()
    }
    /// The load of `node` now. Throws std::invalid_argument for node >= size().
    [[nodiscard]] std::int64_t load(node_id node) const { return load_of(check(node)); }
    /// The number of nodes.
    [[nodiscard]] std::size_t size() const noexcept { return n_; }

    /// The two candidates of `hash`, for tests and tracing: distinct when size() >= 2, and
    /// {0, 0} when size() == 1.
    [[nodiscard]] std::pair<node_id, node_id> candidates(std::uint64_t hash) const noexcept {
        if (n_ == 1) return {0, 0};
        const auto a = static_cast<node_id>(detail::fast_range(hash, n_));
        auto b = static_cast<node_id>(detail::fast_range(detail::mix64(hash), n_ - 1));
        if (b >= a) ++b;
        return {a, b};
    }

private:
    std::int64_t load_of(node_id n) const noexcept {
        return (*loads_[n]).load(std::memory_order_relaxed);  // relaxed: see route()
    }
    node_id check(node_id node) const {
        if (node >= n_) throw std::invalid_argument("millrace::p2c_router: no such node");
        return node;
    }

    std::size_t n_;
    std::unique_ptr<detail::padded<std::atomic<std::int64_t>>[]> loads_;
};

/// Consistent hashing with bounded loads over a mutable router R; see the header comment.
template <class R = ring_router>
requires mutable_router<R>
class bounded_load_router {
public:
    /// `epsilon` > 0 (finite): the cap is (1 + epsilon) times the average load, rounded up.
    /// `args` construct the inner router. Throws std::invalid_argument for a bad epsilon.
    template <class... A>
    explicit bounded_load_router(double epsilon = 0.25, A&&... args)
        : router_(std::forward<A>(args)...), eps_(epsilon) {
        if (!(epsilon > 0.0) || !std::isfinite(epsilon)) {
            throw std::invalid_argument("millrace::bounded_load_router: epsilon must be finite and > 0");
        }
    }

    /// Adds a node with zero load (see R::add for what it throws). False when present.
    /// Strong guarantee: when it throws, nothing changed (the slot is reserved before the
    /// inner router changes, so the insert after it cannot throw).
    bool add(node_id id, double weight = 1.0) {
        if (nodes_.size() == nodes_.capacity()) nodes_.reserve(nodes_.size() + nodes_.size() / 2 + 1);
        if (!router_.add(id, weight)) return false;
        const auto it = find(id);
        nodes_.insert(it, slot{id, weight, 0});  // capacity reserved above: no allocation, no throw
        total_weight_ += weight;
        return true;
    }
    /// Replaces the node set in one rebuild of R (see R::set_nodes for what it throws); every
    /// load starts again at zero.
    void set_nodes(std::span<const node_entry> nodes) {
        std::vector<slot> next;
        next.reserve(nodes.size());
        router_.set_nodes(nodes);
        double weight = 0.0;
        for (const auto& n : router_.nodes()) {  // sorted by id
            next.push_back(slot{n.id, n.weight, 0});
            weight += n.weight;
        }
        nodes_ = std::move(next);
        total_load_ = 0;
        total_weight_ = weight;
    }

    /// Removes a node and forgets its load: release(id) returns false while `id` is absent.
    /// If the same id is added again, it starts at zero load and a release(id) cannot tell
    /// work assigned before the remove from work assigned after it: such a release lowers the
    /// new load (never below zero; it returns false at zero). Callers that re-add ids must drop
    /// their outstanding releases for a removed node.
    bool remove(node_id id) {
        if (!router_.remove(id)) return false;
        const auto it = find(id);
        total_load_ -= it->load;
        nodes_.erase(it);
        total_weight_ = 0.0;  // summed afresh: no drift from repeated add/remove
        for (const auto& n : nodes_)
            total_weight_ += n.weight;
        return true;
    }

    /// Picks the node for `hash` under the caps (as assign would) and charges it one unit.
    /// Throws std::logic_error when empty.
    node_id assign(std::uint64_t hash) {
        slot& s = nodes_[pick(hash)];
        ++s.load;
        ++total_load_;
        return s.id;
    }
    /// One unit assigned to `node` is done. False (nothing changes) when `node` is absent or
    /// has no load.
    bool release(node_id node) noexcept {
        const auto it = find(node);
        if (it == nodes_.end() || it->id != node || it->load == 0) return false;
        --it->load;
        --total_load_;
        return true;
    }

    /// The node assign(hash) would pick now, without charging it. Throws std::logic_error when
    /// empty.
    [[nodiscard]] node_id route(std::uint64_t hash) const { return nodes_[pick(hash)].id; }

    /// The cap `node` must stay below to receive the next assign (0 when absent).
    [[nodiscard]] std::uint64_t cap(node_id node) const noexcept {
        const auto it = find(node);
        return it == nodes_.end() || it->id != node ? 0 : cap_of(*it);
    }
    /// The load of `node` now (0 for an unknown node).
    [[nodiscard]] std::uint64_t load(node_id node) const noexcept {
        const auto it = find(node);
        return it == nodes_.end() || it->id != node ? 0 : it->load;
    }
    /// The load of all nodes together.
    [[nodiscard]] std::uint64_t total_load() const noexcept { return total_load_; }
    /// The slack: no node takes more than ceil((1 + epsilon) * average).
    [[nodiscard]] double epsilon() const noexcept { return eps_; }
    /// The number of nodes.
    [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
    /// The inner consistent router (its route() is the unbounded choice).
    [[nodiscard]] const R& inner() const noexcept { return router_; }

private:
    struct slot {
        node_id id;
        double weight;
        std::uint64_t load;
    };

    typename std::vector<slot>::iterator find(node_id id) noexcept {
        return std::lower_bound(nodes_.begin(), nodes_.end(), id,
                                [](const slot& s, node_id v) { return s.id < v; });
    }
    typename std::vector<slot>::const_iterator find(node_id id) const noexcept {
        return std::lower_bound(nodes_.begin(), nodes_.end(), id,
                                [](const slot& s, node_id v) { return s.id < v; });
    }

    std::uint64_t cap_of(const slot& s) const noexcept {
        const double c = (1.0 + eps_) * static_cast<double>(total_load_ + 1) * (s.weight / total_weight_);
        // A few ulps of rounding in the product must not push an exact integer up by one:
        // within 1e-12 relative of an integer counts as that integer.
        const double near = std::round(c);
        double r = std::fabs(c - near) <= 1e-12 * std::max(1.0, c) ? near : std::ceil(c);
        if constexpr (detail::planted("bounded_cap_rounding")) r = std::ceil(c);  // 11.000000000000002 -> 12
        return r < 1.0 ? 1 : static_cast<std::uint64_t>(r);
    }

    std::size_t index_of(node_id id) const noexcept {
        return static_cast<std::size_t>(find(id) - nodes_.begin());
    }
    bool below_cap(std::size_t i) const noexcept { return nodes_[i].load < cap_of(nodes_[i]); }

    /// The index in nodes_ of the node for `hash` under the caps.
    std::size_t pick(std::uint64_t hash) const {
        if (nodes_.empty())
            throw std::logic_error("millrace::bounded_load_router: assign on an empty router");
        if constexpr (replicating_router<R>) {
            // R's own preference order, widened 8, 32, 128 ... nodes at a time, so the cost
            // follows how far the walk has to go.
            std::size_t checked = 0;
            for (std::size_t k = 8;; k *= 4) {
                k = std::min(k, nodes_.size());
                scratch_.resize(k);
                const std::size_t got = router_.replicas(hash, std::span<node_id>(scratch_));
                for (std::size_t i = checked; i < got; ++i) {
                    const std::size_t j = index_of(scratch_[i]);
                    if (below_cap(j)) return j;
                }
                checked = got;
                if (k == nodes_.size()) break;
            }
        } else {
            // Re-hashed probes of R, then every node in id order from the first choice.
            const std::size_t first = index_of(router_.route(hash));
            if (below_cap(first)) return first;
            for (std::uint64_t i = 1; i < 16; ++i) {
                const std::size_t j = index_of(router_.route(detail::mix64(hash + i * detail::golden64)));
                if (below_cap(j)) return j;
            }
            for (std::size_t i = 1; i <= nodes_.size(); ++i) {
                const std::size_t j = (first + i) % nodes_.size();
                if (below_cap(j)) return j;
            }
        }
        // Unreachable in exact arithmetic (the caps sum to more than the total load); kept so
        // that rounding can never leave assign without an answer: the least loaded node.
        return static_cast<std::size_t>(
            std::min_element(nodes_.begin(), nodes_.end(),
                             [](const slot& a, const slot& b) { return a.load < b.load; }) -
            nodes_.begin());
    }

    R router_;
    double eps_;
    std::vector<slot> nodes_;  // sorted by id, mirrors router_'s nodes
    std::uint64_t total_load_ = 0;
    double total_weight_ = 0.0;
    mutable std::vector<node_id> scratch_;  // full preference list, reused
};

}  // namespace millrace
