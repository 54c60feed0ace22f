// millrace/queue/mpmc_queue.hpp: a bounded multi-producer multi-consumer queue.
//
// Guarantees
//  - Holds at most capacity() items, exactly the capacity asked for (any value >= 1).
//  - Every pushed item is popped exactly once; the items of one producer come out in the
//    order it pushed them (the queue is linearizable: an item's place is fixed by the
//    index its producer claims).
//  - No allocation after construction. try_* forms never block and never make a system
//    call; a successful push or pop makes a wake-up call only when a thread is asleep
//    waiting for it (a waiter count, read with one load, says so).
//  - No locks on any path, but not lock-free in the strict sense: a thread stalled between
//    claiming an index (one CAS) and publishing it holds up that one slot (a consumer there
//    sees it empty until the thread resumes); other slots keep moving (docs/queues.md).
//  - try_* and the blocking/timed forms are noexcept unless a user constructor or
//    assignment of T can throw; constructors throw std::invalid_argument (capacity 0),
//    std::length_error (a capacity whose storage size overflows) or std::bad_alloc.
//
// Algorithm: Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC queue", 1024cores.net),
// in the form of Erik Rigtorp's MPMCQueue: a ring of slots, each with a turn counter.
// Index i lives in slot i % capacity on lap i / capacity. The slot's turn is 2*lap while
// it waits for the producer of index i and 2*lap + 1 while it holds that item, waiting for
// its consumer; the consumer sets 2*lap + 2 = 2*(lap + 1), the next lap's producer turn.
// Producers claim indices with a CAS on tail_, consumers on head_; neither reads the
// other's counter, so 1P/1C moves only the slot lines between cores. Each slot has its own
// cache line (consecutive indices never share one). Capacities that are powers of two
// index with a mask, others with one division; the ring has exactly capacity slots.
//
// Memory ordering
//  (R1) producer: turn.store(2*lap + 1, release) after constructing the value;
//       pairs with (A1), the consumer's turn.load(acquire): the value is visible.
//  (R2) consumer: turn.store(2*lap + 2, release) after moving the value out and
//       destroying it; pairs with (A2), the next producer's turn.load(acquire): the slot
//       storage is free to reuse.
//  head_ / tail_ only arbitrate who owns an index (no data flows through them), but the
//  claiming CAS is seq_cst: it is the state change a sleeping waiter re-checks (busy()),
//  the first half of the event_count protocol (core/event_count.hpp) with the waiter
//  count read after it. closed_ is seq_cst for the same reason with close().
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "millrace/core/cache.hpp"
#include "millrace/core/detail/planted.hpp"
#include "millrace/core/event_count.hpp"
#include "millrace/queue/detail/blocking.hpp"
#include "millrace/queue/detail/queue_api.hpp"
#include "millrace/queue/queue_status.hpp"

namespace millrace {

/// A bounded multi-producer multi-consumer ring of exact capacity, with no locks on any path.
template <class T>
class mpmc_queue : public detail::queue_api<mpmc_queue<T>, T> {
    friend class detail::queue_api<mpmc_queue, T>;

    // What T must be (a plain object type, noexcept move and destructor): checked, with the
    // messages, in detail::queue_api.

    struct alignas(detail::cache_line) slot {
        std::atomic<std::uint64_t> turn{0};
        alignas(T) unsigned char storage[sizeof(T)];
        T* value() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
    };
    static_assert(alignof(slot) >= detail::cache_line && sizeof(slot) % detail::cache_line == 0,
                  "each slot owns whole cache lines, so neighbouring slots never share one");
    using counter = detail::padded<std::atomic<std::uint64_t>>;
    static_assert(sizeof(counter) == detail::cache_line && alignof(counter) == detail::cache_line,
                  "head_ and tail_ each own one cache line");

public:
    /// The element type.
    using value_type = T;
    /// The type of capacities and sizes.
    using size_type = std::size_t;

    /// Throws std::invalid_argument when capacity is 0, std::length_error when the ring's
    /// size in bytes cannot be represented, std::bad_alloc when it cannot be allocated.
    explicit mpmc_queue(size_type capacity) : capacity_(capacity) {
        if (capacity == 0) throw std::invalid_argument("millrace::mpmc_queue: capacity must be at least 1");
        const std::size_t bytes = detail::checked_storage_bytes(capacity, sizeof(slot), 0,
                                                                "millrace::mpmc_queue: capacity too large");
        slots_ = static_cast<slot*>(::operator new (bytes, std::align_val_t{alignof(slot)}));
        for (size_type i = 0; i < capacity; ++i)
            ::new (static_cast<void*>(slots_ + i)) slot();
        pow2_ = std::has_single_bit(capacity);
        shift_ = static_cast<unsigned>(std::countr_zero(capacity));
        mask_ = capacity - 1;
    }

    mpmc_queue(const mpmc_queue&) = delete;
    mpmc_queue& operator=(const mpmc_queue&) = delete;

    /// Destroys the items still inside. No other thread may use the queue any more.
    ~mpmc_queue() {
        if constexpr (!std::is_trivially_destructible_v<T>) {
            const std::uint64_t head = head_->load(std::memory_order_relaxed);
            const std::uint64_t tail = tail_->load(std::memory_order_relaxed);
            for (std::uint64_t i = head; i != tail; ++i)
                slots_[locate(i).index].value()->~T();
        }
        ::operator delete (slots_, std::align_val_t{alignof(slot)});
    }

    // try_*, bulk, blocking and timed forms, close(), closed(), capacity(), empty():
    // detail::queue_api (the same public layer as the other queue).

    /// Items claimed by producers and not yet claimed by consumers, in [0, capacity()]:
    /// exact when the queue is quiescent, a snapshot otherwise.
    [[nodiscard]] size_type size() const noexcept {
        const std::uint64_t head = head_->load(std::memory_order_acquire);
        const std::uint64_t tail = tail_->load(std::memory_order_acquire);  // read second: tail >= head
        if (tail <= head) return 0;
        const std::uint64_t n = tail - head;
        return n > capacity_ ? capacity_ : static_cast<size_type>(n);
    }

private:
    struct location {
        std::size_t index;
        std::uint64_t lap;
    };
    location locate(std::uint64_t i) const noexcept {
        if (pow2_) return {static_cast<std::size_t>(i & mask_), i >> shift_};
        return {static_cast<std::size_t>(i % capacity_), i / capacity_};
    }

    // Claims the next index whose slot is free, then runs make(storage), which must
    // construct a T there without throwing. false when full or closed.
    template <class Make>
    bool push_with(Make&& make) noexcept {
        if (closed_.load(std::memory_order_relaxed)) return false;  // a hint; close() documents the overlap
        std::uint64_t i = tail_->load(std::memory_order_relaxed);   // arbitration only; data flows via turn
        for (;;) {
            const location at = locate(i);
            slot& s = slots_[at.index];
            const std::uint64_t turn = s.turn.load(std::memory_order_acquire);  // (A2) pairs with (R2)
            bool ours = turn == 2 * at.lap;
            if constexpr (detail::planted("lost_item"))
                ours = ours || turn + 1 == 2 * at.lap;  // overwrites an unconsumed item
            if (ours) {
                // seq_cst: the state change that event_count waiters re-check (see header).
                if (tail_->compare_exchange_strong(i, i + 1, std::memory_order_seq_cst,
                                                   std::memory_order_relaxed)) {
                    // Planted: a relaxed publish hoisted above the build, as a relaxed store permits.
                    if constexpr (detail::planted("relaxed_turn_publish"))
                        s.turn.store(2 * at.lap + 1, std::memory_order_relaxed);
                    make(static_cast<void*>(s.storage));
                    s.turn.store(2 * at.lap + 1, std::memory_order_release);  // (R1) pairs with (A1)
                    return true;
                }
                // the failed CAS reloaded i: another producer took it; try the next index
            } else {
                const std::uint64_t seen = i;
                i = tail_->load(std::memory_order_relaxed);
                if (i == seen) return false;  // the slot of the next index still holds an item
            }
        }
    }

    // Claims the oldest published item, runs take(item) (must not throw), destroys it and
    // frees the slot. false when empty.
    template <class Take>
    bool pop_with(Take&& take) noexcept {
        std::uint64_t i = head_->load(std::memory_order_relaxed);
        for (;;) {
            const location at = locate(i);
            slot& s = slots_[at.index];
            if (s.turn.load(std::memory_order_acquire) == 2 * at.lap + 1) {  // (A1) pairs with (R1)
                if (head_->compare_exchange_strong(i, i + 1, std::memory_order_seq_cst,
                                                   std::memory_order_relaxed)) {
                    T* v = s.value();
                    take(*v);
                    v->~T();
                    s.turn.store(2 * at.lap + 2, std::memory_order_release);  // (R2) pairs with (A2)
                    return true;
                }
            } else {
                const std::uint64_t seen = i;
                i = head_->load(std::memory_order_relaxed);
                if (i == seen) return false;
            }
        }
    }

    // Blocked consumers must not sleep while an index is claimed but not yet published
    // (the producer's seq_cst CAS is what they re-check); likewise for blocked producers.
    // head is read first: head <= tail always holds, so tail read later is >= it.
    bool push_in_flight() const noexcept {  // a consumer has claimed (maybe freed) a slot
        const std::uint64_t head = head_->load(std::memory_order_seq_cst);
        const std::uint64_t tail = tail_->load(std::memory_order_seq_cst);
        return tail - head < capacity_;
    }
    bool pop_in_flight() const noexcept {  // a producer has claimed (maybe filled) a slot
        const std::uint64_t head = head_->load(std::memory_order_seq_cst);
        const std::uint64_t tail = tail_->load(std::memory_order_seq_cst);
        return tail != head;
    }

    // No store-buffer settle: the claiming CAS is seq_cst, the event_count protocol's first half.
    static constexpr std::chrono::microseconds wait_settle{0};

    counter tail_;  // producers: next index to claim
    counter head_;  // consumers: next index to claim
    // Read-mostly: written once here or by close().
    alignas(detail::cache_line) slot* slots_ = nullptr;
    size_type capacity_;
    std::uint64_t mask_ = 0;
    unsigned shift_ = 0;
    bool pow2_ = false;
    std::atomic<bool> closed_{false};
    // Written only when a thread goes to sleep or is woken.
    detail::padded<event_count> not_empty_;
    detail::padded<event_count> not_full_;
};

}  // namespace millrace
