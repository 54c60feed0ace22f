// millrace/route/jump.hpp: jump consistent hashing (Lamping & Veach, "A Fast, Minimal Memory,
// Consistent Hash Algorithm", arXiv:1406.2294, 2014).
//
// `jump_hash(key, buckets)` returns exactly what the paper's reference code returns: a bucket in
// [0, buckets), found by jumping forward through the bucket counts at which the key would move,
// driven by a 64-bit linear congruential generator seeded with the key. O(ln buckets) time, no
// memory. Growing from n to n + 1 buckets moves exactly 1/(n + 1) of the keys, all to the new
// bucket; balance is that of a uniform random assignment. Only the last bucket can be removed
// (shrink), so jump suits numbered shards, not a set of named nodes: use rendezvous, ring or
// maglev for that.
//
// `jump_router` routes to nodes 0 ... n-1. Its bucket count is one relaxed atomic, so route,
// resize and snapshot are safe from any thread at once (a route racing a resize uses either
// the old or the new count). Throws: n == 0 or n > 2^31 - 1 throws std::invalid_argument.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "millrace/route/router.hpp"

namespace millrace {

namespace detail {
/// The reference loop, unchecked: buckets >= 1.
constexpr std::int32_t jump_hash_unchecked(std::uint64_t key, std::int32_t buckets) noexcept {
    std::int64_t b = -1;
    std::int64_t j = 0;
    while (j < buckets) {
        b = j;
        key = key * 2862933555777941757ULL + 1;
        j = static_cast<std::int64_t>(
            static_cast<double>(b + 1) *
            (static_cast<double>(std::int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
    }
    return static_cast<std::int32_t>(b);
}
}  // namespace detail

/// The bucket in [0, buckets) of `key`, identical to Lamping & Veach's reference code.
/// Throws std::invalid_argument when buckets < 1.
[[nodiscard]] constexpr std::int32_t jump_hash(std::uint64_t key, std::int32_t buckets) {
    if (buckets < 1) throw std::invalid_argument("millrace::jump_hash: buckets must be >= 1");
    return detail::jump_hash_unchecked(key, buckets);
}

/// Jump consistent hashing over nodes 0 ... n-1; see the header comment.
class jump_router {
public:
    /// The most nodes jump hashing addresses (its bucket numbers are 32-bit signed).
    static constexpr std::size_t max_size =
        static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());

    /// Throws std::invalid_argument when n == 0 or n > max_size.
    explicit jump_router(std::size_t n) : n_(checked(n)) {}
    /// Copies the node count.
    jump_router(const jump_router& o) noexcept : n_(o.n_.load(std::memory_order_relaxed)) {}
    /// Copies the node count.
    jump_router& operator=(const jump_router& o) noexcept {
        n_.store(o.n_.load(std::memory_order_relaxed), std::memory_order_relaxed);
        return *this;
    }

    /// The node of `hash`, in [0, size()). Never throws: a jump_router is never empty.
    [[nodiscard]] node_id route(std::uint64_t hash) const noexcept {
        // Relaxed: the count is the only state, and no other data is published with it.
        return static_cast<node_id>(detail::jump_hash_unchecked(hash, n_.load(std::memory_order_relaxed)));
    }
    /// Changes the node count; growing by one moves 1/(n+1) of the keys, all to the new node.
    /// Throws std::invalid_argument when n == 0 or n > max_size.
    void resize(std::size_t n) { n_.store(checked(n), std::memory_order_relaxed); }
    /// The number of nodes.
    [[nodiscard]] std::size_t size() const noexcept {
        return static_cast<std::size_t>(n_.load(std::memory_order_relaxed));
    }
    /// An immutable copy (a jump_router is one integer), for symmetry with the table routers.
    [[nodiscard]] jump_router snapshot() const noexcept { return *this; }

private:
    static std::int32_t checked(std::size_t n) {
        if (n == 0 || n > max_size) {
            throw std::invalid_argument("millrace::jump_router: node count must be in [1, 2^31 - 1]");
        }
        return static_cast<std::int32_t>(n);
    }
    std::atomic<std::int32_t> n_;
};

}  // namespace millrace
