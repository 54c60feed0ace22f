// millrace/store/detail/journal_recovery.hpp: what journal_store's log does on open: it
// finds the segments to replay, replays their records in order, and classifies a bad record
// as a torn tail (dropped, kept aside) or as corruption (refused, or skipped with repair).
//
// Segments `segment-<seq>.log`; `*.tmp` files are unfinished compactions and are removed; a
// `fence` file (written after a failed sync, journal_log.hpp) cuts its segment back to the
// offset it names before anything is replayed. Replay starts at the newest segment whose
// header has flag_base (older ones are superseded and removed). A segment of a newer major
// format version is refused with storage_error, with or without repair.
//
// Streaming: a segment is read through a window of read_chunk bytes (larger only while one
// record is larger), so memory during recovery is what the caller's index grows to plus
// one window, whatever the journal's size.
//
// Torn tail or corruption (last segment only can be torn): a bad record is the torn tail of
// the last write when no well-formed record follows it, or every one that follows belongs
// to a write that began at or before it (record offset - `back`): only the last write can
// be unsynced (a leader syncs before the next write begins), and its pages reach the disk
// in any order; never when a sync mark follows it (close() and compaction write them after
// a sync). In a durability::none segment (flag_unsynced) every call is its own unsynced
// write: a bad record is torn unless a sync mark follows. A record whose checksum holds, or
// (format 2) whose header checksum holds with a length or type no writer produces, was
// written whole: it is corruption, never a torn tail. Zeros from a bad record to the end of
// the last segment are preallocated space: the log simply ends there (no torn tail).
//
// Linear time on any input (format 2): a header is checked by its own CRC in constant time,
// a bad record whose header holds is skipped by its length, one whose header does not is
// followed by a byte-wise search for the next header that holds (13 bytes of CRC per
// offset), and the classification of the last segment's bad records is one forward walk
// from its first bad record plus a backward pass over the bad records found.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "millrace/core/error.hpp"
#include "millrace/store/detail/journal_format.hpp"
#include "millrace/store/detail/journal_io.hpp"

namespace millrace {

/// Bytes that recovery dropped: a torn tail, a fenced write, or (with repair) a corrupt range.
struct journal_dropped_range {
    std::string file;
    std::uint64_t offset = 0;        ///< where the first bad record starts
    std::uint64_t bytes = 0;         ///< how many bytes were dropped from there
    std::uint64_t record_index = 0;  ///< ordinal of the bad record in its segment (from 0)
    std::string reason;
    std::string saved_to;  ///< torn tail: the file its bytes were copied to before truncation
};

/// What open() found and did.
struct journal_recovery_report {
    std::uint64_t segments_replayed = 0;
    std::uint64_t records_replayed = 0;
    std::uint64_t bytes_replayed = 0;
    std::optional<journal_dropped_range> torn_tail;  ///< truncated away (the unsynced tail)
    std::vector<journal_dropped_range> repaired;     ///< corrupt ranges skipped by `repair`
    std::vector<std::string> removed_files;          ///< superseded segments, unfinished .tmp
    /// Bytes past a fence file (the write whose sync failed), discarded before replay.
    std::optional<journal_dropped_range> fenced;
    /// Zeroed (preallocated) bytes after the last record of the last segment.
    std::uint64_t preallocated_bytes = 0;
};

namespace detail::journal {

/// The read window of recovery.
inline constexpr std::size_t read_chunk = std::size_t{1} << 20;

/// A forward-moving window over one file, refilled from the offset asked for.
template <journal_io Io>
class segment_reader {
public:
    segment_reader(Io& io, typename Io::file f, std::uint64_t size) : io_(io), f_(f), size_(size) {}

    /// Bytes [off, off + n) of the file, or nullptr when they run past its end.
    [[nodiscard]] const unsigned char* need(std::uint64_t off, std::size_t n) {
        if (off > size_ || size_ - off < n) return nullptr;
        if (off >= base_ && off - base_ + n <= len_) return buf_.data() + (off - base_);
        const auto k =
            static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, read_chunk), size_ - off));
        if (buf_.size() < k) buf_.resize(k);  // one record larger than the window
        base_ = off;
        len_ = io_.pread(f_, buf_.data(), k, off);
        if (len_ < n) return nullptr;  // the file shrank under us
        return buf_.data();
    }
    /// Gives back a window grown for a large record.
    void trim() {
        if (buf_.size() <= read_chunk) return;
        bytes().swap(buf_);
        base_ = 0;
        len_ = 0;
    }
    [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

private:
    Io& io_;
    typename Io::file f_;
    std::uint64_t size_;
    bytes buf_;
    std::uint64_t base_ = 0;
    std::size_t len_ = 0;
};

/// One record examined where it stands.
struct probe_result {
    record_check check = record_check::truncated;
    record_view r;
    bool header_holds = false;  // its length can be trusted to skip it
    bool never_torn = false;    // written whole: a bad one is corruption
    bool mark = false;          // a sync mark
};

template <journal_io Io>
[[nodiscard]] probe_result probe(segment_reader<Io>& rd, std::uint16_t major, std::uint64_t off) {
    probe_result p;
    const std::size_t hs = record_header_size_of(major);
    const unsigned char* h = rd.need(off, hs);
    if (h == nullptr) return p;  // truncated header
    p.check = check_record_header(major, h, off, p.r);
    const bool v2 = major >= 2;
    if (p.check != record_check::ok) {
        // Format 2: a header whose own CRC holds was written whole, whatever it says.
        p.never_torn = v2 && p.check != record_check::bad_header;
        p.header_holds = p.never_torn && p.check != record_check::bad_length;
        return p;
    }
    p.header_holds = v2;
    const unsigned char* whole = rd.need(off, hs + p.r.length);
    if (whole == nullptr) {
        p.check = record_check::truncated;
        return p;
    }
    p.check = check_record_payload(major, whole, p.r);
    if (p.check == record_check::ok) {
        p.header_holds = true;
        p.never_torn = true;
        p.mark = p.r.type == sync_mark_type && p.r.length == 0;
    }
    return p;
}

/// Where the walk goes after the bad record `p` at `off`: past it when its header holds,
/// else to the next offset whose header holds (format 1: whose whole record checks).
template <journal_io Io>
[[nodiscard]] std::uint64_t next_after_bad(segment_reader<Io>& rd, std::uint16_t major, std::uint64_t off,
                                           const probe_result& p) {
    if (p.header_holds) return std::min<std::uint64_t>(p.r.next, rd.size());
    const std::size_t hs = record_header_size_of(major);
    record_view r;
    for (std::uint64_t at = off + 1; at + hs <= rd.size(); ++at) {
        const unsigned char* h = rd.need(at, hs);
        if (h == nullptr) break;
        if (check_record_header(major, h, at, r) != record_check::ok) continue;
        if (major >= 2) return at;
        if (probe(rd, major, at).check == record_check::ok) return at;
    }
    return rd.size();
}

/// The offset of the first bad record at or after `from` that is a torn tail, or
/// UINT64_MAX when every bad record there is corruption. One forward walk, then a backward
/// pass over the bad records: a bad record is torn when no later record is a sync mark and
/// (outside `unsynced_mode`) none began its write after the bad record.
template <journal_io Io>
[[nodiscard]] std::uint64_t first_torn(segment_reader<Io>& rd, std::uint16_t major, std::uint64_t from,
                                       bool unsynced_mode) {
    struct bad_record {
        std::uint64_t off;
        std::uint64_t max_start;  // latest write start among the good records after it
        bool mark;                // a sync mark follows before the next bad record
        bool candidate;           // could be torn (not written whole)
    };
    std::vector<bad_record> bads;
    for (std::uint64_t off = from; off < rd.size();) {
        const probe_result p = probe(rd, major, off);
        if (p.check == record_check::ok) {
            if (!bads.empty()) {
                bads.back().max_start = std::max(bads.back().max_start, off - p.r.back);
                bads.back().mark = bads.back().mark || p.mark;
            }
            off = p.r.next;
            continue;
        }
        bads.push_back(bad_record{off, 0, false, !p.never_torn});
        off = next_after_bad(rd, major, off, p);
    }
    std::uint64_t torn = ~std::uint64_t{0};
    std::uint64_t max_start = 0;
    bool mark = false;
    for (std::size_t i = bads.size(); i-- > 0;) {
        max_start = std::max(max_start, bads[i].max_start);
        mark = mark || bads[i].mark;
        if (bads[i].candidate && !mark && (unsynced_mode || max_start <= bads[i].off)) torn = bads[i].off;
    }
    return torn;
}

template <journal_io Io>
[[nodiscard]] bool zeros_to_end(segment_reader<Io>& rd, std::uint64_t from) {
    for (std::uint64_t off = from; off < rd.size();) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(read_chunk, rd.size() - off));
        const unsigned char* p = rd.need(off, n);
        if (p == nullptr) return false;
        if (std::find_if(p, p + n, [](unsigned char c) { return c != 0; }) != p + n) return false;
        off += n;
    }
    return true;
}

/// The end of a replayed segment: where the log goes on appending.
struct segment_end {
    std::uint64_t end = 0;  // just past the last good record
    bool torn = false;      // a torn tail starts at `end`
};

/// Replays the records of one segment (file `f` of `size` bytes) through
/// apply(type, payload, length); see the header comment for what is torn and what corrupt.
/// Fills `report`; throws storage_error on corruption unless `repair`.
template <journal_io Io, class Apply>
segment_end replay_segment(Io& io, typename Io::file f, std::uint64_t size, const std::string& path,
                           const segment_header& header, bool last, bool repair,
                           journal_recovery_report& report, Apply& apply) {
    segment_reader<Io> rd(io, f, size);
    const std::uint16_t major = header.major();
    const bool unsynced_mode = (header.flags & flag_unsynced) != 0;
    std::uint64_t torn_at = ~std::uint64_t{0};
    bool classified = false;
    std::uint64_t index = 0;
    for (std::uint64_t off = header_size; off < size;) {
        const probe_result p = probe(rd, major, off);
        std::string why;
        if (p.check == record_check::ok) {
            if (p.mark) {
                report.records_replayed++;
                report.bytes_replayed += p.r.next - off;
                off = p.r.next;
                ++index;
                continue;
            }
            if (p.r.type > max_record_type) {
                why = "unknown record type " + std::to_string(p.r.type);
            } else {
                try {
                    apply(p.r.type, p.r.payload, p.r.length);
                    report.records_replayed++;
                    report.bytes_replayed += p.r.next - off;
                    off = p.r.next;
                    ++index;
                    rd.trim();
                    continue;
                } catch (const journal_decode_error& e) {
                    why = std::string("undecodable record payload: ") + e.what();
                }
            }
        } else {
            why = to_string(p.check);
        }
        if (last && !classified) {
            torn_at = first_torn(rd, major, off, unsynced_mode);
            classified = true;
        }
        if (last && off == torn_at) {
            if (zeros_to_end(rd, off)) {
                report.preallocated_bytes = size - off;
                return segment_end{off, false};
            }
            report.torn_tail = journal_dropped_range{path, off, size - off, index, why, {}};
            return segment_end{off, true};
        }
        const std::uint64_t next = next_after_bad(rd, major, off, p);
        if (!repair)
            throw storage_error(path, off,
                                why + " (record " + std::to_string(index) +
                                    (p.never_torn ? "; its checksum holds, so it was written "
                                                    "whole: corruption, not a torn tail; open "
                                                    "with repair to drop it)"
                                                  : "; valid records follow, so this is "
                                                    "corruption, not a torn tail; open with "
                                                    "repair to drop it)"));
        report.repaired.push_back(journal_dropped_range{path, off, next - off, index, why, {}});
        off = next;
        ++index;
    }
    return segment_end{size, false};
}

/// Copies bytes [from, end of file) of `f` to a new file `to`, synced, in read_chunk pieces.
template <journal_io Io>
void copy_tail(Io& io, typename Io::file f, std::uint64_t size, std::uint64_t from, const std::string& to) {
    const auto out = io.open(to, true);
    try {
        io.truncate(out, 0);
        segment_reader<Io> rd(io, f, size);
        for (std::uint64_t off = from; off < size;) {
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(read_chunk, size - off));
            const unsigned char* p = rd.need(off, n);
            if (p == nullptr) break;
            io.pwrite(out, p, n, off - from);
            off += n;
        }
        io.datasync(out);
    } catch (...) {
        io.close(out);
        throw;
    }
    io.close(out);
}

/// Writes the fence file of `dir` naming `f`, synced with its name (journal_log.hpp's
/// fence after a failed write); recover() applies and removes it.
template <journal_io Io>
void write_fence_file(Io& io, const std::string& dir, const fence_record& f) {
    unsigned char b[header_size];
    encode_fence(f, b);
    const std::string path = dir + "/" + fence_name;
    const auto file = io.open(path, true);
    try {
        io.truncate(file, 0);
        io.pwrite(file, b, sizeof b, 0);
        io.datasync(file);
    } catch (...) {
        io.close(file);
        throw;
    }
    io.close(file);
    io.sync_dir(dir);
}

/// The path of segment `seq` in `dir`.
[[nodiscard]] inline std::string segment_path(const std::string& dir, std::uint64_t seq) {
    char name[40];
    std::snprintf(name, sizeof name, "segment-%016llx.log", static_cast<unsigned long long>(seq));
    return dir + "/" + name;
}

/// True when `n` is a segment file name; its sequence number goes to `seq`.
[[nodiscard]] inline bool parse_segment_name(const std::string& n, std::uint64_t& seq) noexcept {
    if (n.size() != 8 + 16 + 4 || n.compare(0, 8, "segment-") != 0 || n.compare(24, 4, ".log") != 0)
        return false;
    seq = 0;
    for (std::size_t i = 8; i < 24; ++i) {
        const char c = n[i];
        int d = 0;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return false;
        seq = seq << 4 | static_cast<std::uint64_t>(d);
    }
    return true;
}

/// Where recovery leaves the log: the newest segment, open for appends when readable.
template <journal_io Io>
struct recovered {
    std::vector<std::uint64_t> live_seqs;  // replayed segments, oldest first
    std::uint64_t seq = 0;                 // the newest segment (0: the journal is empty)
    bool open = false;                     // `file` is the newest segment, readable
    typename Io::file file{};
    segment_header header;        // its header
    std::uint64_t end = 0;        // just past its last good record
    std::uint64_t allocated = 0;  // its size on disk
};

/// Recovers the journal in `dir` (locked by the caller), replaying every record through
/// apply(type, payload, length). Throws storage_error (I/O; corruption without `repair`;
/// a segment of a newer major version, always).
template <journal_io Io, class Apply>
recovered<Io> recover(Io& io, const std::string& dir, bool repair, journal_recovery_report& report,
                      Apply& apply) {
    const auto segment_path = [&](std::uint64_t seq) { return journal::segment_path(dir, seq); };
    const auto read_head = [&](const std::string& path, unsigned char* out) {
        const auto f = io.open(path, false);
        std::uint64_t size = 0;
        try {
            size = io.size(f);
            std::memset(out, 0, header_size);
            (void)io.pread(f, out, header_size, 0);
        } catch (...) {
            io.close(f);
            throw;
        }
        io.close(f);
        return size;
    };
    recovered<Io> out;
    std::vector<std::uint64_t> seqs;
    std::optional<fence_record> fence_at;
    bool fence_file = false;
    for (const std::string& n : io.list(dir)) {
        std::uint64_t s = 0;
        if (n == fence_name) {
            fence_file = true;
            unsigned char b[header_size];
            fence_record f;
            if (read_head(dir + "/" + n, b) == header_size && decode_fence(b, header_size, f)) fence_at = f;
        } else if (parse_segment_name(n, s)) {
            seqs.push_back(s);
        } else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0 &&
                   n.compare(0, 8, "segment-") == 0) {
            io.remove(dir + "/" + n);  // an unfinished compaction
            report.removed_files.push_back(n);
        }
    }
    std::sort(seqs.begin(), seqs.end());
    if (seqs.empty()) {
        if (fence_file) io.remove(dir + "/" + fence_name);  // names no segment that exists
        return out;
    }
    // Headers newest first, down to the newest base.
    std::vector<segment_header> headers(seqs.size());
    std::vector<bool> header_ok(seqs.size(), false);
    std::size_t base = 0;
    bool found = false;
    for (std::size_t i = seqs.size(); i-- > 0;) {
        unsigned char b[header_size];
        const std::uint64_t size = read_head(segment_path(seqs[i]), b);
        std::string why;
        const header_check hc = decode_header(b, static_cast<std::size_t>(size), headers[i], why);
        if (hc == header_check::newer) throw storage_error(segment_path(seqs[i]), 0, why);
        header_ok[i] = hc == header_check::ok;
        if (header_ok[i] && headers[i].sequence != seqs[i]) {
            // A segment copied or renamed by hand: its order would be wrong.
            header_ok[i] = false;
            why = "segment header sequence " + std::to_string(headers[i].sequence) +
                  " does not match its file name";
        }
        if (!header_ok[i]) {
            if (!repair) throw storage_error(segment_path(seqs[i]), 0, why);
            report.repaired.push_back(journal_dropped_range{segment_path(seqs[i]), 0, size, 0, why, {}});
            continue;
        }
        if (headers[i].flags & flag_base) {
            base = i;
            found = true;
            break;
        }
    }
    if (!found) {
        if (!repair)
            throw storage_error(dir, storage_error::npos,
                                "no base segment: the journal's first segment is missing");
        base = 0;
    }
    // Superseded segments: the base was durable before they were due for removal.
    for (std::size_t i = 0; i < base; ++i) {
        io.remove(segment_path(seqs[i]));
        report.removed_files.push_back(segment_path(seqs[i]));
    }
    if (base > 0) io.sync_dir(dir);
    segment_end end;
    std::uint64_t last_size = 0;
    for (std::size_t i = base; i < seqs.size(); ++i) {
        if (!header_ok[i]) continue;
        const bool last = i + 1 == seqs.size();
        const std::string path = segment_path(seqs[i]);
        const auto f = io.open(path, false);
        try {
            std::uint64_t size = io.size(f);
            if (fence_at && fence_at->sequence == seqs[i] && size > fence_at->offset &&
                fence_at->offset >= header_size) {
                // A write failed there: its bytes may read back, but were never synced.
                report.fenced = journal_dropped_range{path,
                                                      fence_at->offset,
                                                      size - fence_at->offset,
                                                      0,
                                                      "bytes of a write whose sync failed (fence file)",
                                                      {}};
                io.truncate(f, fence_at->offset);
                io.datasync(f);
                size = fence_at->offset;
            }
            end = replay_segment(io, f, size, path, headers[i], last, repair, report, apply);
            if (end.torn) {
                // Keep the dropped bytes aside before truncating: if the classification
                // was wrong, nothing is lost for good.
                const std::string aside = path + ".torn-" + std::to_string(end.end);
                copy_tail(io, f, size, end.end, aside);
                io.sync_dir(dir);
                report.torn_tail->saved_to = aside;
                io.truncate(f, end.end);
                io.datasync(f);
                size = end.end;
            }
            last_size = size;
        } catch (...) {
            io.close(f);
            throw;
        }
        if (last) {
            out.file = f;
            out.open = true;
            out.header = headers[i];
            out.end = end.end;
            out.allocated = last_size;
        } else {
            io.close(f);
        }
        report.segments_replayed++;
        out.live_seqs.push_back(seqs[i]);
    }
    if (fence_file) {
        // Applied above (the truncation is synced), or it fenced nothing: a damaged fence
        // file means its write failed and the store was poisoned (phantoms allowed).
        try {
            io.remove(dir + "/" + fence_name);
            io.sync_dir(dir);
        } catch (...) {
            if (out.open) io.close(out.file);
            throw;
        }
        report.removed_files.push_back(dir + "/" + fence_name);
    }
    out.seq = seqs.back();
    return out;
}

}  // namespace detail::journal
}  // namespace millrace
