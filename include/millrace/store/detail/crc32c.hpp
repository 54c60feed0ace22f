// millrace/store/detail/crc32c.hpp: CRC-32C (Castagnoli), portable software implementation.
//
// Guarantees: crc32c(data, n) is the CRC-32C of RFC 3720 (iSCSI), appendix B.4: reflected
// polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF, so crc32c("123456789")
// == 0xE3069283. crc32c_extend(crc, data, n) continues a CRC over more bytes:
// crc32c_extend(crc32c(a), b) == crc32c(a || b). noexcept, no allocation, no state but
// constant tables built at compile time.
//
// Algorithm: "slicing-by-8" (Kounavis and Berry, "A Systematic Approach to Building High
// Performance Software-based CRC Generators", ISCC 2005): eight 256-entry tables let the
// loop fold eight input bytes per iteration with eight independent table look-ups, about
// 1 byte/cycle instead of the 1/8 of the bytewise loop. Bytes are loaded explicitly as
// little-endian, so the result does not depend on the host byte order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace millrace::detail {

inline constexpr std::uint32_t crc32c_poly = 0x82F63B78u;  // reflected 0x1EDC6F41

using crc32c_tables_t = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr crc32c_tables_t make_crc32c_tables() noexcept {
    crc32c_tables_t t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k)
            c = (c & 1u) ? (c >> 1) ^ crc32c_poly : c >> 1;
        t[0][i] = c;
    }
    // t[k][i]: the CRC of byte i followed by k zero bytes.
    for (std::size_t k = 1; k < 8; ++k)
        for (std::size_t i = 0; i < 256; ++i)
            t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
    return t;
}

inline constexpr crc32c_tables_t crc32c_tables = make_crc32c_tables();

/// Continues a CRC-32C: `crc` is a finished CRC (as returned by crc32c), or 0 for none.
[[nodiscard]] inline std::uint32_t crc32c_extend(std::uint32_t crc, const void* data,
                                                 std::size_t n) noexcept {
    const auto* p = static_cast<const unsigned char*>(data);
    const auto& t = crc32c_tables;
    std::uint32_t c = ~crc;
    while (n >= 8) {
        const std::uint32_t lo = c ^ (std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 |
                                      std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24);
        c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
            t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFFu];
    return ~c;
}

/// The CRC-32C of n bytes.
[[nodiscard]] inline std::uint32_t crc32c(const void* data, std::size_t n) noexcept {
    return crc32c_extend(0, data, n);
}

}  // namespace millrace::detail
