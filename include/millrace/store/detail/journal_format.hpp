// millrace/store/detail/journal_format.hpp: the on-disk format of journal_store segments.
//
// A journal is a directory of segment files `segment-<16 hex digits>.log`, numbered upwards.
// Each segment starts with a 32-byte header and continues with records:
//
//   header  : magic "MLRCJRNL" (8) | version u32 | flags u32 | sequence u64 | zero u32 |
//             CRC-32C of the 28 bytes before it u32
//   record  : length u32 | CRC-32C u32 | type u8 | back u64 | payload (length bytes)
//             the CRC covers the length field, the type byte, `back` and the payload, so a
//             flipped bit anywhere in a record (its framing included) fails the check.
//             `back` is the distance in bytes from the start of the write that carried the
//             record (one group commit) to the record: recovery uses it to tell the torn,
//             unsynced last write (whose later pages may have reached the disk while earlier
//             ones did not) from corruption of synced data.
//
// All integers are little-endian. A header with flag `base` starts a new history: replay
// begins from the newest base segment and older segments are superseded (compaction writes
// one). Record type 0 is invalid (zero-filled pages never parse as a record).
//
// Everything here is pure computation over byte buffers: noexcept, no I/O. Decoding of
// payloads (payload_reader) throws detail::journal_decode_error, which the store turns into
// a storage_error naming the file and offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "millrace/core/detail/planted.hpp"
#include "millrace/store/detail/crc32c.hpp"

namespace millrace::detail::journal {

using bytes = std::vector<unsigned char>;

inline constexpr unsigned char segment_magic[8] = {'M', 'L', 'R', 'C', 'J', 'R', 'N', 'L'};
inline constexpr std::uint32_t format_version = 1;
inline constexpr std::size_t header_size = 32;
inline constexpr std::uint32_t flag_base = 1;  // replay starts here; older segments are stale
// The segment is appended to in durability::none: each call is its own unsynced write, so
// after a power cut any of its records after the last sync mark may be missing or holes;
// recovery drops from the first bad record after the last mark (everything later is as
// unsynced). A log switches to a new segment when its mode does not match the flag.
inline constexpr std::uint32_t flag_unsynced = 2;
// A record of this type (empty payload, back 0) is a sync mark written by the log itself,
// never by the store: a write of its own after a sync (close()) or the end of a compacted
// base segment. Every byte before a mark was synced before the mark was written, so a bad
// record before a mark is corruption, never a torn tail.
inline constexpr std::uint8_t sync_mark_type = 0xFF;
// Record types 1..max_record_type are the store's; others (but the mark) are not records.
inline constexpr std::uint8_t max_record_type = 32;
inline constexpr std::size_t record_header_size = 17;
// Larger payloads are refused when written and read as corruption (a flipped high bit of a
// length must not make recovery allocate or scan gigabytes).
inline constexpr std::uint32_t max_payload = 256u << 20;

inline void put_u32(unsigned char* p, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put_u64(unsigned char* p, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
[[nodiscard]] inline std::uint32_t get_u32(const unsigned char* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
    return v;
}
[[nodiscard]] inline std::uint64_t get_u64(const unsigned char* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

struct segment_header {
    std::uint32_t version = format_version;
    std::uint32_t flags = 0;
    std::uint64_t sequence = 0;
};

inline void encode_header(const segment_header& h, unsigned char* out) noexcept {
    std::memcpy(out, segment_magic, 8);
    put_u32(out + 8, h.version);
    put_u32(out + 12, h.flags);
    put_u64(out + 16, h.sequence);
    put_u32(out + 24, 0);
    put_u32(out + 28, crc32c(out, 28));
}

/// Decodes a segment header; on failure returns false and says why.
[[nodiscard]] inline bool decode_header(const unsigned char* p, std::size_t n, segment_header& h,
                                        std::string& why) {
    if (n < header_size) {
        why = "segment shorter than its " + std::to_string(header_size) + "-byte header";
        return false;
    }
    if (std::memcmp(p, segment_magic, 8) != 0) {
        why = "bad segment magic (not a millrace journal segment)";
        return false;
    }
    if (get_u32(p + 28) != crc32c(p, 28)) {
        why = "segment header checksum mismatch";
        return false;
    }
    h.version = get_u32(p + 8);
    h.flags = get_u32(p + 12);
    h.sequence = get_u64(p + 16);
    if (h.version != format_version) {
        why = "unsupported segment format version " + std::to_string(h.version);
        return false;
    }
    return true;
}

/// The fence file: written after a failed write or sync when the segment could not be
/// truncated; bytes of segment `sequence` from `offset` on are discarded by the next open.
///   magic "MLRCFNCE" (8) | sequence u64 | offset u64 | zero u32 | CRC-32C of the 28 before u32
inline constexpr const char* fence_name = "fence";
inline constexpr unsigned char fence_magic[8] = {'M', 'L', 'R', 'C', 'F', 'N', 'C', 'E'};
struct fence_record {
    std::uint64_t sequence = 0;
    std::uint64_t offset = 0;
};
inline void encode_fence(const fence_record& f, unsigned char* out) noexcept {
    std::memcpy(out, fence_magic, 8);
    put_u64(out + 8, f.sequence);
    put_u64(out + 16, f.offset);
    put_u32(out + 24, 0);
    put_u32(out + 28, crc32c(out, 28));
}
/// False for a fence file that is short or damaged (its write failed: nothing was fenced).
[[nodiscard]] inline bool decode_fence(const unsigned char* p, std::size_t n,
                                       fence_record& f) noexcept {
    if (n < header_size || std::memcmp(p, fence_magic, 8) != 0 ||
        get_u32(p + 28) != crc32c(p, 28))
        return false;
    f.sequence = get_u64(p + 8);
    f.offset = get_u64(p + 16);
    return true;
}

/// Starts a record in `out`: reserves its header; the payload is appended next and
/// finish_record() seals it. Returns the record's offset in `out`.
[[nodiscard]] inline std::size_t begin_record(bytes& out) {
    const std::size_t at = out.size();
    out.resize(at + record_header_size);
    return at;
}

/// Seals the record begun at `at` with its type and `back` (bytes from the start of the
/// write that carries it); everything appended since is its payload.
inline void finish_record(bytes& out, std::size_t at, std::uint8_t type, std::uint64_t back) {
    const std::size_t len = out.size() - at - record_header_size;
    if (type == 0) throw std::invalid_argument("journal record type 0 is reserved");
    if (len > max_payload) throw std::invalid_argument("journal record larger than 256 MiB");
    unsigned char* p = out.data() + at;
    put_u32(p, static_cast<std::uint32_t>(len));
    p[8] = type;
    put_u64(p + 9, back);
    std::uint32_t c = crc32c(p, 4);
    c = crc32c_extend(c, p + 8, 9 + len);
    put_u32(p + 4, c);
}

/// The record at `off` of a buffer, if it is well formed.
struct record_view {
    std::uint8_t type = 0;
    const unsigned char* payload = nullptr;
    std::size_t length = 0;
    std::size_t next = 0;  // offset just past the record
    std::uint64_t back = 0;  // bytes from the start of its write to the record
};

enum class record_check : std::uint8_t { ok, truncated, bad_length, bad_crc, bad_type };

[[nodiscard]] inline const char* to_string(record_check c) noexcept {
    switch (c) {
        case record_check::ok: return "ok";
        case record_check::truncated: return "record extends past the end of the file";
        case record_check::bad_length: return "record length out of range";
        case record_check::bad_crc: return "record checksum mismatch";
        case record_check::bad_type: return "record type 0 or unknown, or back out of range";
    }
    return "?";
}

[[nodiscard]] inline record_check check_record(const unsigned char* data, std::size_t size,
                                               std::size_t off, record_view& r) noexcept {
    if (size - off < record_header_size) return record_check::truncated;
    const unsigned char* p = data + off;
    const std::uint32_t len = get_u32(p);
    if (len > max_payload) return record_check::bad_length;
    // Cheap framing checks before the CRC, so that scanning garbage for the next record
    // (next_valid_record) does not checksum up to 256 MiB at every offset: a type no writer
    // uses, or a `back` reaching before the buffer, is not a record.
    if (p[8] == 0 || (p[8] > max_record_type && p[8] != sync_mark_type))
        return record_check::bad_type;
    if (get_u64(p + 9) > off) return record_check::bad_type;
    if (size - off - record_header_size < len) return record_check::truncated;
    std::uint32_t c = crc32c(p, 4);
    c = crc32c_extend(c, p + 8, 9 + std::size_t{len});
    if constexpr (planted("journal_skip_crc")) c = get_u32(p + 4);  // checksum never verified
    if (c != get_u32(p + 4)) return record_check::bad_crc;
    if (p[8] == 0) return record_check::bad_type;
    r.type = p[8];
    r.payload = p + record_header_size;
    r.length = len;
    r.next = off + record_header_size + len;
    r.back = get_u64(p + 9);
    return record_check::ok;
}

/// The offset of the first well-formed record at or after `from`, or `size` if none.
/// Used after a bad record to tell a torn tail (nothing valid follows) from corruption in
/// the middle (valid records follow). Work is bounded by the bytes of candidate records
/// whose length fits in what remains, so garbage cannot make it loop forever; a random
/// candidate passes the 32-bit CRC with probability 2^-32.
[[nodiscard]] inline std::size_t next_valid_record(const unsigned char* data, std::size_t size,
                                                   std::size_t from) noexcept {
    record_view r;
    for (std::size_t off = from; off + record_header_size <= size; ++off)
        if (check_record(data, size, off, r) == record_check::ok) return off;
    return size;
}

class journal_decode_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Appends fixed-width little-endian fields to a payload.
struct payload_writer {
    bytes& out;
    void u8(std::uint8_t v) { out.push_back(v); }
    void u32(std::uint32_t v) {
        const std::size_t at = out.size();
        out.resize(at + 4);
        put_u32(out.data() + at, v);
    }
    void u64(std::uint64_t v) {
        const std::size_t at = out.size();
        out.resize(at + 8);
        put_u64(out.data() + at, v);
    }
    void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
    void str(std::string_view s) {
        if (s.size() > max_payload) throw std::invalid_argument("journal field larger than 256 MiB");
        u32(static_cast<std::uint32_t>(s.size()));
        out.insert(out.end(), s.begin(), s.end());
    }
};

/// Reads what payload_writer wrote; throws journal_decode_error past the end.
struct payload_reader {
    const unsigned char* p;
    std::size_t n;
    std::size_t at = 0;

    void need(std::size_t k) const {
        if (n - at < k) throw journal_decode_error("record payload ends inside a field");
    }
    [[nodiscard]] bool done() const noexcept { return at == n; }
    std::uint8_t u8() {
        need(1);
        return p[at++];
    }
    std::uint32_t u32() {
        need(4);
        at += 4;
        return get_u32(p + at - 4);
    }
    std::uint64_t u64() {
        need(8);
        at += 8;
        return get_u64(p + at - 8);
    }
    std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
    std::string str() {
        const std::uint32_t len = u32();
        need(len);
        std::string s(reinterpret_cast<const char*>(p + at), len);
        at += len;
        return s;
    }
};

}  // namespace millrace::detail::journal
