// millrace/sched/detail/node_slab.hpp: where the scheduler's inbox nodes live, and their
// lock-free free stack.
//
// A chunked slab whose chunks double in size (chunk k holds `first_chunk << k` nodes) and are
// never freed before the slab is, so a node's address and its 32-bit slot index are stable for
// the slab's lifetime: any thread may look a node up by slot (a scheduler handle does) and read
// its atomics, even while the node is being recycled. Free nodes form a Treiber stack whose
// head packs (tag:32, slot+1:32) into one 64-bit word; the tag changes on every successful
// CAS, so a stale head can never be installed again (the ABA problem). `allocate()` is called
// by many threads (the producers), `release()` by one.
//
// Growth: when the free stack is empty, `allocate()` adds the next chunk. That is the only
// allocation, at a cold moment: a shard's slab grows when more tasks are alive in it than
// ever before, and then by as many nodes as it already had. Growth is lock-free: any producer
// may install the next chunk with one CAS; losers free their allocation and help the winner
// publish the chunk count, so a preempted grower never blocks another producer.
//
// Memory ordering: every release/acquire pair is labelled (Rn)/(An) below.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <type_traits>

#include "millrace/core/cache.hpp"
#include "millrace/sched/detail/mpsc_inbox.hpp"

namespace millrace::detail {

/// The slab and free stack of nodes derived from inbox_node. allocate() from any thread;
/// release() and release_chain() from one.
template <class Node>
class node_slab {
    static_assert(std::is_base_of_v<inbox_node, Node>, "node_slab: Node must derive from inbox_node");
    static_assert(std::is_default_constructible_v<Node>, "node_slab: Node must be default-constructible");

public:
    static constexpr std::size_t max_chunks = 32;
    static constexpr std::uint32_t max_slots = 0xFFFF'FFFEu;

    /// `first_chunk` is rounded up to a power of two; throws std::invalid_argument on 0.
    explicit node_slab(std::size_t first_chunk) {
        if (first_chunk == 0) throw std::invalid_argument("node_slab: first chunk size must be positive");
        if (first_chunk > (std::size_t{1} << 30))
            throw std::invalid_argument("node_slab: first chunk too large");
        shift_ = static_cast<unsigned>(std::countr_zero(std::bit_ceil(first_chunk)));
        grow(0);  // the first chunk is allocated up front, all of it free
        Node* c = chunks_[0].load(std::memory_order_relaxed);
        const std::size_t n = std::size_t{1} << shift_;
        for (std::size_t i = 0; i + 1 < n; ++i)
            c[i].free_next.store(c[i + 1].slot + 1, std::memory_order_relaxed);
        release_chain(&c[0], &c[n - 1]);
    }

    node_slab(const node_slab&) = delete;
    node_slab& operator=(const node_slab&) = delete;

    ~node_slab() {
        for (auto& c : chunks_)
            delete[] c.load(std::memory_order_relaxed);
    }

    /// Pops a free node, growing the slab when none is free. Many threads may call it.
    /// Throws std::bad_alloc only when memory (or the 2^32-slot space) is exhausted.
    Node* allocate() {
        for (;;) {
            // (A1) pairs with (R1): the node's free_next and everything its releaser
            // wrote before pushing it are visible once we hold the head that names it.
            std::uint64_t head = free_head_.load(std::memory_order_acquire);
            while ((head & 0xFFFF'FFFFu) != 0) {
                Node* n = at(static_cast<std::uint32_t>(head & 0xFFFF'FFFFu) - 1);
                // Relaxed: the node may be concurrently popped and re-pushed; the value read
                // then is garbage, but the tag makes the CAS below fail.
                const std::uint64_t next = n->free_next.load(std::memory_order_relaxed);
                const std::uint64_t tagged = ((head >> 32) + 1) << 32 | next;
                if (free_head_.compare_exchange_weak(head, tagged, std::memory_order_acquire,
                                                     std::memory_order_acquire))  // (A1)
                    return n;
            }
            if (Node* n = grow_once()) return n;
        }
    }

    /// Pushes one node back. Any thread (the scheduler calls it from the owning shard).
    void release(Node* n) noexcept { release_chain(n, n); }

    /// Pushes a chain first..last already linked through free_next (last's link is
    /// overwritten). Safe against concurrent pushes and pops: one CAS on the tagged head.
    void release_chain(Node* first, Node* last) noexcept {
        std::uint64_t head = free_head_.load(std::memory_order_relaxed);
        for (;;) {
            last->free_next.store(static_cast<std::uint32_t>(head & 0xFFFF'FFFFu), std::memory_order_relaxed);
            const std::uint64_t tagged = ((head >> 32) + 1) << 32 | (std::uint64_t{first->slot} + 1);
            // (R1) publishes the chain's links and contents; pairs with (A1).
            if (free_head_.compare_exchange_weak(head, tagged, std::memory_order_release,
                                                 std::memory_order_relaxed))
                return;
        }
    }

    /// The node at `slot`, or nullptr when the slot was never created. Any thread.
    Node* find(std::uint32_t slot) const noexcept {
        const auto [k, off] = locate(slot);
        if (k >= max_chunks) return nullptr;
        // (A2) pairs with (R3): a node seen through its chunk pointer is fully constructed.
        Node* c = chunks_[k].load(std::memory_order_acquire);
        return c == nullptr ? nullptr : c + off;
    }

    /// The node at a slot known to exist (handed out by allocate()).
    Node* at(std::uint32_t slot) const noexcept {
        const auto [k, off] = locate(slot);
        return chunks_[k].load(std::memory_order_acquire) + off;  // (A2)
    }

    /// Slots created so far (grows; never shrinks). Any thread; a snapshot.
    std::size_t capacity() const noexcept {
        const std::size_t k = chunk_count_.load(std::memory_order_acquire);
        return (std::size_t{1} << shift_) * ((std::size_t{1} << k) - 1);
    }

    /// Calls f(Node&) on every created node (for scans at shutdown and diagnostics).
    template <class F>
    void for_each(F&& f) const {
        for (std::size_t k = 0; k < max_chunks; ++k) {
            Node* c = chunks_[k].load(std::memory_order_acquire);  // (A2)
            if (c == nullptr) continue;
            const std::size_t n = std::size_t{1} << (shift_ + k);
            for (std::size_t i = 0; i < n; ++i)
                f(c[i]);
        }
    }

private:
    struct place {
        std::size_t chunk;
        std::size_t offset;
    };
    // Chunk k starts at slot first * (2^k - 1), so k = floor(log2(slot / first + 1)).
    place locate(std::uint32_t slot) const noexcept {
        const std::uint64_t q = (std::uint64_t{slot} >> shift_) + 1;
        const std::size_t k = static_cast<std::size_t>(std::bit_width(q) - 1);
        const std::uint64_t start = (std::uint64_t{1} << shift_) * ((std::uint64_t{1} << k) - 1);
        return {k, static_cast<std::size_t>(slot - start)};
    }

    // Installs chunk `k` if nobody has; returns true when this call installed it.
    bool grow(std::size_t k) {
        const std::uint64_t start = (std::uint64_t{1} << shift_) * ((std::uint64_t{1} << k) - 1);
        const std::uint64_t n = std::uint64_t{1} << (shift_ + k);
        if (k >= max_chunks || start + n > max_slots) throw std::bad_alloc();
        Node* c = new Node[static_cast<std::size_t>(n)];
        for (std::uint64_t i = 0; i < n; ++i)
            c[i].slot = static_cast<std::uint32_t>(start + i);
        Node* expected = nullptr;
        // (R3) publishes the constructed nodes; pairs with (A2).
        if (!chunks_[k].compare_exchange_strong(expected, c, std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
            delete[] c;
            return false;
        }
        std::size_t cnt = k;
        chunk_count_.compare_exchange_strong(cnt, k + 1, std::memory_order_acq_rel);
        return true;
    }

    // One growth attempt. On success keeps the chunk's first node for the caller and pushes
    // the rest; otherwise returns nullptr and the caller retries the free stack.
    Node* grow_once() {
        std::size_t k = chunk_count_.load(std::memory_order_acquire);
        if (k < max_chunks && chunks_[k].load(std::memory_order_acquire) != nullptr) {
            // Someone installed chunk k but has not published the count yet: help.
            chunk_count_.compare_exchange_strong(k, k + 1, std::memory_order_acq_rel);
            return nullptr;
        }
        if (!grow(k)) return nullptr;
        Node* c = chunks_[k].load(std::memory_order_acquire);
        const std::size_t n = std::size_t{1} << (shift_ + k);
        if (n > 1) {
            for (std::size_t i = 1; i + 1 < n; ++i)
                c[i].free_next.store(c[i + 1].slot + 1, std::memory_order_relaxed);
            release_chain(&c[1], &c[n - 1]);
        }
        return &c[0];
    }

    alignas(cache_line) std::atomic<std::uint64_t> free_head_{0};
    alignas(cache_line) std::atomic<std::size_t> chunk_count_{0};
    unsigned shift_ = 0;
    std::atomic<Node*> chunks_[max_chunks] = {};
};

}  // namespace millrace::detail
