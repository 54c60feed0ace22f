// millrace/sched/detail/mpsc_inbox.hpp: the scheduler's unbounded lock-free MPSC inbox.
//
// The nodes live in detail/node_slab.hpp's slab, which supplies their stable addresses and
// slot indices; this header holds the node's links and the queue.
//
// mpsc_inbox: D. Vyukov's intrusive MPSC node-based queue
// (https://www.1024cores.net/home/lock-free-algorithms/queues/intrusive-mpsc-node-based-queue).
// A push is one exchange on the tail plus one store: wait-free, never blocks, never
// allocates. The single consumer pops without atomic RMW except when the queue runs down
// to its last node, where it re-pushes its stub node. Known property of the algorithm: a
// producer preempted between its exchange and its link store hides the nodes pushed after
// it until it resumes; `pop()` then reports `gap` and the consumer retries later. No node
// is lost, and the producer itself never waits.
//
// Memory ordering: every release/acquire pair is labelled (Rn)/(An) below. The tail
// exchange is seq_cst because the scheduler uses it as one half of a store-load (Dekker)
// handshake with the sleeping shard (see sharded_scheduler.hpp, (S1)/(S2)).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "millrace/core/cache.hpp"
#include "millrace/core/detail/planted.hpp"

namespace millrace::detail {

/// Base a slab node derives from: the links the slab and the inbox use.
struct inbox_node {
    std::atomic<inbox_node*> inbox_next{nullptr};  // MPSC link
    std::atomic<std::uint32_t> free_next{0};       // free-stack link: slot + 1, 0 = none
    std::uint32_t slot = 0;                        // index in the slab, fixed at creation
};

/// Vyukov's intrusive MPSC queue over inbox_node. push() from any thread; pop() from one.
class mpsc_inbox {
public:
    enum class pop_status { item, empty, gap };

    mpsc_inbox() noexcept : tail_(&stub_), head_(&stub_) {}
    mpsc_inbox(const mpsc_inbox&) = delete;
    mpsc_inbox& operator=(const mpsc_inbox&) = delete;

    /// Wait-free. seq_cst: the exchange is the producer's store in the scheduler's
    /// store-load handshake (S1); it is also (R4), publishing the node's contents to the
    /// consumer's acquire loads (A4) of the link that names it.
    void push(inbox_node* n) noexcept {
        n->inbox_next.store(nullptr, std::memory_order_relaxed);
        inbox_node* prev = tail_.exchange(n, std::memory_order_seq_cst);
        link(prev, n);
    }

    /// The two halves of push, exposed so a model test can interleave producers that stall
    /// between them (the `gap` case). push(n) == link(exchange_tail(n), n).
    inbox_node* exchange_tail(inbox_node* n) noexcept {
        n->inbox_next.store(nullptr, std::memory_order_relaxed);
        return tail_.exchange(n, std::memory_order_seq_cst);
    }
    static void link(inbox_node* prev, inbox_node* n) noexcept {
        prev->inbox_next.store(n, std::memory_order_release);  // (R4) pairs with (A4)
    }

    /// Consumer only. Returns item (out set), empty, or gap (a producer is between its two
    /// steps; items exist but cannot be reached yet: retry later).
    pop_status pop(inbox_node*& out) noexcept {
        inbox_node* head = head_;
        inbox_node* next = head->inbox_next.load(std::memory_order_acquire);  // (A4)
        if (head == &stub_) {
            if (next == nullptr)
                return tail_.load(std::memory_order_seq_cst) == &stub_ ? pop_status::empty : pop_status::gap;
            head_ = next;
            head = next;
            next = next->inbox_next.load(std::memory_order_acquire);  // (A4)
        }
        if (next != nullptr) {
            head_ = next;
            out = head;
            return pop_status::item;
        }
        // head is the last linked node. If it is not the tail, a producer is mid-push.
        if (head != tail_.load(std::memory_order_seq_cst)) return pop_status::gap;
        push(&stub_);  // so that head can be handed out while the queue keeps a node
        next = head->inbox_next.load(std::memory_order_acquire);  // (A4)
        if (next != nullptr) {
            head_ = next;
            if constexpr (planted("inbox_lost_item")) return pop(out);  // drops the last node of a run
            out = head;
            return pop_status::item;
        }
        return pop_status::gap;  // a producer swapped the tail between our load and push
    }

    /// Consumer only: true when no node waits (none pushed, none mid-push).
    /// seq_cst: the consumer's load in the store-load handshake (S2).
    bool empty() const noexcept { return head_ == &stub_ && tail_.load(std::memory_order_seq_cst) == &stub_; }

private:
    alignas(cache_line) std::atomic<inbox_node*> tail_;  // producers
    alignas(cache_line) inbox_node* head_;               // consumer
    inbox_node stub_;
};

}  // namespace millrace::detail
