// millrace/time/detail/wheel_nodes.hpp: the timing wheel's generational node pool.
//
// A node holds one pending timer's value with two 32-bit counters: a generation (odd while
// pending) that makes stale timer ids inert, and a stamp (bumped whenever the node's current
// slot entry goes stale) that lets cancel and reschedule leave dead entries behind lazily.
// Nodes live in fixed-size blocks that never move, so an index names a node for the pool's
// lifetime; free nodes form an intrusive list through the node itself. Not thread-safe: it
// belongs to one timing_wheel.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace millrace::detail {

/// The timing wheel's node slab with its free list and the retirement rule that keeps the
/// 32-bit counters from wrapping.
template <class T>
class wheel_node_pool {
public:
    /// Generation (odd while pending), stamp, and the value or, while free, the next free node.
    struct node {
        std::uint32_t gen = 0;
        std::uint32_t stamp = 0;
        union {
            std::uint32_t next_free;
            T value;
        };
        node() noexcept : next_free(0) {}
        ~node() {}
        node(const node&) = delete;
        node& operator=(const node&) = delete;
    };

    static constexpr std::uint32_t no_node = std::numeric_limits<std::uint32_t>::max();
    // A node is retired (never reused; 16 B plus T leak) once its generation or stamp
    // comes near its 32-bit wrap: a generation that wrapped would let a stale id name a
    // new timer, a stamp that wrapped would revive a dead entry still in a slot, the due
    // list or the far heap. Generations grow by 2 per lifetime, stamps by at least 1, so a
    // node serves at most 2^31 lifetimes. A pending node's stamp that reaches stamp_limit
    // by reschedules restarts at 0 after a full compaction (see timing_wheel::reschedule).
    static constexpr std::uint32_t gen_limit = 0xFFFF'FF00u;
    static constexpr std::uint32_t stamp_limit = std::uint32_t{1} << 31;

    wheel_node_pool() noexcept = default;
    wheel_node_pool(const wheel_node_pool&) = delete;
    wheel_node_pool& operator=(const wheel_node_pool&) = delete;
    ~wheel_node_pool() { destroy_values(); }

    void swap(wheel_node_pool& o) noexcept { std::swap(s_, o.s_); }

    node& at(std::uint32_t i) noexcept { return s_.blocks[i >> block_shift][i & (block_size - 1)]; }
    const node& at(std::uint32_t i) const noexcept {
        return s_.blocks[i >> block_shift][i & (block_size - 1)];
    }

    /// The node of a pending timer with this index and generation, or null.
    node* live(std::uint32_t index, std::uint32_t generation) noexcept {
        if (index >= s_.count) return nullptr;
        node& n = at(index);
        return (n.gen == generation && (n.gen & 1u) != 0) ? &n : nullptr;
    }
    bool is_live(std::uint32_t index, std::uint32_t generation) const noexcept {
        if (index >= s_.count) return false;
        const node& n = at(index);
        return n.gen == generation && (n.gen & 1u) != 0;
    }

    /// True when alloc() has a node to hand out without growing.
    bool has_free() const noexcept { return s_.free_head != no_node || s_.count < s_.capacity; }

    /// Adds one block. Throws std::length_error past 2^32 - 1 nodes, std::bad_alloc.
    void grow() {
        if (s_.capacity + block_size >= no_node)
            throw std::length_error("timing_wheel: too many pending timers");
        s_.blocks.push_back(std::make_unique<node[]>(block_size));  // frees the block if it throws
        s_.capacity += block_size;
    }

    /// A free node's index: there must be one (has_free()).
    std::uint32_t alloc() noexcept {
        if (s_.free_head != no_node) {
            const std::uint32_t i = s_.free_head;
            s_.free_head = at(i).next_free;
            return i;
        }
        return static_cast<std::uint32_t>(s_.count++);
    }

    /// Returns a node whose timer ended (value destroyed, gen even) to the free list, or
    /// retires it near a counter wrap.
    void release(node& n, std::uint32_t i) noexcept {
        if (n.gen >= gen_limit || n.stamp >= stamp_limit) [[unlikely]] {
            ++s_.retired;
            return;
        }
        push_free(n, i);
    }

    /// Destroys every pending value; each of those nodes' ids goes stale.
    void destroy_values() noexcept {
        for (std::size_t i = 0; i < s_.count; ++i) {
            node& n = at(static_cast<std::uint32_t>(i));
            if ((n.gen & 1u) != 0) {
                std::destroy_at(std::addressof(n.value));
                ++n.gen;
                ++n.stamp;
                n.next_free = 0;
            }
        }
    }

    /// After destroy_values, with no entry left anywhere: every node free again, lowest index
    /// on top. Stamps restart; generations cannot (ids from before must stay stale), so a
    /// node near its generation's wrap stays retired.
    void reset() noexcept {
        s_.free_head = no_node;
        s_.retired = 0;
        for (std::size_t i = s_.count; i-- > 0;) {
            node& n = at(static_cast<std::uint32_t>(i));
            n.stamp = 0;
            if (n.gen >= gen_limit) {
                ++s_.retired;
            } else {
                push_free(n, static_cast<std::uint32_t>(i));
            }
        }
    }

    std::size_t count() const noexcept {
        return s_.count;
    }  ///< nodes handed out from the start (free or not)
    std::size_t capacity() const noexcept { return s_.capacity; }  ///< nodes in the blocks
    std::size_t retired() const noexcept { return s_.retired; }    ///< nodes taken out of use near a wrap

private:
    static constexpr std::size_t block_size = std::bit_ceil(std::max<std::size_t>(64, 65536 / sizeof(node)));
    static constexpr unsigned block_shift = static_cast<unsigned>(std::countr_zero(block_size));

    void push_free(node& n, std::uint32_t i) noexcept {
        n.next_free = s_.free_head;
        s_.free_head = i;
    }

    struct state {
        std::vector<std::unique_ptr<node[]>> blocks;
        std::uint32_t free_head = no_node;  // the free list
        std::size_t count = 0;              // nodes handed out from the start (free or not)
        std::size_t capacity = 0;           // nodes in the blocks
        std::size_t retired = 0;            // nodes taken out of use near a wrap
    } s_;
};

}  // namespace millrace::detail
