// hash64 and hasher<T>: avalanche of the integer mixer and of the byte hash, agreement between
// the string forms, the customisation point, and spread of sequential keys.
#include "millrace/core/hash.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace {

// For `samples` random inputs and each input bit, the fraction of samples in which flipping
// that bit flips each output bit; returns the worst |fraction - 1/2| over the 64 x 64 cells.
template <class F>
double worst_avalanche_bias(F&& hash_of_word, int samples, std::size_t in_bits) {
    std::mt19937_64 rng(12345);
    std::vector<int> flips(in_bits * 64, 0);
    for (int s = 0; s < samples; ++s) {
        const std::uint64_t x = rng();
        const std::uint64_t h = hash_of_word(x);
        for (std::size_t i = 0; i < in_bits; ++i) {
            const std::uint64_t d = h ^ hash_of_word(x ^ (std::uint64_t{1} << i));
            for (int o = 0; o < 64; ++o)
                flips[i * 64 + static_cast<std::size_t>(o)] += static_cast<int>((d >> o) & 1U);
        }
    }
    double worst = 0.0;
    for (const int f : flips)
        worst = std::max(worst, std::abs(static_cast<double>(f) / samples - 0.5));
    return worst;
}

}  // namespace

// 4000 samples: one cell's fraction has sd 0.0079; 0.05 is over 6 sd, so an honest mixer
// passes all 4096 cells, and a mixer that leaves any output bit blind to an input bit fails.
TEST(Hash64, IntegerFullAvalanche) {
    const double bias = worst_avalanche_bias([](std::uint64_t x) { return millrace::hash64(x); }, 4000, 64);
    EXPECT_LT(bias, 0.05);
}

TEST(Hash64, ByteStringFullAvalanche) {
    // 32-byte keys: the word under test sits in the middle of the key.
    const auto h32 = [](std::uint64_t x) {
        std::array<unsigned char, 32> key{};
        for (std::size_t i = 0; i < 32; ++i)
            key[i] = static_cast<unsigned char>(i * 7);
        std::memcpy(key.data() + 12, &x, 8);
        return millrace::hash64(std::span<const unsigned char>(key));
    };
    EXPECT_LT(worst_avalanche_bias(h32, 3000, 64), 0.05);
    // 8-byte keys (the 4..16-byte path).
    const auto h8 = [](std::uint64_t x) {
        return millrace::hash64(std::string_view(reinterpret_cast<const char*>(&x), 8));
    };
    EXPECT_LT(worst_avalanche_bias(h8, 3000, 64), 0.05);
    // 100-byte keys (the 48-byte-stripe path).
    const auto h100 = [](std::uint64_t x) {
        std::string key(100, 'k');
        std::memcpy(key.data() + 60, &x, 8);
        return millrace::hash64(key);
    };
    EXPECT_LT(worst_avalanche_bias(h100, 2000, 64), 0.05);
}

TEST(Hash64, NeverIdentityAndBijectiveOnIntegers) {
    EXPECT_NE(millrace::hash64(0), 0U);
    EXPECT_NE(millrace::hash64(1), 1U);
    std::set<std::uint64_t> seen;
    for (std::uint64_t i = 0; i < 100000; ++i)
        seen.insert(millrace::hash64(i));
    EXPECT_EQ(seen.size(), 100000U);
    // Integer types of any width and signedness hash the same value alike.
    EXPECT_EQ(millrace::hash64(42), millrace::hash64(std::uint64_t{42}));
    EXPECT_EQ(millrace::hash64(static_cast<unsigned short>(7)), millrace::hash64(7ULL));
}

TEST(Hash64, SequentialKeysSpreadOverLowBits) {
    // 2^16 sequential keys into 256 buckets by their low byte: a chi-square far below the
    // identity's (which would put exactly 256 in each bucket but correlate neighbours) and
    // within the range of a uniform random assignment (255 dof: mean 255, sd 22.6).
    std::vector<int> count(256, 0);
    for (std::uint64_t i = 0; i < 65536; ++i)
        ++count[millrace::hash64(i) & 0xff];
    double chi = 0.0;
    for (const int c : count)
        chi += (c - 256.0) * (c - 256.0) / 256.0;
    EXPECT_LT(chi, 255.0 + 6 * 22.6);
    // ... and not far below it either: the identity (exactly 256 per bucket, chi = 0) or any
    // other too-regular spread fails here.
    EXPECT_GT(chi, 255.0 - 6 * 22.6);
    // And by the top byte, which ranges and rings use.
    std::fill(count.begin(), count.end(), 0);
    for (std::uint64_t i = 0; i < 65536; ++i)
        ++count[millrace::hash64(i) >> 56];
    chi = 0.0;
    for (const int c : count)
        chi += (c - 256.0) * (c - 256.0) / 256.0;
    EXPECT_LT(chi, 255.0 + 6 * 22.6);
    EXPECT_GT(chi, 255.0 - 6 * 22.6);
}

TEST(Hash64, LowByteChiSquareRejectsTheIdentity) {
    // The check above, applied to the identity, must fail on the lower bound.
    std::vector<int> count(256, 0);
    for (std::uint64_t i = 0; i < 65536; ++i)
        ++count[i & 0xff];
    double chi = 0.0;
    for (const int c : count)
        chi += (c - 256.0) * (c - 256.0) / 256.0;
    EXPECT_FALSE(chi > 255.0 - 6 * 22.6);
}

TEST(Hash64, NullCStringHashesAsEmpty) {
    const char* null = nullptr;
    char* null_mut = nullptr;
    EXPECT_EQ(millrace::hash64(null), millrace::hash64(std::string_view()));
    EXPECT_EQ(millrace::hash64(null_mut), millrace::hash64(""));
}

TEST(Hash64, OtherCharacterPointersAreRefused) {
    // They would hash their address (different in every process under ASLR): hashable is
    // false, and hash64 on one fails with a static_assert that names string_view / span.
    static_assert(!millrace::hashable<const char8_t*>);
    static_assert(!millrace::hashable<decltype(u8"key")>);
    static_assert(!millrace::hashable<const wchar_t*>);
    static_assert(!millrace::hashable<const char16_t*>);
    static_assert(!millrace::hashable<char32_t*>);
    static_assert(!millrace::hashable<unsigned char*>);
    static_assert(!millrace::hashable<const signed char*>);
    static_assert(!millrace::hashable<const std::byte*>);
    // Still hashable: char strings, byte spans, other pointers (by address).
    static_assert(millrace::hashable<const char*>);
    static_assert(millrace::hashable<decltype("key")>);
    static_assert(millrace::hashable<std::span<const std::byte>>);
    static_assert(millrace::hashable<std::span<const unsigned char>>);
    static_assert(millrace::hashable<const int*>);
    static_assert(millrace::hashable<const void*>);
    const unsigned char bytes[] = {'k', 'e', 'y'};
    EXPECT_EQ(millrace::hash64(std::span<const unsigned char>(bytes)), millrace::hash64("key"));
}

TEST(Hash64, StringFormsAgree) {
    const std::string s = "tenant-42/orders";
    const std::string_view v = s;
    const char* c = s.c_str();
    const auto bytes = std::as_bytes(std::span<const char>(s.data(), s.size()));
    EXPECT_EQ(millrace::hash64(s), millrace::hash64(v));
    EXPECT_EQ(millrace::hash64(s), millrace::hash64(c));
    EXPECT_EQ(millrace::hash64(s), millrace::hash64("tenant-42/orders"));
    EXPECT_EQ(millrace::hash64(s), millrace::hash64(bytes));
    EXPECT_EQ(millrace::hash64(s), millrace::hash64(std::span<const char>(s.data(), s.size())));
}

TEST(Hash64, DistinctStringsOfEveryLengthDiffer) {
    // Every length from 0 to 200 (each code path and tail), and one-byte edits of each.
    std::set<std::uint64_t> seen;
    std::size_t n = 0;
    for (std::size_t len = 0; len <= 200; ++len) {
        std::string s(len, 'a');
        seen.insert(millrace::hash64(s));
        ++n;
        for (std::size_t i = 0; i < len; ++i) {
            std::string t = s;
            t[i] = 'b';
            seen.insert(millrace::hash64(t));
            ++n;
        }
    }
    EXPECT_EQ(seen.size(), n);
    EXPECT_NE(millrace::hash64(std::string_view("")), millrace::hash64(std::string_view("\0", 1)));
}

namespace app {
struct user_key {
    std::uint32_t tenant;
    std::string name;
};
}  // namespace app

template <>
struct millrace::hasher<app::user_key> {
    std::uint64_t operator()(const app::user_key& k) const noexcept {
        return millrace::hash_combine(millrace::hash64(k.tenant), k.name);
    }
};

TEST(Hash64, CustomisationPoint) {
    static_assert(millrace::hashable<app::user_key>);
    static_assert(millrace::hashable<std::string>);
    static_assert(!millrace::hashable<std::vector<int>>);
    const app::user_key a{1, "x"};
    const app::user_key b{2, "x"};
    const app::user_key c{1, "y"};
    EXPECT_EQ(millrace::hash64(a), millrace::hash64(app::user_key{1, "x"}));
    EXPECT_NE(millrace::hash64(a), millrace::hash64(b));
    EXPECT_NE(millrace::hash64(a), millrace::hash64(c));
    // hash_combine is order-sensitive.
    EXPECT_NE(millrace::hash_combine(millrace::hash_combine(0, 1), 2),
              millrace::hash_combine(millrace::hash_combine(0, 2), 1));
}
