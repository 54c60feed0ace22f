// millrace/route/detail/table_router.hpp: the node set, validation and snapshot plumbing shared by
// rendezvous_router, ring_router and maglev_router. Not part of the public API.
//
// A table router keeps its nodes sorted by id (so every table depends on the node set alone,
// never on the order of the add calls: two processes that add the same nodes in any order
// route every key alike). Each add or remove builds a complete new immutable table from the
// new node set (and, where that is cheaper, from the previous table) before anything changes,
// so a mutation either succeeds or throws leaving the router as it was (strong guarantee).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "millrace/core/config.hpp"
#include "millrace/route/detail/publisher.hpp"
#include "millrace/route/router.hpp"

namespace millrace {

namespace detail {

/// What changed between the previous table and the one being built.
struct node_change {
    enum class kind { add, remove, reset } what;
    node_entry node;
};

/// Table must provide:
///   using params = ...;  (the router's configuration)
///   static std::shared_ptr<const Table> build(const params&, const Table* previous,
///       std::span<const node_entry> nodes /* non-empty, sorted */, const node_change&, std::uint64_t
///       generation);
///   node_id route(std::uint64_t) const noexcept; std::size_t size() const noexcept;
///   std::uint64_t generation() const noexcept;
///   static constexpr const char* router_name;  (the public router's name, for errors)
template <class Table>
class table_router {
public:
    using snapshot_type = route_snapshot<Table>;
    using params_type = typename Table::params;

    /// Adds `id` with `weight` (finite, > 0). Returns false, changing nothing, when `id` is
    /// already present (use remove + add to change a weight). Throws std::invalid_argument for
    /// a bad weight; the router's own limits (see each router) also throw std::invalid_argument.
    bool add(node_id id, double weight = 1.0) {
        check_weight(weight);
        const auto it = find(id);
        if (it != nodes_.end() && it->id == id) return false;
        std::vector<node_entry> next;
        next.reserve(nodes_.size() + 1);
        next.insert(next.end(), nodes_.cbegin(), it);
        next.push_back(node_entry{id, weight});
        next.insert(next.end(), it, nodes_.cend());
        install(std::move(next), node_change{node_change::kind::add, node_entry{id, weight}});
        return true;
    }

    /// Removes `id` (any node, not only the last one). Returns false when it is absent.
    bool remove(node_id id) {
        const auto it = find(id);
        if (it == nodes_.end() || it->id != id) return false;
        const node_entry gone = *it;
        std::vector<node_entry> next;
        next.reserve(nodes_.size() - 1);
        next.insert(next.end(), nodes_.cbegin(), it);
        next.insert(next.end(), it + 1, nodes_.cend());
        install(std::move(next), node_change{node_change::kind::remove, gone});
        return true;
    }

    /// Replaces the whole node set with `nodes` (any order) in one rebuild: use it to build a
    /// router of many nodes, which one add per node would rebuild many times. Throws
    /// std::invalid_argument for a bad weight or a repeated id, leaving the router unchanged.
    void set_nodes(std::span<const node_entry> nodes) {
        std::vector<node_entry> next(nodes.begin(), nodes.end());
        std::sort(next.begin(), next.end(),
                  [](const node_entry& a, const node_entry& b) { return a.id < b.id; });
        for (std::size_t i = 0; i < next.size(); ++i) {
            check_weight(next[i].weight);
            if (i > 0 && next[i].id == next[i - 1].id) {
                throw std::invalid_argument("millrace router: node " + std::to_string(next[i].id) +
                                            " listed twice");
            }
        }
        install(std::move(next), node_change{node_change::kind::reset, node_entry{0, 0.0}});
    }

    /// Removes every node.
    void clear() noexcept {
        nodes_.clear();
        pub_.publish(nullptr);
    }

    /// The weight of `id`, or 0.0 when it is absent.
    [[nodiscard]] double weight(node_id id) const noexcept {
        const auto it = find(id);
        return it != nodes_.end() && it->id == id ? it->weight : 0.0;
    }
    /// Whether `id` is one of the nodes (weight(id) > 0: weights are always > 0).
    [[nodiscard]] bool contains(node_id id) const noexcept { return weight(id) > 0.0; }
    [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
    [[nodiscard]] bool empty() const noexcept { return nodes_.empty(); }
    /// The nodes, sorted by id.
    [[nodiscard]] std::span<const node_entry> nodes() const noexcept { return nodes_; }
    [[nodiscard]] const params_type& params() const noexcept { return params_; }

    /// Writes up to out.size() distinct nodes for `hash` into `out`, in the router's
    /// preference order (route(hash) first), and returns how many (min(out.size(), size())).
    /// Allocation-free for out.size() <= 64. Throws std::logic_error when empty. Writer
    /// thread only. Present when the table provides replicas (rendezvous, ring).
    std::size_t replicas(std::uint64_t hash, std::span<node_id> out) const requires requires(const Table& t) {
        t.replicas(hash, out);
    }
    { return table_or_throw().replicas(hash, out); }
    /// The first k distinct nodes for `hash` (fewer when k > size()), in preference order.
    [[nodiscard]] std::vector<node_id> replicas(std::uint64_t hash, std::size_t k) const requires
        requires(const Table& t, std::span<node_id> out) {
        t.replicas(hash, out);
    }
    {
        std::vector<node_id> out(std::min(k, size()));
        out.resize(replicas(hash, std::span<node_id>(out)));
        return out;
    }

    /// Routes `hash` on the writer's current table. Throws std::logic_error when empty.
    /// Writer thread only (see the threading rule in router.hpp); other threads use snapshot().
    [[nodiscard]] node_id route(std::uint64_t hash) const { return table_or_throw().route(hash); }

    /// Any thread: the current table. Throws std::logic_error when the router is empty.
    [[nodiscard]] snapshot_type snapshot() const {
        auto t = pub_.load();
        if (!t) throw_empty("snapshot");
        return snapshot_type::from_table(std::move(t));
    }
    /// Any thread: the current table, or nullopt when the router is empty.
    [[nodiscard]] std::optional<snapshot_type> try_snapshot() const {
        auto t = pub_.load();
        if (!t) return std::nullopt;
        return snapshot_type::from_table(std::move(t));
    }
    /// Any thread: increases with every add, remove or clear. A reader compares it with its
    /// snapshot's generation() to learn that a newer table exists (one relaxed load).
    [[nodiscard]] std::uint64_t generation() const noexcept { return pub_.generation(); }

protected:
    table_router() = default;
    explicit table_router(params_type p) : params_(std::move(p)) {}

    const Table& table_or_throw() const {
        const Table* t = pub_.current();
        if (t == nullptr) throw_empty("route");
        return *t;
    }
    const Table* table() const noexcept { return pub_.current(); }

private:
    // Cold: kept out of route()'s inlined body.
    [[noreturn]] MILLRACE_NOINLINE static void throw_empty(const char* call) {
        throw std::logic_error(std::string(Table::router_name) + ": " + call +
                               " on an empty router (add a node first)");
    }

    static void check_weight(double weight) {
        if (!(weight > 0.0) || !std::isfinite(weight)) {
            throw std::invalid_argument("millrace router: weight must be finite and > 0, got " +
                                        std::to_string(weight));
        }
    }

    typename std::vector<node_entry>::const_iterator find(node_id id) const noexcept {
        return std::lower_bound(nodes_.begin(), nodes_.end(), id,
                                [](const node_entry& e, node_id v) { return e.id < v; });
    }

    void install(std::vector<node_entry> next, const node_change& change) {
        std::shared_ptr<const Table> t;
        if (!next.empty()) t = Table::build(params_, pub_.current(), next, change, pub_.next_generation());
        nodes_ = std::move(next);  // nothrow from here on
        pub_.publish(std::move(t));
    }

    params_type params_{};
    std::vector<node_entry> nodes_;  // sorted by id
    publisher<Table> pub_;
};

}  // namespace detail
}  // namespace millrace
