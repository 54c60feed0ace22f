// millrace/store/detail/journal_format.hpp: the on-disk format of journal_store segments.
//
// A journal is a directory of segment files `segment-<16 hex digits>.log`, numbered upwards.
// Each segment starts with a 32-byte header and continues with records:
//
//   header  : magic "MLRCJRNL" (8) | major u16 | minor u16 | flags u32 | sequence u64 |
//             zero u32 | CRC-32C of the 28 bytes before it u32
//   record  : length u32 | type u8 | back u64 | header CRC u32 | payload CRC u32 | payload
//             (format 2: the header CRC covers the 13 bytes before it, the payload CRC is
//             the payload's, continued from the header CRC, so a damaged length is caught
//             before it is used and a header is checked in constant time at any offset)
//   record  : length u32 | CRC-32C u32 | type u8 | back u64 | payload
//             (format 1, read only: one CRC over length, type, back and payload)
//
// `back` is the distance in bytes from the start of the write that carried the record (one
// group commit) to the record: recovery uses it to tell the torn, unsynced last write (whose
// later pages may have reached the disk while earlier ones did not) from corruption of
// synced data. All integers are little-endian. A header with flag `base` starts a new
// history: replay begins from the newest base segment and older segments are superseded
// (compaction writes one). Record type 0 is invalid, so zeroed (preallocated) space never
// parses as a record.
//
// Versions: a reader opens every major version from 1 up to format_major and refuses a
// newer major one; a minor version adds only what older readers of the same major may
// ignore. Version history is in docs/journal.md.
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
/// The format this build writes; it reads majors 1..format_major.
inline constexpr std::uint16_t format_major = 2;
inline constexpr std::uint16_t format_minor = 0;
inline constexpr std::uint32_t format_version = std::uint32_t{format_minor} << 16 | format_major;
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
/// The bytes before a record's payload (format 2; format 1 had 17).
inline constexpr std::size_t record_header_size = 21;
inline constexpr std::size_t record_header_size_v1 = 17;
[[nodiscard]] constexpr std::size_t record_header_size_of(std::uint16_t major) noexcept {
    return major == 1 ? record_header_size_v1 : record_header_size;
}
// Larger payloads are refused when written and read as corruption (a flipped high bit of a
// length must not make recovery allocate or scan gigabytes).
inline constexpr std::uint32_t max_payload = 256u << 20;

inline void put_u32(unsigned char* p, std::uint32_t v) noexcept {
    for (int i = 0; i < 4; ++i)
        p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put_u64(unsigned char* p, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i)
        p[i] = static_cast<unsigned char>(v >> (8 * i));
}
[[nodiscard]] inline std::uint32_t get_u32(const unsigned char* p) noexcept {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = v << 8 | p[i];
    return v;
}
[[nodiscard]] inline std::uint64_t get_u64(const unsigned char* p) noexcept {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = v << 8 | p[i];
    return v;
}

struct segment_header {
    std::uint32_t version = format_version;  // major in the low 16 bits, minor in the high
    std::uint32_t flags = 0;
    std::uint64_t sequence = 0;
    [[nodiscard]] std::uint16_t major() const noexcept {
        return static_cast<std::uint16_t>(version & 0xFFFFu);
    }
    [[nodiscard]] std::uint16_t minor() const noexcept { return static_cast<std::uint16_t>(version >> 16); }
};

inline void encode_header(const segment_header& h, unsigned char* out) noexcept {
    std::memcpy(out, segment_magic, 8);
    put_u32(out + 8, h.version);
    put_u32(out + 12, h.flags);
    put_u64(out + 16, h.sequence);
    put_u32(out + 24, 0);
    put_u32(out + 28, crc32c(out, 28));
}

enum class header_check : std::uint8_t { ok, bad, newer };

/// Decodes a segment header; says why when it is not `ok`. `newer`: a sound header of a
/// major version this build cannot read (never repairable: upgrade instead).
[[nodiscard]] inline header_check decode_header(const unsigned char* p, std::size_t n, segment_header& h,
                                                std::string& why) {
    if (n < header_size) {
        why = "segment shorter than its " + std::to_string(header_size) + "-byte header";
        return header_check::bad;
    }
    if (std::memcmp(p, segment_magic, 8) != 0) {
        why = "bad segment magic (not a millrace journal segment)";
        return header_check::bad;
    }
    if (get_u32(p + 28) != crc32c(p, 28)) {
        why = "segment header checksum mismatch";
        return header_check::bad;
    }
    h.version = get_u32(p + 8);
    h.flags = get_u32(p + 12);
    h.sequence = get_u64(p + 16);
    if (h.major() > format_major) {
        why = "segment format version " + std::to_string(h.major()) + "." + std::to_string(h.minor()) +
              " is newer than this build of millrace reads (up to " + std::to_string(format_major) +
              ".x): open it with the newer millrace that wrote it";
        return header_check::newer;
    }
    if (h.major() == 0) {
        why = "segment format version 0 does not exist";
        return header_check::bad;
    }
    return header_check::ok;
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
[[nodiscard]] inline bool decode_fence(const unsigned char* p, std::size_t n, fence_record& f) noexcept {
    if (n < header_size || std::memcmp(p, fence_magic, 8) != 0 || get_u32(p + 28) != crc32c(p, 28))
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
    p[4] = type;
    put_u64(p + 5, back);
    const std::uint32_t hc = crc32c(p, 13);
    put_u32(p + 13, hc);
    put_u32(p + 17, crc32c_extend(hc, p + record_header_size, len));
}

/// A record's fields, once its header checked.
struct record_view {
    std::uint8_t type = 0;
    const unsigned char* payload = nullptr;
    std::size_t length = 0;
    std::size_t next = 0;    // offset just past the record
    std::uint64_t back = 0;  // bytes from the start of its write to the record
};

enum class record_check : std::uint8_t { ok, truncated, bad_header, bad_length, bad_crc, bad_type };

[[nodiscard]] inline const char* to_string(record_check c) noexcept {
    switch (c) {
        case record_check::ok:
            return "ok";
        case record_check::truncated:
            return "record extends past the end of the file";
        case record_check::bad_header:
            return "record header checksum mismatch";
        case record_check::bad_length:
            return "record length out of range";
        case record_check::bad_crc:
            return "record checksum mismatch";
        case record_check::bad_type:
            return "record type 0 or unknown, or back out of range";
    }
    return "?";
}

/// True when `c` says the record's header was written whole (format 2: its own CRC holds),
/// so its length can be trusted to skip the record even though the record is bad.
[[nodiscard]] constexpr bool header_whole(record_check c) noexcept {
    return c == record_check::ok || c == record_check::bad_crc || c == record_check::bad_type;
}

/// Checks the fixed header of the record at `off` (its `avail` bytes from there on are in
/// `p`, at least the header's); fills `r` but `payload`. Constant time: garbage is
/// rejected without reading a payload. In format 1 there is no header CRC: only ranges.
[[nodiscard]] inline record_check check_record_header(std::uint16_t major, const unsigned char* p,
                                                      std::uint64_t off, record_view& r) noexcept {
    std::uint32_t len = 0;
    std::uint8_t type = 0;
    std::uint64_t back = 0;
    if (major == 1) {
        len = get_u32(p);
        type = p[8];
        back = get_u64(p + 9);
    } else {
        std::uint32_t hc = crc32c(p, 13);
        if constexpr (planted("journal_skip_header_crc")) hc = get_u32(p + 13);  // never checked
        if (hc != get_u32(p + 13)) return record_check::bad_header;
        len = get_u32(p);
        type = p[4];
        back = get_u64(p + 5);
    }
    if (len > max_payload) return record_check::bad_length;
    r.type = type;
    r.length = len;
    r.back = back;
    r.next = static_cast<std::size_t>(off) + record_header_size_of(major) + len;
    // A type no writer uses, or a `back` reaching before the segment, is not a record.
    if (type == 0 || (type > max_record_type && type != sync_mark_type) || back > off)
        return record_check::bad_type;
    return record_check::ok;
}

/// Checks the payload of a record whose header checked: `p` holds the whole record.
[[nodiscard]] inline record_check check_record_payload(std::uint16_t major, const unsigned char* p,
                                                       record_view& r) noexcept {
    const std::size_t hs = record_header_size_of(major);
    std::uint32_t c = 0;
    std::uint32_t stored = 0;
    if (major == 1) {
        c = crc32c_extend(crc32c(p, 4), p + 8, 9 + r.length);
        stored = get_u32(p + 4);
    } else {
        c = crc32c_extend(get_u32(p + 13), p + hs, r.length);
        stored = get_u32(p + 17);
    }
    if constexpr (planted("journal_skip_crc")) c = stored;  // checksum never verified
    if (c != stored) return record_check::bad_crc;
    r.payload = p + hs;
    return record_check::ok;
}

/// The record at `off` of a buffer of `size` bytes, if it is well formed.
[[nodiscard]] inline record_check check_record(const unsigned char* data, std::size_t size, std::size_t off,
                                               record_view& r, std::uint16_t major = format_major) noexcept {
    const std::size_t hs = record_header_size_of(major);
    if (size - off < hs) return record_check::truncated;
    const record_check h = check_record_header(major, data + off, off, r);
    if (h != record_check::ok) return h;
    if (size - off - hs < r.length) return record_check::truncated;
    return check_record_payload(major, data + off, r);
}

/// The offset of the first record header that checks at or after `from` (format 2: its
/// header CRC holds), or `size` if none. Linear: a header costs a 13-byte CRC, whatever
/// its length says. A random candidate passes with probability 2^-32.
[[nodiscard]] inline std::size_t next_valid_record(const unsigned char* data, std::size_t size,
                                                   std::size_t from) noexcept {
    record_view r;
    for (std::size_t off = from; off + record_header_size <= size; ++off)
        if (check_record_header(format_major, data + off, off, r) == record_check::ok) return off;
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
