// Fuzzes millrace::hash64 against its documented properties, with the input as keys:
//  - determinism: the same key hashes the same from another buffer and another call;
//  - equal keys, equal hashes across the overloads: std::string, std::string_view, C string,
//    spans of std::byte / unsigned char / char; an integer value through every integer type
//    that holds it and through an enum;
//  - a bijection on integers (two distinct integers never collide);
//  - avalanche sanity: flipping one bit of an integer key flips between 4 and 60 of the 64
//    output bits, and flipping one of its high bits reaches the low output byte (a mixer
//    without its final round leaves the low bits alone for every high-bit flip).
// abort() on any violation.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "millrace/core/hash.hpp"

namespace {

enum class wide_key : std::uint64_t {};

[[noreturn]] void fail() {
    std::abort();
}

void check_bytes(std::string_view s) {
    using millrace::hash64;
    const std::uint64_t h = hash64(s);
    const std::string copy(s);
    if (hash64(copy) != h || hash64(std::string_view(copy)) != h) fail();
    if (hash64(std::as_bytes(std::span(copy.data(), copy.size()))) != h) fail();
    if (hash64(std::span<const char>(copy.data(), copy.size())) != h) fail();
    const std::vector<unsigned char> u(s.begin(), s.end());
    if (hash64(std::span<const unsigned char>(u)) != h) fail();
    if (s.find('\0') == std::string_view::npos && hash64(copy.c_str()) != h) fail();
    if (s.empty() && hash64(static_cast<const char*>(nullptr)) != h) fail();
}

void check_integer(std::uint64_t v, std::uint64_t other) {
    using millrace::hash64;
    const std::uint64_t h = hash64(v);
    if (hash64(v) != h || hash64(static_cast<std::int64_t>(v)) != h) fail();
    if (hash64(static_cast<wide_key>(v)) != h) fail();
    if (v <= UINT32_MAX &&
        (hash64(static_cast<std::uint32_t>(v)) != h || hash64(static_cast<unsigned long>(v)) != h))
        fail();
    if (v <= UINT16_MAX && hash64(static_cast<std::uint16_t>(v)) != h) fail();
    if (v <= INT32_MAX && hash64(static_cast<int>(v)) != h) fail();
    if (other != v && hash64(other) == h) fail();  // a bijection never collides
    int low_byte_untouched = 0;
    for (int b = 0; b < 64; ++b) {
        const std::uint64_t d = hash64(v ^ (std::uint64_t{1} << b)) ^ h;
        const int flipped = std::popcount(d);
        if (flipped < 4 || flipped > 60) fail();
        if (b >= 40 && (d & 0xff) == 0) ++low_byte_untouched;
    }
    // 24 high-bit flips: a good mixer leaves the low byte unchanged about 24/256 times.
    if (low_byte_untouched >= 12) fail();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    check_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
    millrace::fuzz::byte_reader in{data, size};
    do {
        const std::uint64_t v = in.word();
        check_integer(v, in.word());
        check_integer(v & 0xffff, v >> 48);  // small values: every narrow type holds them
    } while (in.more());
    return 0;
}
