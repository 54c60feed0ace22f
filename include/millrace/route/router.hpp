// millrace/route/router.hpp: the millrace::router concepts, node_id, and route_snapshot, the
// immutable view every table-based router (rendezvous, ring, maglev) hands to readers; the
// writer's side of the publication is detail/publisher.hpp.
//
// A router maps an already-mixed 64-bit hash (millrace::hash64(key)) to one of the user's nodes.
// `node_id` is the user's own integer id (std::size_t); routers never invent ids, except
// jump_router, round_robin_router and p2c_router, whose nodes are 0 ... n-1.
//
// Threading rule of the table-based routers (see docs/routing.md):
//  - The router object belongs to one writer: add, remove, route, replicas and size on the router
//    object itself must not run concurrently with add or remove (use one thread, or a lock).
//  - Each mutation builds a new immutable table and publishes it. `snapshot()`,
//    `try_snapshot()` and `generation()` may be called from any thread at any time, including
//    while the writer mutates.
//  - A snapshot is immutable and cheap to copy (one shared_ptr). Routing on it is noexcept, takes
//    no lock and touches no shared counter: readers take a snapshot once, route any number of
//    keys on it, and refresh it when `router.generation() != snap.generation()` (one relaxed
//    atomic load). A snapshot keeps its table alive after the router has moved on.
//  - Taking a snapshot copies a shared_ptr under a short internal mutex (held for the copy only,
//    never while a table is built), so it should happen per batch or per change, not per key.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>

namespace millrace {

/// The user's id of a node (a shard, lane, worker or server).
using node_id = std::size_t;

/// A router maps an already-mixed 64-bit hash to a node. `route` throws std::logic_error when
/// the router has no node.
template <class R>
concept router = requires(const R& r, std::uint64_t hash) {
    { r.route(hash) } -> std::same_as<node_id>;
    { r.size() } -> std::convertible_to<std::size_t>;
};

/// A node and its weight, as routers list them (sorted by id).
struct node_entry {
    /// The node's id, the caller's own.
    node_id id;
    /// Its share relative to the other nodes' weights (> 0).
    double weight;
};

/// A router whose node set the user changes one node at a time (rendezvous, ring, maglev).
template <class R>
concept mutable_router = router<R> && std::default_initializable<R> &&
    requires(R& r, const R& cr, node_id n, double w, std::span<const node_entry> list) {
    { r.add(n, w) } -> std::same_as<bool>;
    { r.remove(n) } -> std::same_as<bool>;
    r.set_nodes(list);
    { cr.weight(n) } -> std::convertible_to<double>;
    { cr.nodes() } -> std::convertible_to<std::span<const node_entry>>;
};

/// A router that lists k distinct nodes for a hash in preference order.
template <class R>
concept replicating_router = router<R> && requires(const R& r, std::uint64_t hash, std::span<node_id> out) {
    { r.replicas(hash, out) } -> std::same_as<std::size_t>;
};

/// An immutable, non-empty routing table held by shared_ptr: what `snapshot()` returns.
/// Copying it copies one shared_ptr; routing on it never locks and never throws.
template <class Table>
class route_snapshot {
public:
    /// Routes `hash` to a node; noexcept: a snapshot is never empty.
    [[nodiscard]] node_id route(std::uint64_t hash) const noexcept { return table_->route(hash); }

    /// Fills `out` with up to out.size() distinct nodes in preference order; returns how many.
    /// Allocation-free for out.size() <= 64 (may throw std::bad_alloc beyond).
    std::size_t replicas(std::uint64_t hash, std::span<node_id> out) const requires requires(const Table& t) {
        t.replicas(hash, out);
    }
    { return table_->replicas(hash, out); }

    /// The number of nodes in this table (at least 1).
    [[nodiscard]] std::size_t size() const noexcept { return table_->size(); }

    /// The router generation that built this table (see router::generation()).
    [[nodiscard]] std::uint64_t generation() const noexcept { return table_->generation(); }

    /// The table itself, for inspection (tests, docs).
    [[nodiscard]] const Table& table() const noexcept { return *table_; }

    /// For routers only: wraps a published table, which must not be null or empty.
    static route_snapshot from_table(std::shared_ptr<const Table> t) noexcept {
        return route_snapshot(std::move(t));
    }

private:
    explicit route_snapshot(std::shared_ptr<const Table> t) noexcept : table_(std::move(t)) {}

    std::shared_ptr<const Table> table_;
};

}  // namespace millrace
