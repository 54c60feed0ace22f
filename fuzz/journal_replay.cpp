// Fuzzes journal_store recovery (on the in-memory disk of tests/store/journal/fault_io.hpp):
// whatever the segment files hold, opening never crashes, hangs (recovery is linear) or
// trips a sanitizer. Opening either throws millrace::storage_error or yields a working
// store; with `repair` it always opens (what cannot be read is dropped and reported); an
// opened store accepts a write, and a clean reopen shows the same jobs.
//
// The first input byte picks the mode:
//   bits 0-1  0: the bytes alone as one segment (header included)
//             1: the bytes after a valid header (format 2, or format 1 with bit 3)
//             2: structure-aware: the bytes are a program that builds one segment of
//                well-formed records (enqueues of jobs that decode), sync marks, zeroed
//                (preallocated) runs, garbage, flipped bits and a truncation
//             3: the same program building up to four segments, each with its own header
//                flags (base or not, unsynced or not)
//   bit 2     open with repair
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "millrace/store/journal_store.hpp"

#include "../tests/store/journal/fault_io.hpp"

namespace {

namespace j = millrace::detail::journal;
using store = millrace::basic_journal_store<millrace::test::fault_io>;
using bytes = std::vector<unsigned char>;

std::vector<millrace::job_record> dump(store& s) {
    std::vector<millrace::job_record> v;
    for (millrace::job_id id = 1; id < 64; ++id)
        if (auto r = s.find(id)) v.push_back(*r);
    return v;
}

std::string segment_name(std::uint64_t seq) {
    return j::segment_path("/j", seq);
}

void check(const std::vector<bytes>& segments, bool repair) {
    millrace::test::fault_io io;
    for (std::size_t i = 0; i < segments.size(); ++i)
        io.disk->write_file(segment_name(i + 1), segments[i]);
    millrace::journal_options o;
    o.repair = repair;
    o.mode = millrace::durability::none;
    std::vector<millrace::job_record> before;
    try {
        store s("/j", o, io);
        millrace::job_record r;
        r.queue = "q";
        const auto res = s.enqueue(r);
        if (!s.find(res.id)) std::abort();
        before = dump(s);
    } catch (const millrace::storage_error&) {
        if (repair) std::abort();  // repair must always open (it drops what it cannot read)
        return;                    // refused: corruption reported, never a crash
    }
    o.repair = false;  // after a successful open (repair rewrote it), it opens clean
    store s("/j", o, io);
    if (dump(s) != before) std::abort();
}

// A well-formed record of the current format: an enqueue of a job that decodes, or a mark.
void put_record(bytes& seg, std::uint64_t write_start, millrace::fuzz::byte_reader& in) {
    const std::uint8_t what = in.byte();
    const std::size_t at = j::begin_record(seg);
    if (what % 8 == 7) {
        j::finish_record(seg, at, j::sync_mark_type, 0);
        return;
    }
    millrace::job_record r;
    r.id = 1 + in.byte() % 40;
    r.queue = what % 2 == 0 ? "q" : "r";
    r.priority = static_cast<std::int8_t>(in.byte());
    r.state = static_cast<millrace::job_state>(in.byte() % millrace::job_state_count);
    r.dedup_key = in.byte() % 4 == 0 ? "k" : "";
    j::payload_writer w{seg};
    w.u8(j::entry_upsert);
    j::encode_job(w, r);
    j::finish_record(seg, at, j::rt_enqueue, at - write_start);
}

// Runs the segment-building program of the structure-aware modes.
bytes build_segment(std::uint64_t seq, std::uint32_t flags, millrace::fuzz::byte_reader& in) {
    bytes seg(j::header_size);
    j::encode_header(j::segment_header{j::format_version, flags, seq}, seg.data());
    std::uint64_t write_start = j::header_size;
    for (int ops = 0; ops < 64 && in.more(); ++ops) {
        const std::uint8_t op = in.byte();
        switch (op % 8) {
            case 0:
            case 1:
            case 2:
                put_record(seg, write_start, in);
                break;
            case 3:
                write_start = seg.size();
                break;  // the next write begins
            case 4:
                seg.insert(seg.end(), 1 + in.byte() % 64, 0);
                break;  // preallocated run
            case 5:
                for (int n = 1 + in.byte() % 16; n > 0; --n)
                    seg.push_back(in.byte());
                break;
            case 6:
                if (seg.size() > j::header_size) {
                    const std::size_t bit = in.word() % ((seg.size() - j::header_size) * 8);
                    seg[j::header_size + bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
                }
                break;
            case 7:
                if (seg.size() > j::header_size) seg.resize(seg.size() - 1 - in.byte() % 32);
                if (seg.size() < j::header_size) seg.resize(j::header_size);
                return seg;
        }
    }
    return seg;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t mode = data[0];
    const bool repair = (mode & 4) != 0;
    millrace::fuzz::byte_reader in{data + 1, size - 1};
    std::vector<bytes> segments;
    switch (mode & 3) {
        case 0:
            segments.emplace_back(data + 1, data + size);
            break;
        case 1: {
            bytes seg(j::header_size);
            const std::uint32_t version = (mode & 8) != 0 ? 1u : j::format_version;
            j::encode_header(j::segment_header{version, j::flag_base, 1}, seg.data());
            seg.insert(seg.end(), data + 1, data + size);
            segments.push_back(std::move(seg));
            break;
        }
        case 2:
            segments.push_back(build_segment(1, j::flag_base, in));
            break;
        case 3: {
            const int n = 1 + in.byte() % 4;
            for (int i = 0; i < n; ++i) {
                const std::uint8_t f = in.byte();
                const std::uint32_t flags =
                    (i == 0 || f % 4 == 0 ? j::flag_base : 0u) | (f % 3 == 0 ? j::flag_unsynced : 0u);
                segments.push_back(build_segment(static_cast<std::uint64_t>(i) + 1, flags, in));
            }
            break;
        }
    }
    check(segments, repair);
    return 0;
}
