// millrace/queue/spsc_queue.hpp: a bounded single-producer single-consumer queue.
//
// Guarantees
//  - Exactly one thread pushes and exactly one thread pops at a time (the same thread may
//    do both); close(), closed(), size(), empty() and capacity() are safe from any thread.
//    Using two producers or two consumers at once is undefined.
//  - Holds at most capacity() items, exactly the capacity asked for (any value >= 1).
//  - FIFO; every pushed item is popped exactly once. Wait-free: every try_* call finishes
//    in a bounded number of its own steps, whatever the other thread does.
//  - No allocation after construction. try_* forms never block and make no system call;
//    a successful push or pop makes a wake-up call only when the other side sleeps.
//  - Same exception rules as mpmc_queue: constructors throw std::invalid_argument
//    (capacity 0), std::length_error (storage size overflows) or std::bad_alloc.
//
// Algorithm: the Lamport ring with cached indices, as in Erik Rigtorp's SPSCQueue and
// folly::ProducerConsumerQueue. capacity + 1 slots, one always empty, so "full" is
// next(tail) == head with no division. Items are packed densely (several small items
// share a cache line, so a line crosses between the cores once per several items); the
// producer keeps a private copy of head_ and re-reads the shared one only when the
// copy says full, the consumer likewise for tail_, so in steady state each side reads
// the other's index about once per lap instead of once per item. Cache-line padding
// before and after the slots keeps them off the lines of neighbouring heap objects.
//
// Memory ordering
//  (R1) producer: tail_.store(next) after constructing the value at tail; pairs with
//       (A1), the consumer's tail_.load(acquire): the value is visible.
//  (R2) consumer: head_.store(next) after moving the value out and destroying it;
//       pairs with (A2), the producer's head_.load(acquire): the slot is free again.
//  Blocking: after publishing, each side reads the other's waiter count (one load) and
//  wakes only a registered waiter. A release publish may still sit in the store buffer when
//  that load runs, so a registered waiter keeps re-checking for detail::spsc_settle (10 us)
//  before it sleeps. This rests on store buffers draining within microseconds, not on a C++
//  memory-model proof; docs/queues.md ("Blocking") has the argument and the alternatives.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "millrace/core/cache.hpp"
#include "millrace/core/event_count.hpp"
#include "millrace/queue/detail/blocking.hpp"
#include "millrace/queue/detail/queue_api.hpp"
#include "millrace/queue/queue_status.hpp"

namespace millrace {

namespace detail {
inline constexpr std::chrono::microseconds spsc_settle{10};
}  // namespace detail

/// A bounded single-producer single-consumer ring of exact capacity, with no locks.
template <class T>
class spsc_queue : public detail::queue_api<spsc_queue<T>, T> {
    friend class detail::queue_api<spsc_queue, T>;

    // What T must be (a plain object type, noexcept move and destructor): checked, with the
    // messages, in detail::queue_api.

    struct producer_state {
        std::atomic<std::size_t> tail{0};  // next slot to fill; written by the producer only
        std::size_t head_cache = 0;        // the producer's last view of head
    };
    struct consumer_state {
        std::atomic<std::size_t> head{0};  // next slot to empty; written by the consumer only
        std::size_t tail_cache = 0;        // the consumer's last view of tail
    };
    static_assert(sizeof(detail::padded<producer_state>) == detail::cache_line &&
                      sizeof(detail::padded<consumer_state>) == detail::cache_line,
                  "the producer's and the consumer's indices each own one cache line");

    static constexpr std::size_t storage_align = alignof(T) > detail::cache_line ? alignof(T)
                                                                                 : detail::cache_line;
    // Padding before and after the slots: a whole number of T-aligned cache lines.
    static constexpr std::size_t pad_bytes = storage_align;

public:
    /// The element type.
    using value_type = T;
    /// The type of capacities and sizes.
    using size_type = std::size_t;

    /// Throws std::invalid_argument when capacity is 0, std::length_error when the ring's
    /// size in bytes cannot be represented, std::bad_alloc when it cannot be allocated.
    explicit spsc_queue(size_type capacity) : capacity_(capacity) {
        if (capacity == 0) throw std::invalid_argument("millrace::spsc_queue: capacity must be at least 1");
        if (capacity == SIZE_MAX) throw std::length_error("millrace::spsc_queue: capacity too large");
        ring_ = capacity + 1;
        const std::size_t bytes = detail::checked_storage_bytes(ring_, sizeof(T), 2 * pad_bytes,
                                                                "millrace::spsc_queue: capacity too large");
        raw_ = static_cast<unsigned char*>(::operator new (bytes, std::align_val_t{storage_align}));
        data_ = raw_ + pad_bytes;
    }

    spsc_queue(const spsc_queue&) = delete;
    spsc_queue& operator=(const spsc_queue&) = delete;

    /// Destroys the items still inside. No other thread may use the queue any more.
    ~spsc_queue() {
        if constexpr (!std::is_trivially_destructible_v<T>) {
            std::size_t h = cons_->head.load(std::memory_order_relaxed);
            const std::size_t t = prod_->tail.load(std::memory_order_relaxed);
            for (; h != t; h = next(h))
                item(h)->~T();
        }
        ::operator delete (raw_, std::align_val_t{storage_align});
    }

    // try_*, bulk, blocking and timed forms, close(), closed(), capacity(), empty():
    // detail::queue_api (the same public layer as the other queue).

    /// Items pushed and not yet popped, in [0, capacity()]: exact when read by the
    /// producer or the consumer while the other is idle, a snapshot otherwise.
    [[nodiscard]] size_type size() const noexcept {
        const std::size_t head = cons_->head.load(std::memory_order_acquire);
        const std::size_t tail = prod_->tail.load(std::memory_order_acquire);
        return tail >= head ? tail - head : tail + ring_ - head;
    }

private:
    std::size_t next(std::size_t i) const noexcept { return i + 1 == ring_ ? 0 : i + 1; }
    T* item(std::size_t i) const noexcept {
        return std::launder(reinterpret_cast<T*>(data_ + i * sizeof(T)));
    }
    void* place(std::size_t i) const noexcept { return static_cast<void*>(data_ + i * sizeof(T)); }

    template <class Make>
    bool push_with(Make&& make) noexcept {
        if (closed_.load(std::memory_order_relaxed)) return false;
        producer_state& p = *prod_;
        const std::size_t tail = p.tail.load(std::memory_order_relaxed);  // our own index
        const std::size_t after = next(tail);
        if (after == p.head_cache) {
            p.head_cache = cons_->head.load(std::memory_order_acquire);  // (A2) pairs with (R2)
            if (after == p.head_cache) return false;
        }
        make(place(tail));
        p.tail.store(after, std::memory_order_release);  // (R1) pairs with (A1)
        return true;
    }

    template <class Take>
    bool pop_with(Take&& take) noexcept {
        consumer_state& c = *cons_;
        const std::size_t head = c.head.load(std::memory_order_relaxed);  // our own index
        if (head == c.tail_cache) {
            c.tail_cache = prod_->tail.load(std::memory_order_acquire);  // (A1) pairs with (R1)
            if (head == c.tail_cache) return false;
        }
        T* v = item(head);
        take(*v);
        v->~T();
        c.head.store(next(head), std::memory_order_release);  // (R2) pairs with (A2)
        return true;
    }

    // Called by the producer (push side) or the consumer (pop side) after a failed try and
    // a prepare_wait: a seq_cst read of the other side's index, the re-check of the
    // event_count protocol. True when the outcome has changed: retry instead of sleeping.
    bool push_in_flight() const noexcept {
        return next(prod_->tail.load(std::memory_order_relaxed)) !=
               cons_->head.load(std::memory_order_seq_cst);
    }
    bool pop_in_flight() const noexcept {
        return prod_->tail.load(std::memory_order_seq_cst) != cons_->head.load(std::memory_order_relaxed);
    }

    // The publish is a release store: waiters re-check for spsc_settle before they sleep.
    static constexpr std::chrono::microseconds wait_settle = detail::spsc_settle;

    detail::padded<producer_state> prod_;
    detail::padded<consumer_state> cons_;
    // Read-mostly: written once here or by close().
    alignas(detail::cache_line) unsigned char* data_ = nullptr;
    unsigned char* raw_ = nullptr;
    size_type capacity_;
    std::size_t ring_ = 0;
    std::atomic<bool> closed_{false};
    // Written only when a thread goes to sleep or is woken.
    detail::padded<event_count> not_empty_;
    detail::padded<event_count> not_full_;
};

}  // namespace millrace
