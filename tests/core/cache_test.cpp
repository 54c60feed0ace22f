#include "millrace/core/cache.hpp"

#include <atomic>
#include <cstdint>

#include <gtest/gtest.h>

namespace {

struct two_counters {
    millrace::detail::padded<std::atomic<std::uint64_t>> a;
    millrace::detail::padded<std::atomic<std::uint64_t>> b;
};

TEST(Padded, NeighboursNeverShareACacheLine) {
    two_counters c;
    const auto pa = reinterpret_cast<std::uintptr_t>(&c.a.value);
    const auto pb = reinterpret_cast<std::uintptr_t>(&c.b.value);
    EXPECT_EQ(pa % millrace::detail::cache_line, 0u);
    EXPECT_EQ(pb % millrace::detail::cache_line, 0u);
    EXPECT_GE(pb - pa, millrace::detail::cache_line);
    EXPECT_EQ(sizeof(two_counters), 2 * millrace::detail::cache_line);
}

TEST(Padded, ForwardsConstructionAndAccess) {
    millrace::detail::padded<std::uint64_t> p(std::in_place, 42u);
    EXPECT_EQ(*p, 42u);
    *p = 7;
    EXPECT_EQ(p.get(), 7u);
}

}  // namespace
