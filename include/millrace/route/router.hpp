// millrace/route/router.hpp: the millrace::router concept, node_id, and the snapshot machinery
// that every table-based router (rendezvous, ring, maglev) shares.
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

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <utility>

#include "millrace/core/detail/planted.hpp"

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
    node_id id;
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
    std::size_t replicas(std::uint64_t hash, std::span<node_id> out) const
        requires requires(const Table& t) { t.replicas(hash, out); }
    {
        return table_->replicas(hash, out);
    }

    /// The number of nodes in this table (at least 1).
    [[nodiscard]] std::size_t size() const noexcept { return table_->size(); }

    /// The router generation that built this table (see router::generation()).
    [[nodiscard]] std::uint64_t generation() const noexcept { return table_->generation(); }

    /// The table itself, for inspection (tests, docs).
    [[nodiscard]] const Table& table() const noexcept { return *table_; }

    /// For routers only: wraps a published table, which must not be null or empty.
    static route_snapshot from_table(std::shared_ptr<const Table> t) noexcept { return route_snapshot(std::move(t)); }

private:
    explicit route_snapshot(std::shared_ptr<const Table> t) noexcept : table_(std::move(t)) {}

    std::shared_ptr<const Table> table_;
};

namespace detail {

/// The writer's current table plus its publication to other threads.
///
/// Memory ordering: the published shared_ptr is guarded by `mutex_` (the mutex orders the
/// table's construction before any reader's copy of the pointer). `generation_` is a hint that
/// readers poll to decide whether to take a new snapshot; it is stored after the new table is
/// published (under the mutex) and loaded relaxed: a stale read only delays a refresh, and the
/// table a reader then copies is whatever the mutex hands out, never a half-built one.
template <class Table>
class publisher {
public:
    publisher() = default;
    publisher(const publisher& o) : current_(o.current_), generation_(o.generation()) { republish(); }
    /// Moves end with the source published empty: a moved-from router's try_snapshot()
    /// returns nullopt instead of its old table.
    publisher(publisher&& o) noexcept
        : current_(std::move(o.current_)), generation_(o.generation()) {
        republish();
        if constexpr (detail::planted("publisher_move_keeps_source")) return;  // the source keeps its old table
        o.publish(nullptr);
    }
    publisher& operator=(const publisher& o) {
        if (this != &o) publish(o.current_);
        return *this;
    }
    publisher& operator=(publisher&& o) noexcept {
        if (this != &o) {
            publish(std::move(o.current_));
            o.publish(nullptr);
        }
        return *this;
    }
    ~publisher() = default;

    /// The writer's view (no synchronisation: writer thread only). Null when empty.
    const Table* current() const noexcept { return current_.get(); }

    /// Installs `t` (null for an empty router) as the current table and publishes it.
    void publish(std::shared_ptr<const Table> t) noexcept {
        current_ = std::move(t);
        republish();
    }

    /// The next generation number a new table should carry.
    std::uint64_t next_generation() const noexcept { return generation() + 1; }

    /// Any thread: the published table, or null when the router is empty.
    std::shared_ptr<const Table> load() const {
        const std::lock_guard lock(mutex_);
        return published_;
    }

    /// Any thread: the generation of the latest published table (0 before the first).
    std::uint64_t generation() const noexcept {
        return generation_.load(std::memory_order_relaxed);  // a hint only, see the class comment
    }

private:
    void republish() noexcept {
        std::shared_ptr<const Table> old;
        {
            const std::lock_guard lock(mutex_);
            old = std::exchange(published_, current_);
        }
        // Relaxed: readers use it only to decide when to call load(); see the class comment.
        generation_.store(current_ ? current_->generation() : generation_.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
        // `old` (possibly the last reference to a large table) is freed here, outside the lock.
    }

    std::shared_ptr<const Table> current_;    // writer's view
    std::shared_ptr<const Table> published_;  // readers' view, guarded by mutex_
    mutable std::mutex mutex_;
    std::atomic<std::uint64_t> generation_{0};
};

}  // namespace detail

}  // namespace millrace
