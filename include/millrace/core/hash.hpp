// millrace/core/hash.hpp: strong 64-bit key hashing for routing and sharding.
//
// `millrace::hash64(key)` turns any hashable key into a well-mixed 64-bit value: every input
// bit flips every output bit with probability close to 1/2 (full avalanche). Routers
// (route/) take such an already-mixed hash, so a router never has to guess whether its input
// is `std::hash<int>` (the identity in libstdc++, which would put keys 0, 1, 2 ... into
// neighbouring slots of a ring or a Maglev table).
//
//  - Integers, enums and pointers: the splitmix64 / Stafford "Mix13" finalizer applied after
//    adding the golden-ratio constant (Steele, Lea, Flood, "Fast splittable pseudorandom number
//    generators", OOPSLA 2014). It is a bijection of 64-bit values, so distinct integers never
//    collide, and hash64(0) != 0.
//  - Byte strings (std::string, std::string_view, C strings and string literals, spans of
//    std::byte / unsigned char / char): a wyhash-derived function (after Wang Yi's wyhash
//    final 4, public domain; not bit-compatible with it): 128-bit multiply-and-fold of 8-byte
//    words, the length folded in at the end, then the splitmix64 finalizer.
//    A null `const char*` / `char*` hashes as the empty string (hash64((const char*)nullptr)
//    == hash64("")), so hash64 stays noexcept and never calls strlen(nullptr).
//  - Pointers to other character or byte types (char8_t, char16_t, char32_t, wchar_t,
//    signed/unsigned char, std::byte) are rejected at compile time: hashing their address
//    would differ from run to run, and their length is not known. Pass a std::string_view /
//    std::u8string_view's bytes as std::span<const std::byte> (std::as_bytes), or a
//    std::span of unsigned char / std::byte, instead. Other pointers hash their address.
//    Words are read with memcpy in the machine's byte order, so a byte string's hash is the
//    same for every run on one platform but differs between little- and big-endian machines.
//  - User types: specialise `millrace::hasher<T>` with a `std::uint64_t operator()(const T&)
//    const noexcept`, typically folding the fields with `millrace::hash_combine`.
//
// hash64 is not a cryptographic or keyed (DoS-resistant) hash: an attacker who chooses keys
// can choose colliding ones. Every function here is noexcept and allocation-free.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "millrace/core/detail/planted.hpp"

namespace millrace {

namespace detail {

inline constexpr std::uint64_t golden64 = 0x9e3779b97f4a7c15ULL;

/// splitmix64's output function alone: a bijective full-avalanche mixer that maps 0 to 0
/// (keyed_limiter spreads std::hash values with it).
constexpr std::uint64_t finalize64(std::uint64_t x) noexcept {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    if constexpr (detail::planted("hash64_no_final_mix"))
        return x;  // high input bits never reach low output bits
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/// The splitmix64 finalizer of x + golden64: a bijective full-avalanche mixer of 64-bit values.
constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
    return finalize64(x + golden64);
}

/// The full 128-bit product of a and b: {low half, high half}. The one place the library
/// spells the 128-bit multiply (mum, fast_range and the maglev table use it).
struct u128_parts {
    std::uint64_t lo;
    std::uint64_t hi;
};
inline u128_parts mul128(std::uint64_t a, std::uint64_t b) noexcept {
    __extension__ using u128 = unsigned __int128;
    const u128 r = static_cast<u128>(a) * b;
    return {static_cast<std::uint64_t>(r), static_cast<std::uint64_t>(r >> 64)};
}

/// The 128-bit product of a and b, folded: low half xor high half.
inline std::uint64_t mum(std::uint64_t a, std::uint64_t b) noexcept {
    const u128_parts r = mul128(a, b);
    return r.lo ^ r.hi;
}

/// Maps a 64-bit hash uniformly onto [0, n) without a division (Lemire, "Fast random integer
/// generation in an interval", 2016): the high half of hash * n.
inline std::uint64_t fast_range(std::uint64_t hash, std::uint64_t n) noexcept {
    return mul128(hash, n).hi;
}

inline std::uint64_t read64(const unsigned char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline std::uint64_t read32(const unsigned char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline constexpr std::uint64_t wy0 = 0xa0761d6478bd642fULL;
inline constexpr std::uint64_t wy1 = 0xe7037ed1a0b428dbULL;
inline constexpr std::uint64_t wy2 = 0x8ebc6af09c88c6e3ULL;
inline constexpr std::uint64_t wy3 = 0x589965cc75374cc3ULL;

/// wyhash (final 4) of `len` bytes at `p`, seed 0.
inline std::uint64_t hash_bytes(const void* data, std::size_t len) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    std::uint64_t seed = wy0 ^ mum(wy0, wy1);
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    if (len <= 16) {
        if (len >= 4) {
            const std::size_t mid = (len >> 3) << 2;
            a = (read32(p) << 32) | read32(p + mid);
            b = (read32(p + len - 4) << 32) | read32(p + len - 4 - mid);
        } else if (len > 0) {
            a = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[len >> 1]} << 8) | p[len - 1];
        }
    } else {
        std::size_t i = len;
        if (i > 48) {
            std::uint64_t s1 = seed;
            std::uint64_t s2 = seed;
            do {
                seed = mum(read64(p) ^ wy1, read64(p + 8) ^ seed);
                s1 = mum(read64(p + 16) ^ wy2, read64(p + 24) ^ s1);
                s2 = mum(read64(p + 32) ^ wy3, read64(p + 40) ^ s2);
                p += 48;
                i -= 48;
            } while (i > 48);
            seed ^= s1 ^ s2;
        }
        while (i > 16) {
            seed = mum(read64(p) ^ wy1, read64(p + 8) ^ seed);
            i -= 16;
            p += 16;
        }
        a = read64(p + i - 16);
        b = read64(p + i - 8);
    }
    const u128_parts r = mul128(a ^ wy1, b ^ seed);
    a = r.lo;
    b = r.hi;
    return mix64(mum(a ^ wy0 ^ len, b ^ wy1));
}

template <class B>
inline constexpr bool is_byte_like_v =
    std::is_same_v<std::remove_cv_t<B>, std::byte> || std::is_same_v<std::remove_cv_t<B>, unsigned char> ||
    std::is_same_v<std::remove_cv_t<B>, char>;

/// Character and byte types whose pointers hash64 refuses (everything but char: see the
/// header comment).
template <class C>
inline constexpr bool is_refused_char_v =
    std::is_same_v<std::remove_cv_t<C>, signed char> || std::is_same_v<std::remove_cv_t<C>, unsigned char> ||
    std::is_same_v<std::remove_cv_t<C>, std::byte> || std::is_same_v<std::remove_cv_t<C>, wchar_t> ||
    std::is_same_v<std::remove_cv_t<C>, char8_t> || std::is_same_v<std::remove_cv_t<C>, char16_t> ||
    std::is_same_v<std::remove_cv_t<C>, char32_t>;

template <class P>
struct is_refused_pointer : std::false_type {};
template <class C>
struct is_refused_pointer<C*> : std::bool_constant<is_refused_char_v<C>> {};

/// True for pointers to character/byte types other than char (hash64 rejects them).
template <class T>
inline constexpr bool is_refused_pointer_v = is_refused_pointer<std::decay_t<T>>::value;

}  // namespace detail

/// Customisation point: `hasher<T>{}(value)` returns a well-mixed 64-bit hash of `value`.
/// Specialise it for your own types (operator() const noexcept returning std::uint64_t).
template <class T, class Enable = void>
struct hasher;  // no hash for T: specialise millrace::hasher<T>

/// | std::is_enum_v<T>>> { | Integers and enums: their value, mixed (never the identity).
template <class T>
struct hasher<T, std::enable_if_t<std::is_integral_v<T> || std::is_enum_v<T>>> {
    /// The mixed 64-bit hash of `v`.
    constexpr std::uint64_t operator()(T v) const noexcept {
        if constexpr (std::is_enum_v<T>) {
            return detail::mix64(static_cast<std::uint64_t>(static_cast<std::underlying_type_t<T>>(v)));
        } else {
            return detail::mix64(static_cast<std::uint64_t>(v));
        }
    }
};

/// Pointers hash their address, except pointers to char, which hash the C string they
/// point to (so that hash64("key") == hash64(std::string("key"))), and pointers to other
/// character or byte types, which have no hasher (see the header comment).
template <class T>
struct hasher<T*,
              std::enable_if_t<!std::is_same_v<std::remove_cv_t<T>, char> && !detail::is_refused_char_v<T>>> {
    std::uint64_t operator()(T* p) const noexcept {
        return detail::mix64(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p)));
    }
};

/// Strings: their bytes.
template <>
struct hasher<std::string_view> {
    /// The 64-bit hash of the bytes of `s`.
    std::uint64_t operator()(std::string_view s) const noexcept {
        return detail::hash_bytes(s.data(), s.size());
    }
};
template <>
struct hasher<std::string> : hasher<std::string_view> {};
/// C strings: the bytes up to the terminating NUL; a null pointer hashes as "" (defined, so
/// that hash64 stays noexcept; strlen(nullptr) would be undefined behaviour).
template <>
struct hasher<const char*> {
    /// The 64-bit hash of the bytes up to the NUL ("" for a null pointer).
    std::uint64_t operator()(const char* s) const noexcept {
        return s == nullptr ? detail::hash_bytes("", 0) : detail::hash_bytes(s, std::strlen(s));
    }
};
template <>
struct hasher<char*> : hasher<const char*> {};

/// Byte spans: std::span of (const) std::byte, unsigned char or char, any extent.
template <class B, std::size_t Extent>
struct hasher<std::span<B, Extent>, std::enable_if_t<detail::is_byte_like_v<B>>> {
    std::uint64_t operator()(std::span<B, Extent> s) const noexcept {
        return detail::hash_bytes(s.data(), s.size());
    }
};

/// True when millrace::hasher<T> (after decay) is defined and callable.
template <class T>
concept hashable = requires(const T& v) {
    { hasher<std::decay_t<T>>{}(v) } -> std::convertible_to<std::uint64_t>;
};

/// A strong 64-bit hash of `key` (see the header comment). Arrays decay first, so string
/// literals hash as strings. Pointers to character/byte types other than char are refused
/// with the static_assert below (they are accepted by the constraint only to show it).
template <class T>
requires hashable<T> || detail::is_refused_pointer_v<T>
[[nodiscard]] constexpr std::uint64_t hash64(const T& key) noexcept {
    static_assert(!detail::is_refused_pointer_v<T>,
                  "millrace::hash64: a pointer to char8_t/char16_t/char32_t/wchar_t/signed char/unsigned "
                  "char/std::byte would hash its address, not the text: pass a std::string_view or "
                  "std::span<const std::byte> (e.g. std::as_bytes(std::span(p, len))) instead");
    return hasher<std::decay_t<T>>{}(key);
}

/// Folds the hash of `value` into `seed`; use it to hash a struct field by field.
/// Order-sensitive: hash_combine(hash_combine(s, a), b) != hash_combine(hash_combine(s, b), a).
template <hashable T>
[[nodiscard]] constexpr std::uint64_t hash_combine(std::uint64_t seed, const T& value) noexcept {
    return detail::mix64(seed ^ (hash64(value) + detail::golden64 + (seed << 6) + (seed >> 2)));
}

}  // namespace millrace
