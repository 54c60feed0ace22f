// keyed_limiter: decisions identical to one bucket per key with no eviction (on random traces
// where eviction happens), the key bound and its documented behaviour, refunds, and memory
// under the bound with a million distinct keys.
#include "millrace/flow/keyed_limiter.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/core/hash.hpp"
#include "millrace/flow/token_bucket.hpp"
#include "support/counting_new.hpp"

namespace {

using namespace std::chrono_literals;
using millrace::manual_clock;
using limiter = millrace::keyed_limiter<std::uint64_t, manual_clock>;
using ns = std::chrono::nanoseconds;

// The shard table (linear probing, backward-shift deletion) against std::map, on a small table
// with forced collisions and wrap-around: every lookup, erase and erase_if sweep agrees.
TEST(KeyedLimiter, FlatTableMatchesAMap) {
    std::mt19937_64 rng(5);
    using table = millrace::detail::gcra_flat_table<std::uint64_t, std::equal_to<std::uint64_t>>;
    table t(64);
    std::map<std::uint64_t, std::int64_t> ref;
    // Few distinct hashes (high collision), keys distinct: h depends on the key only.
    const auto h_of = [](std::uint64_t k) { return ((k * 0x9e3779b97f4a7c15ull) >> 58 << 1) | 1u; };
    for (int i = 0; i < 200000; ++i) {
        const std::uint64_t k = rng() % 100;
        const auto h = h_of(k);
        auto* slot = t.find(h, k);
        auto it = ref.find(k);
        ASSERT_EQ(slot != nullptr, it != ref.end()) << i;
        if (slot) {
            ASSERT_EQ(slot->e, it->second);
        }
        switch (rng() % 4) {
            case 0:
            case 1:
                if (!slot && ref.size() < 48) {
                    const auto e = static_cast<std::int64_t>(rng() % 1000);
                    t.insert(h, k, e);
                    ref[k] = e;
                } else if (slot) {
                    slot->e += 1;
                    ++it->second;
                }
                break;
            case 2:
                if (slot) {
                    t.erase(slot);
                    ref.erase(it);
                }
                break;
            default:
                if (rng() % 50 == 0) {
                    const std::int64_t cut = static_cast<std::int64_t>(rng() % 1000);
                    t.erase_if([&](const table::slot& s) { return s.e < cut; });
                    std::erase_if(ref, [&](const auto& kv) { return kv.second < cut; });
                } else if (rng() % 50 == 0) {
                    // A mutating pass (as the re-base does): every entry changed exactly once.
                    const std::int64_t cut = static_cast<std::int64_t>(rng() % 1000);
                    std::size_t visits = 0;
                    t.erase_if([&](table::slot& s) {
                        ++visits;
                        if (s.e < cut) return true;
                        s.e -= 7;
                        return false;
                    });
                    const std::size_t before = ref.size();
                    std::erase_if(ref, [&](const auto& kv) { return kv.second < cut; });
                    for (auto& kv : ref)
                        kv.second -= 7;
                    ASSERT_EQ(visits, before) << i;
                }
        }
        ASSERT_EQ(t.size(), ref.size());
    }
}

TEST(KeyedLimiter, Validates) {
    manual_clock clk;
    EXPECT_THROW(limiter(0.0, 1.0, {}, clk), std::invalid_argument);
    EXPECT_THROW(limiter(1.0, 0.0, {}, clk), std::invalid_argument);
    EXPECT_THROW(limiter(1.0, 1.0, {.max_keys = 0}, clk), std::invalid_argument);
    EXPECT_THROW(limiter(1.0, 1.0, {.max_keys = 8, .shards = 0}, clk), std::invalid_argument);
    limiter l(1.0, 1.0, {.max_keys = 100, .shards = 8}, clk);
    EXPECT_EQ(l.shards(), 8u);
    EXPECT_GE(l.max_keys(), 100u);
}

// Random trace over a small key space; every key's decisions must match a token_bucket created
// at the same instant (same token-time grid) that is never evicted.
// max_keys < keys reaches the key bound: a request refused for capacity (rejected_capacity
// grows) is checked to be a refusal and not applied to the reference (the key is absent, i.e.
// full, on both sides). max_advance > 0 advances up to that many ns at a time (re-bases).
void compare_with_buckets(double rate, double burst, std::size_t keys, std::size_t shards, std::uint64_t seed,
                          std::size_t max_keys = 0, std::int64_t max_advance = 0) {
    std::mt19937_64 rng(seed);
    manual_clock clk;
    if (max_keys == 0) max_keys = keys * shards;
    limiter l(rate, burst, {.max_keys = max_keys, .shards = shards}, clk);
    std::map<std::uint64_t, std::unique_ptr<millrace::token_bucket<manual_clock>>> ref;
    for (std::uint64_t k = 0; k < keys; ++k)
        ref[k] = std::make_unique<millrace::token_bucket<manual_clock>>(rate, burst, clk);
    const auto step = max_advance > 0 ? max_advance : static_cast<std::int64_t>(1e9 / rate);
    for (int i = 0; i < 20000; ++i) {
        if (rng() % 4 == 0) clk.advance(ns(std::uniform_int_distribution<std::int64_t>(0, step)(rng)));
        // Skewed key choice: a few hot keys stay in debt, the rest idle and get evicted.
        const std::uint64_t k = rng() % 2 ? rng() % 4 : rng() % keys;
        const auto n = 1 + rng() % static_cast<std::uint64_t>(burst + 1);
        if (rng() % 5 == 0) {
            l.refund(k, n);
            ref[k]->refund(n);
        } else {
            const std::uint64_t refused = l.rejected_capacity();
            const bool got = l.try_acquire(k, n);
            if (l.rejected_capacity() != refused) {
                ASSERT_FALSE(got) << "step " << i;
                ASSERT_EQ(ref[k]->available(), burst) << "a key refused for capacity is absent, so full";
                continue;
            }
            ASSERT_EQ(got, ref[k]->try_acquire(n)) << "step " << i << " key " << k;
        }
        ASSERT_EQ(l.available(k), ref[k]->available()) << "step " << i << " key " << k;
        ASSERT_LE(l.size(), l.max_keys());
    }
    EXPECT_GT(l.evictions(), 100u) << "the trace should exercise eviction";
    if (max_keys >= keys * shards) {
        EXPECT_EQ(l.rejected_capacity(), 0u);
    }
}

TEST(KeyedLimiter, DecisionsMatchOneBucketPerKeyDespiteEviction) {
    compare_with_buckets(10.0, 3.0, 64, 1, 1);
    compare_with_buckets(1000.0, 1.0, 64, 4, 2);
    compare_with_buckets(3.0, 5.0, 200, 8, 3);
    compare_with_buckets(999'983.0, 20.0, 50, 2, 4);
}

// The key bound reached: refusals for capacity only, every other decision identical.
TEST(KeyedLimiter, DecisionsMatchAtTheKeyBound) {
    compare_with_buckets(10.0, 3.0, 64, 1, 11, 8);
    compare_with_buckets(3.0, 5.0, 200, 4, 12, 20);
}

// Hours of simulated time at 1e12/s: token time re-bases every ~281 s, in the limiter's shards
// and in each reference bucket at different instants; the re-base rule is the same and lossless
// (1e12/s has a 1 ns grid period), so every decision and every balance stays identical.
TEST(KeyedLimiter, DecisionsMatchAcrossReBases) {
    compare_with_buckets(1e12, 1000.0, 32, 2, 13, 0, 400'000'000);
    compare_with_buckets(1.5e9, 1e12, 32, 1, 14, 16, 200'000'000'000);
}

TEST(KeyedLimiter, BoundReachedRefusesNewKeysOnly) {
    manual_clock clk;
    limiter l(1.0, 2.0, {.max_keys = 8, .shards = 1}, clk);
    for (std::uint64_t k = 0; k < 8; ++k)
        ASSERT_TRUE(l.try_acquire(k));
    EXPECT_EQ(l.size(), 8u);
    EXPECT_FALSE(l.try_acquire(100));  // a new key: no room, none full
    EXPECT_EQ(l.rejected_capacity(), 1u);
    EXPECT_TRUE(l.try_acquire(3));  // a held key is served
    EXPECT_FALSE(l.try_acquire(3));
    clk.advance(1s);  // key 0..7 except 3 are full again: evictable
    EXPECT_TRUE(l.try_acquire(100));
    EXPECT_LE(l.size(), 8u);
    EXPECT_EQ(l.available(100), 1.0);
    EXPECT_EQ(l.available(5), 2.0);  // evicted, so full

    limiter open(1.0, 1.0, {.max_keys = 2, .shards = 1, .when_full = limiter::on_capacity::admit}, clk);
    ASSERT_TRUE(open.try_acquire(1));
    ASSERT_TRUE(open.try_acquire(2));
    EXPECT_TRUE(open.try_acquire(3));  // admitted untracked
    EXPECT_TRUE(open.try_acquire(3));
    EXPECT_EQ(open.size(), 2u);
    EXPECT_EQ(open.rejected_capacity(), 2u);
}

TEST(KeyedLimiter, RefundRestoresTokensAndEvictsWhenFull) {
    manual_clock clk;
    limiter l(1.0, 4.0, {.max_keys = 16, .shards = 2}, clk);
    ASSERT_TRUE(l.try_acquire(7, 3));
    EXPECT_EQ(l.available(7), 1.0);
    l.refund(7, 2);
    EXPECT_EQ(l.available(7), 3.0);
    EXPECT_TRUE(l.try_acquire(7, 3));
    EXPECT_FALSE(l.try_acquire(7, 1));
    l.refund(7, 10);  // never above burst; full again, so the key is dropped
    EXPECT_EQ(l.available(7), 4.0);
    EXPECT_EQ(l.size(), 0u);
    l.refund(8, 1);  // unknown key: already full
    EXPECT_EQ(l.available(8), 4.0);
    EXPECT_FALSE(l.try_acquire(8, 5));  // more than burst
}

// evict_full() drops exactly the buckets that have refilled to full (the same as absent) and
// keeps every other balance.
TEST(KeyedLimiter, EvictFullDropsOnlyFullBuckets) {
    manual_clock clk;
    limiter l(1.0, 4.0, {.max_keys = 64, .shards = 2}, clk);
    ASSERT_TRUE(l.try_acquire(1, 1));
    ASSERT_TRUE(l.try_acquire(2, 4));
    EXPECT_EQ(l.size(), 2u);
    EXPECT_EQ(l.evict_full(), 0u);  // neither is full yet
    EXPECT_EQ(l.size(), 2u);
    clk.advance(1s);  // key 1 full again, key 2 at one token
    EXPECT_EQ(l.evict_full(), 1u);
    EXPECT_EQ(l.size(), 1u);
    EXPECT_EQ(l.evictions(), 1u);
    EXPECT_EQ(l.available(1), 4.0);
    EXPECT_EQ(l.available(2), 1.0);
    clk.advance(3s);
    EXPECT_EQ(l.evict_full(), 1u);
    EXPECT_EQ(l.size(), 0u);
}

// keyed_limiter's hash of an integer key (std::hash is the identity for integers).
std::uint64_t mixed(std::uint64_t h) {
    return millrace::detail::finalize64(h) | 1u;
}

// A re-base (token time nears its top: every few minutes at 1e12/s) with a probe cluster that
// wraps round the end of the table: two keys homed at the last slot of the 8-slot table, the
// full one at slot 7 (erased by the re-base) and the busy one at slot 0 (shifted back into 7).
// The busy key must keep its exact balance: re-based twice and dropped, it would come back
// full and the limiter would admit a whole extra burst.
TEST(KeyedLimiter, RebaseOverAWrappedClusterKeepsEveryBalance) {
    manual_clock clk;
    limiter l(1e12, 1e12, {.max_keys = 4, .shards = 1}, clk);
    std::vector<std::uint64_t> ks;
    for (std::uint64_t k = 0; ks.size() < 2; ++k)
        if (((mixed(k) >> 1) & 7) == 7) ks.push_back(k);
    ASSERT_TRUE(l.try_acquire(ks[0], 1));  // slot 7
    ASSERT_TRUE(l.try_acquire(ks[1], 1));  // slot 0: wraps
    const std::int64_t max_d = millrace::detail::make_gcra_config(1e12, 1e12, 0).max_d;
    clk.advance(ns(max_d) - 100ms);
    ASSERT_TRUE(l.try_acquire(ks[1], 1'000'000'000'000));  // the whole burst
    clk.advance(200ms);                                    // past the re-base
    EXPECT_EQ(l.available(ks[1]), 2e11);
    EXPECT_FALSE(l.try_acquire(ks[1], 1'000'000'000'000));
    EXPECT_TRUE(l.try_acquire(ks[1], 200'000'000'000));
    EXPECT_FALSE(l.try_acquire(ks[1], 1));
    EXPECT_EQ(l.available(ks[0]), 1e12);
}

// A bucket that becomes full earlier than the last sweep predicted (a new key's single take,
// a partial refund) must be evictable then: a new key is never refused while a full bucket
// is held.
TEST(KeyedLimiter, EarlierFullBucketIsEvictedForANewKey) {
    {
        manual_clock clk;
        limiter l(1.0, 10.0, {.max_keys = 2, .shards = 1}, clk);
        ASSERT_TRUE(l.try_acquire(1, 10));
        ASSERT_TRUE(l.try_acquire(2, 10));
        EXPECT_FALSE(l.try_acquire(3));    // none full: refused (the sweep predicts 10 s)
        l.refund(2, 10);                   // full again: dropped
        ASSERT_TRUE(l.try_acquire(4, 1));  // full again 1 s from now
        clk.advance(2s);
        EXPECT_TRUE(l.try_acquire(5));  // key 4 is full: evicted for key 5
        EXPECT_EQ(l.rejected_capacity(), 1u);
    }
    {
        manual_clock clk;
        limiter l(1.0, 10.0, {.max_keys = 2, .shards = 1}, clk);
        ASSERT_TRUE(l.try_acquire(1, 10));
        ASSERT_TRUE(l.try_acquire(2, 10));
        EXPECT_FALSE(l.try_acquire(3));
        l.refund(2, 9);  // partial: full again 1 s from now
        clk.advance(2s);
        EXPECT_TRUE(l.try_acquire(5));
        EXPECT_EQ(l.rejected_capacity(), 1u);
    }
}

TEST(KeyedLimiter, StringKeys) {
    manual_clock clk;
    millrace::keyed_limiter<std::string, manual_clock> l(1.0, 1.0, {.max_keys = 4, .shards = 2}, clk);
    EXPECT_TRUE(l.try_acquire("tenant-a"));
    EXPECT_FALSE(l.try_acquire("tenant-a"));
    EXPECT_TRUE(l.try_acquire("tenant-b"));
}

TEST(KeyedLimiter, MillionDistinctKeysStayUnderTheBound) {
    manual_clock clk;
    constexpr std::size_t bound = 8192;
    // 1000/s, burst 1: a key that took its token is full again 1 ms later.
    limiter l(1000.0, 1.0, {.max_keys = bound, .shards = 16}, clk);
    const millrace::test::allocation_scope scope;
    std::size_t refused = 0;
    for (std::uint64_t k = 0; k < 1'000'000; ++k) {
        if (k % 1024 == 0) clk.advance(1ms);
        if (!l.try_acquire(k)) ++refused;
        if (k % 4096 == 0) {
            ASSERT_LE(l.size(), l.max_keys());
        }
    }
    EXPECT_EQ(refused, 0u);
    EXPECT_LE(l.size(), l.max_keys());
    EXPECT_GT(l.evictions(), 900'000u);
    // Every table was allocated at construction: streaming a million keys allocates nothing.
    EXPECT_EQ(scope.allocations(), 0u);
    EXPECT_LE(scope.bytes_live_delta(), 0);
}

}  // namespace
