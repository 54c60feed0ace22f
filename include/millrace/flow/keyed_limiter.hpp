// millrace/flow/keyed_limiter.hpp: one token bucket per key (per tenant) with bounded memory.
// docs/backpressure.md has the design: sharding, eviction sweeps, table sizes, re-bases.
//
// Guarantees
//   - Every key decides like its own token_bucket(rate, burst) created with the limiter (same
//     fixed-point GCRA arithmetic, detail/gcra.hpp, same refund rule, starting full). Shards
//     re-base token time at other instants than a bucket would, with the bucket's rule: for
//     rates whose grid period is at most max_d / 2 (every integer rate) decisions and balances
//     are identical; for others (0.37/s as a double) each re-base, at least 78 hours apart,
//     may drop < 1 unit (2^-F token).
//   - Eviction never changes a decision: a key's state is dropped only when its bucket has
//     refilled to full, and an absent key is served as a full bucket (each shard reads the
//     clock under its lock, so its readings never go back).
//   - Memory bound: shards is rounded up to a power of two (and down to at most max_keys); each
//     shard holds at most ceil(max_keys / shards) keys, so max_keys() = shards * ceil(max_keys /
//     shards) >= options.max_keys. A shard at its bound first evicts its full buckets; if none
//     is full, a request for a NEW key is refused (try_acquire returns false, counted by
//     rejected_capacity()) or admitted untracked (on_capacity::admit). Held keys are always
//     served.
//   - Sharded by a mixed hash, one mutex, table and cache line per shard: not lock-free, but a
//     critical section is one hash lookup and a few integer operations. Each shard's table
//     (open addressing, load factor <= 2/3) is allocated at construction and never grows: no
//     allocation after construction unless copying a Key allocates.
//   - Sweeps (drop every full bucket) run when a shard reaches its bound and after every cap/4
//     insertions, amortised O(1); evict_full() sweeps every shard now.
//   - Throws std::invalid_argument for a bad rate/burst (as token_bucket), max_keys == 0 or
//     shards == 0. Key must be default constructible and copy assignable.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "millrace/core/cache.hpp"
#include "millrace/core/detail/planted.hpp"
#include "millrace/core/hash.hpp"
#include "millrace/flow/detail/gcra.hpp"
#include "millrace/time/clock.hpp"

namespace millrace {

namespace detail {

/// Open addressing with linear probing and backward-shift deletion (no tombstones), fixed
/// size: the key and its state sit in one slot, so a lookup costs one cache miss where a
/// node-based map costs three. Slot hash 0 means empty; stored hashes have bit 0 set.
template <class Key, class KeyEqual>
class gcra_flat_table {
public:
    struct slot {
        std::uint64_t h = 0;
        Key key{};
        std::int64_t e = 0;
    };

    gcra_flat_table() = default;
    explicit gcra_flat_table(std::size_t slots) : slots_(slots), mask_(slots - 1) {}

    std::size_t size() const noexcept { return size_; }

    slot* find(std::uint64_t h, const Key& key) noexcept {
        for (std::size_t i = home(h);; i = (i + 1) & mask_) {
            slot& s = slots_[i];
            if (s.h == 0) return nullptr;
            if (s.h == h && KeyEqual{}(s.key, key)) return &s;
        }
    }

    // `key` is absent and there is room (size < slots).
    void insert(std::uint64_t h, const Key& key, std::int64_t e) {
        std::size_t i = home(h);
        while (slots_[i].h != 0)
            i = (i + 1) & mask_;
        slots_[i].key = key;
        slots_[i].e = e;
        slots_[i].h = h;
        ++size_;
    }

    void erase(slot* victim) noexcept { erase_at(static_cast<std::size_t>(victim - slots_.data())); }

    // Calls f(slot&) exactly once on every entry (f may change e); erases those for which it
    // returns true. The walk starts just after an empty slot and goes once round: a
    // backward-shift deletion moves entries only towards the hole, never across an empty slot,
    // so an entry moved into the current slot has not been visited yet and no entry is visited
    // twice or skipped.
    template <class F>
    void erase_if(F f) {
        if (size_ == 0) return;
        std::size_t z = 0;
        while (slots_[z].h != 0)
            ++z;  // load factor < 1: an empty slot exists
        for (std::size_t count = 1; count < slots_.size();) {
            const std::size_t i = (z + count) & mask_;
            if (slots_[i].h != 0 && f(slots_[i])) {
                erase_at(i);  // a later, unvisited entry may have moved into i: look at i again
            } else {
                ++count;
            }
        }
    }

private:
    std::size_t home(std::uint64_t h) const noexcept { return static_cast<std::size_t>(h >> 1) & mask_; }

    void erase_at(std::size_t hole) noexcept {
        for (std::size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
            slot& s = slots_[j];
            if (s.h == 0) break;
            const std::size_t k = home(s.h);
            // s may fill the hole only if its home is not cyclically in (hole, j].
            const bool stays = hole <= j ? (hole < k && k <= j) : (hole < k || k <= j);
            if (stays) continue;
            slots_[hole].key = std::move(s.key);
            slots_[hole].e = s.e;
            slots_[hole].h = s.h;
            hole = j;
        }
        slots_[hole].h = 0;
        slots_[hole].key = Key{};
        --size_;
    }

    std::vector<slot> slots_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

}  // namespace detail

template <class Key, clock_policy Clock = steady_clock_policy, class Hash = std::hash<Key>,
          class KeyEqual = std::equal_to<Key>>
/// One token bucket per key (tenant, client, IP) in sharded tables of bounded memory.
class keyed_limiter {
public:
    /// The key type.
    using key_type = Key;
    /// The clock policy the buckets refill by.
    using clock_type = Clock;

    /// What a request for a new key does when its shard holds its bound of non-full buckets.
    enum class on_capacity { reject, admit };

    /// Memory bounds and what a new key does when they are reached.
    struct options {
        std::size_t max_keys = std::size_t{1} << 16;  ///< 24..48 bytes a slot, 1.5..3 slots a key
        /// Shards of the table; each has its own lock.
        std::size_t shards = 64;
        /// What a new key gets when its shard is full.
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
        while (n < opt.shards && n < opt.max_keys)
            n <<= 1;  // a power of two, no more than the keys
        shard_bits_ = 0;
        while ((std::size_t{1} << shard_bits_) < n)
            ++shard_bits_;
        cfg_ = detail::make_gcra_config(rate_per_second, burst, now_ns());
        cap_ = (opt.max_keys + n - 1) / n;
        std::size_t slots = 2;
        while (slots < cap_ + cap_ / 2 + 1)
            slots <<= 1;  // load factor <= 2/3
        shards_ = std::make_unique<shard[]>(n);
        for (std::size_t i = 0; i < n; ++i) {
            shards_[i].base_ns = cfg_.base_ns;
            shards_[i].map = table(slots);
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
        const std::uint64_t h = hash(key);
        shard& s = shard_for(h);
        std::lock_guard lock(s.mutex);
        const std::int64_t v = token_time(s);
        const std::int64_t full = v - cfg_.burst_units;
        const std::int64_t need = cfg_.units(n);
        if (auto* it = s.map.find(h, key)) {
            const std::int64_t to = std::max(it->e, full) + need;
            if (to > v) return false;
            it->e = to;
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
        s.map.insert(h, key, full + need);
        ++s.inserts;
        // This bucket is full (evictable) at token time full + need + burst = v + need.
        s.next_sweep_v = std::min(s.next_sweep_v, v + need);
        return true;
    }

    /// Gives n tokens back to `key` (never above its burst; a key not held is full already).
    void refund(const Key& key, std::uint64_t n = 1) {
        if (n == 0) return;
        const std::uint64_t h = hash(key);
        shard& s = shard_for(h);
        std::lock_guard lock(s.mutex);
        auto* it = s.map.find(h, key);
        if (it == nullptr) return;
        const std::int64_t v = token_time(s);
        const std::uint64_t cap = cfg_.burst_tokens() + 1;
        if constexpr (detail::planted("keyed_lost_refund")) n = 0;  // the refund is dropped
        const std::int64_t to = it->e - cfg_.units(n < cap ? n : cap);
        if (to <= v - cfg_.burst_units) {
            s.map.erase(it);  // full again: the same as absent
            ++s.evicted;
        } else {
            it->e = to;
            // It is full earlier now: a shard at its bound must not skip the sweep past then.
            s.next_sweep_v = std::min(s.next_sweep_v, to + cfg_.burst_units);
        }
    }

    /// Tokens `key` could take now (fractional).
    [[nodiscard]] double available(const Key& key) const {
        const std::uint64_t h = hash(key);
        shard& s = shard_for(h);
        std::lock_guard lock(s.mutex);
        const std::int64_t v = token_time(s);
        std::int64_t have = cfg_.burst_units;
        if (auto* it = s.map.find(h, key)) have = std::min(have, v - it->e);
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
    /// The number of shards.
    [[nodiscard]] std::size_t shards() const noexcept { return nshards_; }
    /// Requests for new keys refused (or admitted untracked) because their shard was at its bound.
    [[nodiscard]] std::uint64_t rejected_capacity() const { return sum(&shard::rejected); }
    /// Buckets dropped because they had refilled to full.
    [[nodiscard]] std::uint64_t evictions() const { return sum(&shard::evicted); }
    /// Tokens each key gains per second.
    [[nodiscard]] double rate() const noexcept { return rate_; }
    /// Tokens each key holds at most.
    [[nodiscard]] double burst() const noexcept { return burst_; }

private:
    using table = detail::gcra_flat_table<Key, KeyEqual>;

    struct alignas(detail::cache_line) shard {
        mutable std::mutex mutex;
        table map;                      // key -> E (token time when empty)
        std::int64_t base_ns = 0;       // this shard's token time is 0 here
        std::int64_t next_sweep_v = 0;  // no held bucket is full before token time reaches this
        std::size_t inserts = 0;        // since the last sweep
        std::uint64_t rejected = 0;
        std::uint64_t evicted = 0;
    };

    std::int64_t now_ns() const noexcept { return detail::to_ns(clock_.now().time_since_epoch()); }

    static std::uint64_t hash(const Key& key) noexcept(noexcept(Hash{}(key))) {
        // A strong mix: std::hash of integers is the identity. The top bits pick the shard,
        // the low bits the slot; bit 0 marks a used slot.
        return detail::finalize64(static_cast<std::uint64_t>(Hash{}(key))) | 1u;
    }

    shard& shard_for(std::uint64_t h) const noexcept {
        return shards_[shard_bits_ == 0 ? 0 : static_cast<std::size_t>(h >> (64 - shard_bits_))];
    }

    // Holds s.mutex. Reads the clock under the lock so this shard's readings are monotone.
    std::int64_t token_time(shard& s) const {
        const std::int64_t d = now_ns() - s.base_ns;
        if (d <= cfg_.max_d) return cfg_.v_of(d);
        // Token time nears 2^48 units (>= 78 h at 1e9/s, 281 s at 1e12/s): move the base by
        // token_bucket's rule (rebase_shift: a whole number of grid periods when the rate has a
        // short one, so no progress is lost), dropping the full buckets on the way.
        const std::int64_t v = cfg_.v_of(d);
        const detail::gcra_config::shift_by sh = cfg_.rebase_shift(d);
        s.map.erase_if([&](typename table::slot& e) {
            if (e.e <= v - cfg_.burst_units) {
                ++s.evicted;
                return true;
            }
            e.e -= sh.units;
            return false;
        });
        s.base_ns += sh.ns;
        s.next_sweep_v = 0;
        return v - sh.units;
    }

    // Holds s.mutex. Drops the full buckets and notes when the next one fills.
    void sweep(shard& s, std::int64_t v) {
        std::int64_t next = detail::gcra_limits::saturate;
        s.map.erase_if([&](const typename table::slot& e) {
            const std::int64_t full_at = e.e + cfg_.burst_units;  // V at which it is full
            if (full_at <= v) {
                ++s.evicted;
                return true;
            }
            next = std::min(next, full_at);
            return false;
        });
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
