// millrace/route/detail/publisher.hpp: the writer's current table of a table-based router and
// its publication to reader threads (route_snapshot in router.hpp is the reader's side). Not
// part of the public API.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

#include "millrace/core/detail/planted.hpp"

namespace millrace {

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
    publisher(publisher&& o) noexcept : current_(std::move(o.current_)), generation_(o.generation()) {
        republish();
        if constexpr (detail::planted("publisher_move_keeps_source"))
            return;  // the source keeps its old table
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
