// millrace/flow/keyed_limiter.hpp: one token bucket per key (per tenant) with bounded memory.
//
// Guarantees
//   - Every key behaves exactly like its own token_bucket(rate, burst) created with the
//     limiter (same fixed-point GCRA arithmetic, detail/gcra.hpp): same decisions, same
//     refund rule, starting full.
//   - Eviction never changes a decision: a key's state is dropped only when its bucket has
//     refilled to full, and an absent key is served as a full bucket, which is exactly what the
//     dropped state would have said (given a monotone clock: each shard reads the clock under
//     its lock, so its readings never go back).
//   - Memory bound: at most max_keys keys are held (each shard holds at most
//     ceil(max_keys / shards)). When a shard is at its bound it first evicts its full buckets;
//     if none is full, a request for a NEW key is refused (try_acquire returns false and
//     rejected_capacity() counts it), or admitted untracked with on_capacity::admit. Keys already
//     held are always served normally.
//   - Sharded: keys hash (mixed) to one of `shards` shards, each with its own mutex, map and
//     cache line, so threads on different keys rarely contend. Not lock-free: a shard's critical
//     section is one hash lookup and a few integer operations.
//   - Allocation: a new key allocates one map node; each shard reserves its bucket array at
//     construction so the map never rehashes. Throws std::invalid_argument for bad rate/burst
//     (as token_bucket), max_keys == 0 or shards == 0; try_acquire may throw std::bad_alloc
//     when a new key's node cannot be allocated.
//
// Eviction: a shard sweeps its map (dropping every full bucket) when it reaches its bound, and
// also after every cap/4 insertions, so idle tenants do not hold memory until the bound is hit;
// both are amortised O(1) per insertion. A sweep that finds nothing to drop records when the
// next bucket will be full, so a shard at its bound does not sweep again before then.
#pragma once

#include <millrace/core/cache.hpp>
#include <millrace/flow/detail/gcra.hpp>
#include <millrace/time/clock.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace millrace {

template <class Key, clock_policy Clock = steady_clock_policy, class Hash = std::hash<Key>,
          class KeyEqual = std::equal_to<Key>>
class keyed_limiter {
public:
    using key_type = Key;
    using clock_type = Clock;

    /// What a request for a new key does when its shard holds its bound of non-full buckets.
    enum class on_capacity { reject, admit };

    struct options {
        std::size_t max_keys = std::size_t{1} << 20;
        std::size_t shards = 64;
        on_capacity when_full = on_capacity::reject;
    };

    /// Every key gets a bucket of `burst` refilling at `rate_per_second`. Throws
    /// std::invalid_argument for a bad rate or burst (see token_bucket), or a zero
    /// max_keys or shards.
    keyed_limiter(double rate_per_second, double burst, options opt = {}, Clock clock = {})
        : clock_(std::move(clock)), opt_(opt) {
        if (opt.max_keys == 0) throw std::invalid_argument("keyed_limiter: max_keys must be > 0");
        if (opt.shards == 0) throw std::invalid_argument("keyed_limiter: shards must be > 0");
        std::size_t n = 1;
        while (n < opt.shards && n < opt.max_keys) n <<= 1;  // a power of two, no more than the keys
        shard_bits_ = 0;
        while ((std::size_t{1} << shard_bits_) < n) ++shard_bits_;
        cfg_ = detail::make_gcra_config(rate_per_second, burst, now_ns());
        cap_ = (opt.max_keys + n - 1) / n;
        shards_ = std::make_unique<shard[]>(n);
        for (std::size_t i = 0; i < n; ++i) {
            shards_[i].base_ns = cfg_.base_ns;
            shards_[i].map.reserve(cap_);
        }
        nshards_ = n;
        rate_ = rate_per_second;
        burst_ = burst;
    }

    keyed_limiter(const keyed_limiter&) = delete;
    keyed_limiter& operator=(const keyed_limiter&) = delete;

    /// Takes n tokens from `key`'s bucket if they are all available now.
    [[nodiscard]] bool try_acquire(const Key& key, std::uint64_t n = 1) {
        if (n > cfg_.burst_tokens()) return false;
        shard& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        const std::int64_t v = token_time(s);
        const std::int64_t full = v - cfg_.burst_units;
        const std::int64_t need = cfg_.units(n);
        auto it = s.map.find(key);
        if (it != s.map.end()) {
            const std::int64_t to = std::max(it->second, full) + need;
            if (to > v) return false;
            it->second = to;
            return true;
        }
        if (n == 0) return true;  // absent = full: nothing to record
        if (s.map.size() >= cap_ || s.inserts >= cap_ / 4 + 1) {
            if (s.map.size() < cap_ || v >= s.next_sweep_v) sweep(s, v);
            if (s.map.size() >= cap_) {
                ++s.rejected;
                return opt_.when_full == on_capacity::admit;
            }
        }
        s.map.emplace(key, full + need);
        ++s.inserts;
        return true;
    }

    /// Gives n tokens back to `key` (never above its burst; a key not held is full already).
    void refund(const Key& key, std::uint64_t n = 1) {
        if (n == 0) return;
        shard& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        auto it = s.map.find(key);
        if (it == s.map.end()) return;
        const std::int64_t v = token_time(s);
        const std::uint64_t cap = cfg_.burst_tokens() + 1;
#ifdef MILLRACE_PLANT_BUG_keyed_lost_refund
        n = 0;  // planted: the refund is dropped
#endif
        const std::int64_t to = it->second - cfg_.units(n < cap ? n : cap);
        if (to <= v - cfg_.burst_units) {
            s.map.erase(it);  // full again: the same as absent
            ++s.evicted;
        } else {
            it->second = to;
        }
    }

    /// Tokens `key` could take now (fractional).
    [[nodiscard]] double available(const Key& key) const {
        shard& s = shard_for(key);
        std::lock_guard lock(s.mutex);
        const std::int64_t v = token_time(s);
        auto it = s.map.find(key);
        std::int64_t have = cfg_.burst_units;
        if (it != s.map.end()) have = std::min(have, v - it->second);
        return std::ldexp(static_cast<double>(have), -cfg_.frac);
    }

    /// Drops every full bucket now; returns how many were dropped.
    std::size_t evict_full() {
        std::size_t dropped = 0;
        for (std::size_t i = 0; i < nshards_; ++i) {
            shard& s = shards_[i];
            std::lock_guard lock(s.mutex);
            const std::size_t before = s.map.size();
            sweep(s, token_time(s));
            dropped += before - s.map.size();
        }
        return dropped;
    }

    /// Keys held now (buckets not yet evicted); never above max_keys().
    [[nodiscard]] std::size_t size() const {
        std::size_t n = 0;
        for (std::size_t i = 0; i < nshards_; ++i) {
            std::lock_guard lock(shards_[i].mutex);
            n += shards_[i].map.size();
        }
        return n;
    }
    /// The bound actually enforced: shards * ceil(max_keys / shards) >= options.max_keys.
    [[nodiscard]] std::size_t max_keys() const noexcept { return cap_ * nshards_; }
    [[nodiscard]] std::size_t shards() const noexcept { return nshards_; }
    /// Requests for new keys refused (or admitted untracked) because their shard was at its bound.
    [[nodiscard]] std::uint64_t rejected_capacity() const { return sum(&shard::rejected); }
    /// Buckets dropped because they had refilled to full.
    [[nodiscard]] std::uint64_t evictions() const { return sum(&shard::evicted); }
    [[nodiscard]] double rate() const noexcept { return rate_; }
    [[nodiscard]] double burst() const noexcept { return burst_; }

private:
    struct alignas(detail::cache_line) shard {
        mutable std::mutex mutex;
        std::unordered_map<Key, std::int64_t, Hash, KeyEqual> map;  // key -> E (token time when empty)
        std::int64_t base_ns = 0;       // this shard's token time is 0 here
        std::int64_t next_sweep_v = 0;  // no held bucket is full before token time reaches this
        std::size_t inserts = 0;        // since the last sweep
        std::uint64_t rejected = 0;
        std::uint64_t evicted = 0;
    };

    std::int64_t now_ns() const noexcept { return detail::to_ns(clock_.now().time_since_epoch()); }

    shard& shard_for(const Key& key) const noexcept {
        // A strong mix (splitmix64's finaliser): std::hash of integers is the identity.
        std::uint64_t h = static_cast<std::uint64_t>(Hash{}(key));
        h ^= h >> 30;
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 27;
        h *= 0x94d049bb133111ebull;
        h ^= h >> 31;
        return shards_[shard_bits_ == 0 ? 0 : static_cast<std::size_t>(h >> (64 - shard_bits_))];
    }

    // Holds s.mutex. Reads the clock under the lock so this shard's readings are monotone.
    std::int64_t token_time(shard& s) const {
        const std::int64_t d = now_ns() - s.base_ns;
        if (d <= cfg_.max_d) return cfg_.v_of(d);
        // Token time nears 2^53 units (>= 104 days at 1e9/s): move the base to now.
        const std::int64_t v = cfg_.v_of(d);
        for (auto it = s.map.begin(); it != s.map.end();) {
            if (it->second <= v - cfg_.burst_units) {
                it = s.map.erase(it);
            } else {
                it->second -= v;
                ++it;
            }
        }
        s.base_ns += d;
        s.next_sweep_v = 0;
        return 0;
    }

    // Holds s.mutex. Drops the full buckets and notes when the next one fills.
    void sweep(shard& s, std::int64_t v) {
        std::int64_t next = detail::gcra_limits::saturate;
        for (auto it = s.map.begin(); it != s.map.end();) {
            const std::int64_t full_at = it->second + cfg_.burst_units;  // V at which it is full
            if (full_at <= v) {
                it = s.map.erase(it);
                ++s.evicted;
            } else {
                next = std::min(next, full_at);
                ++it;
            }
        }
        s.next_sweep_v = next;
        s.inserts = 0;
    }

    std::uint64_t sum(std::uint64_t shard::*field) const {
        std::uint64_t n = 0;
        for (std::size_t i = 0; i < nshards_; ++i) {
            std::lock_guard lock(shards_[i].mutex);
            n += shards_[i].*field;
        }
        return n;
    }

    [[no_unique_address]] Clock clock_;
    options opt_;
    detail::gcra_config cfg_;  // base_ns unused: each shard keeps its own
    std::unique_ptr<shard[]> shards_;
    std::size_t nshards_ = 0;
    std::size_t cap_ = 0;
    unsigned shard_bits_ = 0;
    double rate_ = 0.0;
    double burst_ = 0.0;
};

}  // namespace millrace
