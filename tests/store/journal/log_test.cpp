// Tests of the journal's lower layers: CRC-32C, the segment format, the record log
// (recovery of torn tails and corruption, repair, the directory lock, group commit), over
// the fault-injecting in-memory disk and over the real file system.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/store/detail/crc32c.hpp"
#include "millrace/store/detail/journal_format.hpp"
#include "millrace/store/detail/journal_log.hpp"

#include "store/journal/fault_io.hpp"
#include "store/journal/temp_dir.hpp"

namespace {

using namespace millrace;
using namespace millrace::detail::journal;
using millrace::test::fault_io;
using millrace::test::loss_mode;

std::uint32_t crc_bytewise(const unsigned char* p, std::size_t n) {
    std::uint32_t c = ~0u;
    for (std::size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k)
            c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

TEST(Crc32c, KnownVectors) {
    // RFC 3720 appendix B.4 and the common check value.
    EXPECT_EQ(detail::crc32c("123456789", 9), 0xE3069283u);
    unsigned char b[32];
    std::fill(b, b + 32, 0);
    EXPECT_EQ(detail::crc32c(b, 32), 0x8A9136AAu);
    std::fill(b, b + 32, 0xFF);
    EXPECT_EQ(detail::crc32c(b, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; ++i)
        b[i] = static_cast<unsigned char>(i);
    EXPECT_EQ(detail::crc32c(b, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; ++i)
        b[i] = static_cast<unsigned char>(31 - i);
    EXPECT_EQ(detail::crc32c(b, 32), 0x113FDB5Cu);
    EXPECT_EQ(detail::crc32c(b, 0), 0u);
}

TEST(Crc32c, SlicingMatchesBytewiseAndExtends) {
    std::mt19937_64 rng(7);
    std::vector<unsigned char> v(1000);
    for (auto& x : v)
        x = static_cast<unsigned char>(rng());
    for (std::size_t n = 0; n < v.size(); n += 37) {
        ASSERT_EQ(detail::crc32c(v.data(), n), crc_bytewise(v.data(), n)) << n;
        const std::size_t k = n / 3;
        ASSERT_EQ(detail::crc32c_extend(detail::crc32c(v.data(), k), v.data() + k, n - k),
                  detail::crc32c(v.data(), n));
    }
}

TEST(JournalFormat, HeaderRoundTripAndRejects) {
    unsigned char h[header_size];
    encode_header(segment_header{format_version, flag_base, 42}, h);
    segment_header out;
    std::string why;
    ASSERT_EQ(decode_header(h, header_size, out, why), header_check::ok) << why;
    EXPECT_EQ(out.sequence, 42u);
    EXPECT_EQ(out.flags, flag_base);
    EXPECT_EQ(decode_header(h, header_size - 1, out, why), header_check::bad);
    for (std::size_t bit = 0; bit < header_size * 8; ++bit) {
        unsigned char c[header_size];
        std::memcpy(c, h, header_size);
        c[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
        EXPECT_NE(decode_header(c, header_size, out, why), header_check::ok) << bit;
    }
}

TEST(JournalFormat, RecordRoundTripAndChecks) {
    bytes b;
    const auto at = begin_record(b);
    payload_writer w{b};
    w.u64(123);
    w.str("hello");
    finish_record(b, at, 3, 0);
    record_view r;
    ASSERT_EQ(check_record(b.data(), b.size(), 0, r), record_check::ok);
    EXPECT_EQ(r.type, 3);
    EXPECT_EQ(r.next, b.size());
    payload_reader rd{r.payload, r.length};
    EXPECT_EQ(rd.u64(), 123u);
    EXPECT_EQ(rd.str(), "hello");
    EXPECT_TRUE(rd.done());
    EXPECT_THROW((void)rd.u8(), journal_decode_error);
    for (std::size_t n = 0; n < b.size(); ++n)
        EXPECT_EQ(check_record(b.data(), n, 0, r), record_check::truncated) << n;
    for (std::size_t bit = 0; bit < b.size() * 8; ++bit) {
        bytes c = b;
        c[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
        EXPECT_NE(check_record(c.data(), c.size(), 0, r), record_check::ok) << bit;
    }
    bytes zeros(64, 0);
    EXPECT_NE(check_record(zeros.data(), zeros.size(), 0, r), record_check::ok);
    EXPECT_EQ(next_valid_record(zeros.data(), zeros.size(), 0), zeros.size());
    EXPECT_THROW(finish_record(b, begin_record(b), 0, 0), std::invalid_argument);
}

// A log of string records, replayed into a vector.
template <class Io>
struct string_log {
    std::vector<std::string> replayed;
    detail::journal::log<Io> log;

    string_log(const std::string& dir, Io io, durability mode = durability::group_commit, bool repair = false)
        : log(dir, mode, repair, std::chrono::microseconds(500), std::move(io)) {
        log.open([this](std::uint8_t type, const unsigned char* p, std::size_t n) {
            if (type != 1) throw journal_decode_error("unexpected type");
            payload_reader r{p, n};
            std::string s = r.str();
            if (!r.done()) throw journal_decode_error("trailing bytes");
            replayed.push_back(std::move(s));
        });
    }
    void add(const std::string& s) {
        const auto lsn = log.append(1, [&](payload_writer& w) { w.str(s); });
        log.commit(lsn);
    }
    // Several records in one write (as group commit makes of concurrent callers' records).
    void add_group(const std::vector<std::string>& v) {
        std::uint64_t lsn = 0;
        for (const auto& s : v)
            lsn = log.append(1, [&](payload_writer& w) { w.str(s); });
        log.commit(lsn);
    }
    void rewrite(const std::vector<std::string>& all) {
        log.compact_locked([&](auto&& emit) {
            for (const auto& s : all)
                emit(std::uint8_t{1}, [&](payload_writer& w) { w.str(s); });
        });
    }
};

const std::string dir = "/j";
const std::string seg1 = "/j/segment-0000000000000001.log";

std::vector<std::string> make_records(int n) {
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i)
        v.push_back("record-" + std::to_string(i) + std::string(i % 7, 'x'));
    return v;
}

TEST(JournalLog, ReplaysWhatWasCommitted) {
    fault_io io;
    const auto recs = make_records(20);
    {
        string_log<fault_io> l(dir, io);
        EXPECT_TRUE(l.replayed.empty());
        for (const auto& r : recs)
            l.add(r);
    }
    std::mt19937_64 rng(1);
    io.disk->power_loss(loss_mode::drop_unsynced, rng);
    string_log<fault_io> l(dir, io);
    EXPECT_EQ(l.replayed, recs);
    EXPECT_FALSE(l.log.report().torn_tail);
}

// The record offsets of a segment holding `recs`.
std::vector<std::size_t> offsets(const fault_io& io) {
    const auto b = io.disk->read_file(seg1);
    std::vector<std::size_t> v;
    std::size_t off = header_size;
    record_view r;
    while (off < b.size() && check_record(b.data(), b.size(), off, r) == record_check::ok) {
        if (r.type != sync_mark_type) v.push_back(off);
        off = r.next;
    }
    return v;
}

// The segment without close()'s trailing sync mark: as a crash before close() leaves it.
millrace::test::fault_disk::bytes unmarked(const fault_io& io) {
    auto b = io.disk->read_file(seg1);
    std::size_t off = header_size, last = header_size;
    record_view r;
    while (off < b.size() && check_record(b.data(), b.size(), off, r) == record_check::ok) {
        last = off;
        off = r.next;
    }
    if (check_record(b.data(), b.size(), last, r) == record_check::ok && r.type == sync_mark_type)
        b.resize(last);
    return b;
}

TEST(JournalLog, TornTailTruncatedAtEveryByteOfTheLastRecord) {
    fault_io io;
    const auto recs = make_records(5);
    {
        string_log<fault_io> l(dir, io);
        for (const auto& r : recs)
            l.add(r);
    }
    const auto full = unmarked(io);
    const auto offs = offsets(io);
    ASSERT_EQ(offs.size(), recs.size());
    const std::size_t last = offs.back();
    for (std::size_t len = last; len < full.size(); ++len) {
        fault_io io2;
        io2.disk->write_file(seg1, millrace::test::fault_disk::bytes(
                                       full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len)));
        string_log<fault_io> l(dir, io2);
        EXPECT_EQ(l.replayed, std::vector<std::string>(recs.begin(), recs.end() - 1)) << len;
        const auto& rep = l.log.report();
        if (len == last) {
            EXPECT_FALSE(rep.torn_tail) << len;
        } else {
            ASSERT_TRUE(rep.torn_tail) << len;
            EXPECT_EQ(rep.torn_tail->offset, last);
            EXPECT_EQ(rep.torn_tail->bytes, len - last);
            EXPECT_EQ(rep.torn_tail->record_index, recs.size() - 1);
            EXPECT_EQ(rep.torn_tail->file, seg1);
        }
        EXPECT_EQ(io2.disk->read_file(seg1).size(), last);
        l.add("after");  // appends go where the torn record was
        l.log.close();
        string_log<fault_io> again(dir, io2);
        ASSERT_EQ(again.replayed.size(), recs.size());
        EXPECT_EQ(again.replayed.back(), "after");
    }
}

TEST(JournalLog, GarbageAfterTheLastRecordIsATornTail) {
    fault_io io;
    const auto recs = make_records(3);
    {
        string_log<fault_io> l(dir, io);
        for (const auto& r : recs)
            l.add(r);
    }
    auto b = unmarked(io);
    const std::size_t end = b.size();
    std::mt19937_64 rng(3);
    for (int i = 0; i < 5000; ++i)
        b.push_back(static_cast<unsigned char>(rng()));
    fault_io io2;
    io2.disk->write_file(seg1, b);
    string_log<fault_io> l(dir, io2);
    EXPECT_EQ(l.replayed, recs);
    ASSERT_TRUE(l.log.report().torn_tail);
    EXPECT_EQ(l.log.report().torn_tail->offset, end);
    EXPECT_EQ(l.log.report().torn_tail->bytes, 5000u);
}

TEST(JournalLog, FlippedBitInTheMiddleIsCorruptionNamingFileAndOffset) {
    fault_io io;
    const auto recs = make_records(6);
    {
        string_log<fault_io> l(dir, io);
        for (const auto& r : recs)
            l.add(r);
    }
    const auto full = io.disk->read_file(seg1);
    const auto offs = offsets(io);
    for (std::size_t k = 0; k + 1 < offs.size(); ++k) {
        const std::size_t end = offs[k + 1];
        for (std::size_t bit = offs[k] * 8; bit < end * 8; bit += 3) {
            auto c = full;
            c[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
            fault_io io2;
            io2.disk->write_file(seg1, c);
            try {
                string_log<fault_io> l(dir, io2);
                ADD_FAILURE() << "flipped bit " << bit << " of record " << k << " not detected";
            } catch (const storage_error& e) {
                EXPECT_EQ(e.file(), seg1);
                EXPECT_EQ(e.offset(), offs[k]);
                EXPECT_NE(e.reason().find("corruption"), std::string::npos) << e.what();
            }
            // The store stays closed: a second try is not refused by a stale lock.
            EXPECT_THROW(string_log<fault_io>(dir, io2), storage_error);
        }
    }
}

// A segment whose header sequence does not match its file name is refused.
TEST(JournalLog, SegmentSequenceMustMatchItsFileName) {
    fault_io io;
    {
        string_log<fault_io> l(dir, io);
        l.add("a");
    }
    const auto c = io.disk->read_file(seg1);
    fault_io io2;
    io2.disk->write_file("/j/segment-0000000000000002.log", c);  // header says 1
    io2.disk->write_file(seg1, c);
    try {
        string_log<fault_io> l(dir, io2);
        ADD_FAILURE() << "mismatched sequence accepted";
    } catch (const storage_error& e) {
        EXPECT_NE(e.reason().find("sequence"), std::string::npos) << e.what();
    }
}

// Opens a segment of crafted bytes: nothing replays, all of it is a torn tail, and recovery
// takes seconds at most (it is linear in the bytes).
void expect_quick_torn_tail(const bytes& c) {
    fault_io io;
    io.disk->write_file(seg1, c);
    const auto t0 = std::chrono::steady_clock::now();
    string_log<fault_io> l(dir, io);
    EXPECT_TRUE(l.replayed.empty());
    EXPECT_TRUE(l.log.report().torn_tail);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

// Recovery scanning adversarial bytes for the next record must not checksum a long
// candidate at every offset (a header + 2 MiB of 00 00 10 00 took > 100 s).
TEST(JournalLog, AdversarialRepeatedLengthsRecoverQuickly) {
    bytes c(header_size);
    encode_header(segment_header{format_version, flag_base, 1}, c.data());
    for (int i = 0; i < (2 << 20) / 4; ++i) {
        const unsigned char q[4] = {0x00, 0x00, 0x10, 0x00};
        c.insert(c.end(), q, q + 4);
    }
    expect_quick_torn_tail(c);
}

// A record whose CRC holds but which does not decode was written whole: corruption
// even as the very last record of a crashed (unmarked) segment, never a torn tail.
TEST(JournalLog, CrcValidUndecodableLastRecordIsCorruption) {
    fault_io io;
    {
        string_log<fault_io> l(dir, io);
        l.add("a");
        const auto lsn = l.log.append(2, [&](payload_writer& w) { w.str("b"); });  // type 2
        l.log.commit(lsn);
    }
    const auto c = unmarked(io);
    fault_io io2;
    io2.disk->write_file(seg1, c);
    try {
        string_log<fault_io> l(dir, io2);
        ADD_FAILURE() << "undecodable record read as torn tail";
    } catch (const storage_error& e) {
        EXPECT_NE(e.reason().find("checksum holds"), std::string::npos) << e.what();
    }
    string_log<fault_io> l(dir, io2, durability::group_commit, true);
    EXPECT_EQ(l.replayed, std::vector<std::string>{"a"});
    EXPECT_FALSE(l.log.report().torn_tail);
    ASSERT_EQ(l.log.report().repaired.size(), 1u);
}

// Without close()'s sync mark (a crash) the last write may be unsynced: a flip in it is a
// torn tail, dropped and kept aside. After a clean close the mark proves it synced: the
// same flip is corruption (dropping it would lose acknowledged records silently).
TEST(JournalLog, FlippedBitInTheLastRecordIsTornOnlyWithoutTheCloseMark) {
    fault_io io;
    const auto recs = make_records(4);
    {
        string_log<fault_io> l(dir, io);
        for (const auto& r : recs)
            l.add(r);
    }
    const auto marked = io.disk->read_file(seg1);
    const auto full = unmarked(io);
    ASSERT_LT(full.size(), marked.size());
    const auto offs = offsets(io);
    for (std::size_t bit = offs.back() * 8; bit < full.size() * 8; ++bit) {
        auto c = full;
        c[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
        fault_io io2;
        io2.disk->write_file(seg1, c);
        string_log<fault_io> l(dir, io2);
        EXPECT_EQ(l.replayed, std::vector<std::string>(recs.begin(), recs.end() - 1)) << bit;
        ASSERT_TRUE(l.log.report().torn_tail);
        EXPECT_EQ(
            io2.disk->read_file(l.log.report().torn_tail->saved_to),
            millrace::test::fault_disk::bytes(c.begin() + static_cast<std::ptrdiff_t>(offs.back()), c.end()));
        auto m = marked;
        m[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
        fault_io io3;
        io3.disk->write_file(seg1, m);
        EXPECT_THROW(string_log<fault_io>(dir, io3), storage_error) << bit;
    }
}

// The last write's pages reach the disk in any order: a hole inside it followed by later
// records of the same write is a torn tail; the same hole in an earlier (synced) write,
// with a later write after it, is corruption.
TEST(JournalLog, HoleInsideTheLastWriteIsATornTailNotCorruption) {
    fault_io io;
    const std::vector<std::string> first = {"a", "b"};
    const std::vector<std::string> group = {"g0", "g1", "g2", "g3", "g4"};
    {
        string_log<fault_io> l(dir, io);
        l.add_group(first);
        l.add_group(group);
    }
    const auto offs = offsets(io);
    ASSERT_EQ(offs.size(), 7u);
    auto c = unmarked(io);  // a crash before close(): the last write may be unsynced
    std::fill(c.begin() + static_cast<std::ptrdiff_t>(offs[3]),
              c.begin() + static_cast<std::ptrdiff_t>(offs[4]), 0);  // g1 never reached the disk
    {
        fault_io io2;
        io2.disk->write_file(seg1, c);
        string_log<fault_io> l(dir, io2);
        EXPECT_EQ(l.replayed, (std::vector<std::string>{"a", "b", "g0"}));
        ASSERT_TRUE(l.log.report().torn_tail);
        EXPECT_EQ(l.log.report().torn_tail->offset, offs[3]);
        EXPECT_EQ(l.log.report().torn_tail->bytes, c.size() - offs[3]);
    }
    // The same hole in the first write, with the second write after it: corruption.
    auto d = io.disk->read_file(seg1);
    std::fill(d.begin() + static_cast<std::ptrdiff_t>(offs[0]),
              d.begin() + static_cast<std::ptrdiff_t>(offs[1]), 0);
    fault_io io3;
    io3.disk->write_file(seg1, d);
    EXPECT_THROW(string_log<fault_io>(dir, io3), storage_error);
}

TEST(JournalLog, RepairKeepsExactlyTheGoodRecords) {
    fault_io io;
    const auto recs = make_records(10);
    {
        string_log<fault_io> l(dir, io);
        for (const auto& r : recs)
            l.add(r);
    }
    auto c = io.disk->read_file(seg1);
    const auto offs = offsets(io);
    // Corrupt records 2 and 6 (a payload byte of one, the length of the other).
    c[offs[2] + record_header_size + 2] ^= 0x10;
    c[offs[6]] ^= 0x01;
    io.disk->write_file(seg1, c);
    EXPECT_THROW(string_log<fault_io>(dir, io), storage_error);
    std::vector<std::string> good;
    for (std::size_t i = 0; i < recs.size(); ++i)
        if (i != 2 && i != 6) good.push_back(recs[i]);
    {
        string_log<fault_io> l(dir, io, durability::group_commit, true);
        EXPECT_EQ(l.replayed, good);
        const auto& rep = l.log.report();
        ASSERT_EQ(rep.repaired.size(), 2u);
        EXPECT_EQ(rep.repaired[0].offset, offs[2]);
        EXPECT_EQ(rep.repaired[0].bytes, offs[3] - offs[2]);
        EXPECT_EQ(rep.repaired[0].record_index, 2u);
        EXPECT_EQ(rep.repaired[1].offset, offs[6]);
        EXPECT_EQ(rep.repaired[1].bytes, offs[7] - offs[6]);
        EXPECT_TRUE(l.log.needs_rewrite());
        l.rewrite(l.replayed);
    }
    string_log<fault_io> l(dir, io);  // clean now, without repair
    EXPECT_EQ(l.replayed, good);
    EXPECT_TRUE(l.log.report().repaired.empty());
}

TEST(JournalLog, SecondOpenerRefused) {
    fault_io io;
    string_log<fault_io> a(dir, io);
    try {
        string_log<fault_io> b(dir, io);
        ADD_FAILURE() << "second opener accepted";
    } catch (const storage_error& e) {
        EXPECT_NE(std::string(e.what()).find("already open"), std::string::npos);
    }
}

TEST(JournalLog, CompactionSwitchesAtomicallyAtEveryCrashPoint) {
    const auto before = make_records(30);
    const std::vector<std::string> after = {"only", "these"};
    std::mt19937_64 rng(11);
    for (std::uint64_t cut = 1;; ++cut) {
        fault_io io;
        {
            string_log<fault_io> l(dir, io);
            for (const auto& r : before)
                l.add(r);
        }
        bool finished = false;
        {
            string_log<fault_io> l(dir, io);
            io.disk->cut_after(cut);
            try {
                l.rewrite(after);
                finished = true;
            } catch (const storage_error&) {
            }
        }
        io.disk->power_loss(static_cast<loss_mode>(cut % 4), rng);
        string_log<fault_io> l(dir, io);
        if (l.replayed != before) {
            EXPECT_EQ(l.replayed, after) << "cut " << cut;
        }
        if (finished) {
            // The last step (removing the old segment) may be cut; the new state holds.
            EXPECT_EQ(l.replayed, after);
            break;
        }
        ASSERT_LT(cut, 50u);
    }
}

TEST(JournalLog, GroupCommitSharesSyncsAndLosesNothing) {
    fault_io io;
    constexpr int threads = 8, per = 300;
    io.disk->set_sync_delay(std::chrono::microseconds(200));
    {
        string_log<fault_io> l(dir, io);
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; ++t)
            ts.emplace_back([&, t] {
                for (int i = 0; i < per; ++i)
                    l.add(std::to_string(t) + ":" + std::to_string(i));
            });
        for (auto& t : ts)
            t.join();
        const auto st = l.log.stats();
        EXPECT_EQ(st.records_synced, std::uint64_t{threads * per});
        // With 8 callers and a slow sync most syncs are shared.
        EXPECT_LT(st.syncs, std::uint64_t{threads * per / 3});
    }
    std::mt19937_64 rng(5);
    io.disk->power_loss(loss_mode::drop_unsynced, rng);
    string_log<fault_io> l(dir, io);
    ASSERT_EQ(l.replayed.size(), std::size_t{threads * per});
    std::vector<int> next(threads, 0);
    for (const auto& s : l.replayed) {  // each thread's records in its order, none twice
        const int t = std::stoi(s.substr(0, s.find(':')));
        EXPECT_EQ(std::stoi(s.substr(s.find(':') + 1)), next[t]++);
    }
}

TEST(JournalLog, PowerLossKeepsEveryAcknowledgedRecord) {
    std::mt19937_64 rng(99);
    for (int round = 0; round < 200; ++round) {
        fault_io io;
        std::vector<std::string> acked;
        std::string in_flight;
        {
            string_log<fault_io> l(dir, io, durability::group_commit);
            io.disk->cut_after(1 + rng() % 40);
            try {
                for (int i = 0; i < 40; ++i) {
                    in_flight = "r" + std::to_string(i);
                    l.add(in_flight);
                    acked.push_back(in_flight);
                    in_flight.clear();
                }
            } catch (const storage_error&) {
            }
        }
        io.disk->power_loss(static_cast<loss_mode>(rng() % 4), rng);
        auto l = std::make_unique<string_log<fault_io>>(dir, io);
        ASSERT_GE(l->replayed.size(), acked.size()) << round;
        EXPECT_TRUE(std::equal(acked.begin(), acked.end(), l->replayed.begin()));
        ASSERT_LE(l->replayed.size(), acked.size() + 1);
        if (l->replayed.size() > acked.size()) {
            EXPECT_EQ(l->replayed.back(), in_flight);
        }
    }
}

TEST(JournalLog, PosixRoundTripAndFlock) {
    millrace::test::temp_dir tmp;
    const std::string d = tmp.path() + "/j";
    {
        string_log<posix_io> l(d, posix_io{});
        l.add("a");
        l.add("b");
        EXPECT_THROW(string_log<posix_io>(d, posix_io{}), storage_error);
    }
    string_log<posix_io> l(d, posix_io{});
    EXPECT_EQ(l.replayed, (std::vector<std::string>{"a", "b"}));
}

TEST(JournalLog, MissingParentDirectoriesAreCreated) {
    millrace::test::temp_dir tmp;
    const std::string d = tmp.path() + "/a/b/j";
    {
        string_log<posix_io> l(d, posix_io{});
        l.add("a");
    }
    string_log<posix_io> l(d, posix_io{});
    EXPECT_EQ(l.replayed, (std::vector<std::string>{"a"}));
}

TEST(JournalLog, DirectoryPathThatIsAFileNamesItsRole) {
    millrace::test::temp_dir tmp;
    const std::string f = tmp.path() + "/file";
    { std::ofstream(f) << "x"; }
    try {
        string_log<posix_io> l(f + "/j", posix_io{});
        FAIL() << "opened a journal under a regular file";
    } catch (const storage_error& e) {
        EXPECT_NE(std::string(e.what()).find("journal directory"), std::string::npos) << e.what();
    }
}

// ------------------------------------------------------------- failed syncs and fences
// A failed fdatasync whose pages stay readable: the write is never acknowledged, later calls
// are refused, and a reopen discards its bytes although they read back intact, so that new
// records never follow bytes the disk does not have.
TEST(JournalLog, FailedSyncIsNeverAcknowledgedAndItsBytesAreFencedOff) {
    fault_io io;
    {
        string_log<fault_io> l(dir, io);
        l.add("a");
        io.disk->fail_sync_keep_cache(1);
        EXPECT_THROW(l.add("b"), storage_error);
        EXPECT_THROW(l.add("c"), storage_error);  // poisoned
    }
    {
        string_log<fault_io> l(dir, io);  // the page cache still holds "b"
        EXPECT_EQ(l.replayed, (std::vector<std::string>{"a"}));
        l.add("d");
    }
    std::mt19937_64 rng(1);
    io.disk->power_loss(loss_mode::drop_unsynced, rng);
    string_log<fault_io> l(dir, io);  // no repair: "b"'s never-written bytes are not in the way
    EXPECT_EQ(l.replayed, (std::vector<std::string>{"a", "d"}));
}

// When the segment cannot be truncated, a fence file names the last durable offset and the
// next open cuts the segment there before it replays anything.
TEST(JournalLog, FenceFileWhenTheSegmentCannotBeTruncated) {
    fault_io io;
    {
        string_log<fault_io> l(dir, io);
        l.add("a");
        io.disk->fail_sync_keep_cache(1);
        io.disk->fail_nth("ftruncate", 1);
        try {
            l.add("b");
            FAIL() << "a failed sync was acknowledged";
        } catch (const storage_error& e) {
            EXPECT_NE(std::string(e.what()).find("fence file"), std::string::npos) << e.what();
        }
    }
    const auto files = io.disk->files();
    EXPECT_NE(std::find(files.begin(), files.end(), dir + "/fence"), files.end());
    {
        string_log<fault_io> l(dir, io);
        EXPECT_EQ(l.replayed, (std::vector<std::string>{"a"}));
        ASSERT_TRUE(l.log.report().fenced.has_value());
        EXPECT_EQ(l.log.report().fenced->file, seg1);
        l.add("d");
    }
    const auto after = io.disk->files();
    EXPECT_EQ(std::find(after.begin(), after.end(), dir + "/fence"), after.end());
    std::mt19937_64 rng(2);
    io.disk->power_loss(loss_mode::drop_unsynced, rng);
    string_log<fault_io> l(dir, io);
    EXPECT_EQ(l.replayed, (std::vector<std::string>{"a", "d"}));
}

// A write that stopped halfway (EIO after some bytes) is never acknowledged either.
TEST(JournalLog, ShortWriteIsNeverAcknowledged) {
    fault_io io;
    {
        string_log<fault_io> l(dir, io);
        l.add("a");
        io.disk->short_write_nth(1);
        EXPECT_THROW(l.add(std::string(100, 'b')), storage_error);
    }
    string_log<fault_io> l(dir, io);
    EXPECT_EQ(l.replayed, (std::vector<std::string>{"a"}));
    EXPECT_FALSE(l.log.report().torn_tail.has_value());  // fenced away, not left torn
}

// Neither truncation nor a fence file possible (the disk is gone): the store is poisoned and
// after the power comes back every acknowledged record is there; the failed one may be.
TEST(JournalLog, NoFenceWritableLosesNothingAcknowledged) {
    for (std::uint64_t cut = 1; cut <= 8; ++cut) {
        fault_io io;
        {
            string_log<fault_io> l(dir, io);
            l.add("a");
            io.disk->fail_sync_keep_cache(1);
            io.disk->cut_after(cut);
            EXPECT_THROW(l.add("b"), storage_error);
        }
        std::mt19937_64 rng(cut);
        io.disk->power_loss(loss_mode::keep_prefix, rng);
        string_log<fault_io> l(dir, io);
        ASSERT_FALSE(l.replayed.empty()) << cut;
        EXPECT_EQ(l.replayed[0], "a") << cut;
        EXPECT_LE(l.replayed.size(), 2u) << cut;
    }
}

// ------------------------------------------------------------- format versions
bytes segment_of_version(std::uint32_t version) {
    bytes c(header_size);
    encode_header(segment_header{version, flag_base, 1}, c.data());
    return c;
}

// A record as format 1 wrote it: length | CRC over the rest | type | back | payload.
void append_v1_record(bytes& seg, const std::string& s) {
    bytes payload;
    payload_writer w{payload};
    w.str(s);
    unsigned char h[record_header_size_v1];
    put_u32(h, static_cast<std::uint32_t>(payload.size()));
    h[8] = 1;
    put_u64(h + 9, 0);
    std::uint32_t c = detail::crc32c(h, 4);
    c = detail::crc32c_extend(c, h + 8, 9);
    c = detail::crc32c_extend(c, payload.data(), payload.size());
    put_u32(h + 4, c);
    seg.insert(seg.end(), h, h + record_header_size_v1);
    seg.insert(seg.end(), payload.begin(), payload.end());
}

TEST(JournalFormat, NewerMajorVersionIsRefusedEvenWithRepair) {
    for (bool repair : {false, true}) {
        fault_io io;
        io.disk->write_file(seg1, segment_of_version(std::uint32_t{format_major} + 1));
        try {
            string_log<fault_io> l(dir, io, durability::group_commit, repair);
            FAIL() << "opened a segment of a newer major version";
        } catch (const storage_error& e) {
            EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
        }
        EXPECT_EQ(io.disk->read_file(seg1).size(), header_size);  // left untouched
    }
    // A newer minor version of the same major is read.
    fault_io io;
    io.disk->write_file(seg1, segment_of_version(std::uint32_t{format_major} | 7u << 16));
    string_log<fault_io> l(dir, io);
    EXPECT_TRUE(l.replayed.empty());
}

// Format 1 segments are read (with format 1's torn-tail rules); appends go on in a new
// segment of the current format, and the whole history reopens.
TEST(JournalFormat, FormatOneSegmentsAreReadAndExtendedInTheCurrentFormat) {
    fault_io io;
    bytes seg = segment_of_version(1);
    append_v1_record(seg, "x");
    append_v1_record(seg, "y");
    append_v1_record(seg, "torn");
    seg.resize(seg.size() - 3);  // the last record torn
    io.disk->write_file(seg1, seg);
    {
        string_log<fault_io> l(dir, io);
        EXPECT_EQ(l.replayed, (std::vector<std::string>{"x", "y"}));
        EXPECT_TRUE(l.log.report().torn_tail.has_value());
        l.add("z");
    }
    const auto files = io.disk->files();
    EXPECT_NE(std::find(files.begin(), files.end(), dir + "/segment-0000000000000002.log"), files.end());
    string_log<fault_io> l(dir, io);
    EXPECT_EQ(l.replayed, (std::vector<std::string>{"x", "y", "z"}));
}

// ------------------------------------------------------------- record header integrity
// A damaged length is caught by the header's own checksum before it is used: recovery
// neither trusts it to skip (which would swallow the records after it, or call them a torn
// tail) nor reads past the damage; repair drops exactly the damaged record.
TEST(JournalLog, DamagedLengthIsCaughtByTheHeaderChecksum) {
    const auto recs = make_records(10);
    fault_io io;
    {
        string_log<fault_io> l(dir, io);
        for (const auto& r : recs)
            l.add(r);
    }
    const auto clean = io.disk->read_file(seg1);
    const auto offs = offsets(io);
    ASSERT_EQ(offs.size(), recs.size());
    for (std::size_t i = 0; i < offs.size(); ++i) {
        for (int bit : {0, 3, 9, 20, 27}) {
            auto c = clean;
            c[offs[i] + static_cast<std::size_t>(bit / 8)] ^= static_cast<unsigned char>(1u << (bit % 8));
            fault_io bad;
            bad.disk->write_file(seg1, c);
            try {
                string_log<fault_io> l(dir, bad);
                FAIL() << "record " << i << " bit " << bit << ": damage not reported";
            } catch (const storage_error& e) {
                EXPECT_EQ(e.offset(), offs[i]) << i << " " << bit;
                EXPECT_NE(e.reason().find("header checksum"), std::string::npos) << e.reason();
            }
            fault_io rep;
            rep.disk->write_file(seg1, c);
            string_log<fault_io> l(dir, rep, durability::group_commit, true);
            auto want = recs;
            want.erase(want.begin() + static_cast<std::ptrdiff_t>(i));
            EXPECT_EQ(l.replayed, want) << i << " " << bit;
            EXPECT_EQ(l.log.report().repaired.size(), 1u) << i << " " << bit;
        }
    }
}

// Headers that pass every range check but not their checksum at every 16th byte, each
// claiming the rest of the file as its payload: recovery checks 13 bytes per offset, never
// a payload per offset, and calls it all a torn tail.
TEST(JournalLog, AdversarialHeadersRecoverInLinearTime) {
    bytes c = segment_of_version(format_version);
    const std::size_t body = std::size_t{2} << 20;
    c.resize(header_size + body, 0);
    for (std::size_t k = header_size; k + record_header_size <= c.size(); k += 16) {
        put_u32(c.data() + k, static_cast<std::uint32_t>(c.size() - k - record_header_size));
        c[k + 4] = 1;
    }
    expect_quick_torn_tail(c);
}

// ------------------------------------------------------------- preallocated segments
// Appends overwrite preallocated zeros: reopening (after a clean close or a crash) finds
// the zeros after the last record and reports them as preallocated space, not a torn tail.
TEST(JournalLog, PreallocatedZerosAreNotATornTail) {
    const auto recs = make_records(40);
    for (bool crash : {false, true}) {
        fault_io io;
        io.prealloc_step = 1024;
        {
            string_log<fault_io> l(dir, io);
            for (const auto& r : recs)
                l.add(r);
            if (crash) {
                std::mt19937_64 rng(5);
                io.disk->power_loss(loss_mode::keep_prefix, rng);  // all of it was synced
            }
        }
        const auto size = io.disk->read_file(seg1).size();
        EXPECT_EQ(size % 1024, 0u);
        string_log<fault_io> l(dir, io);
        EXPECT_EQ(l.replayed, recs) << crash;
        EXPECT_FALSE(l.log.report().torn_tail.has_value()) << crash;
        EXPECT_GT(l.log.report().preallocated_bytes, 0u) << crash;
        l.add("more");
    }
}

TEST(JournalLog, PowerLossInPreallocatedSpaceKeepsEveryAcknowledgedRecord) {
    std::mt19937_64 rng(77);
    for (int round = 0; round < 300; ++round) {
        fault_io io;
        io.prealloc_step = 64 << (round % 4);
        std::vector<std::string> acked;
        std::string in_flight;
        {
            string_log<fault_io> l(dir, io, durability::group_commit);
            io.disk->cut_after(1 + rng() % 60);
            try {
                for (int i = 0; i < 40; ++i) {
                    in_flight = "r" + std::to_string(i) + std::string(static_cast<std::size_t>(i % 9), 'p');
                    l.add(in_flight);
                    acked.push_back(in_flight);
                    in_flight.clear();
                }
            } catch (const storage_error&) {
            }
        }
        io.disk->power_loss(static_cast<loss_mode>(rng() % 4), rng);
        auto l = std::make_unique<string_log<fault_io>>(dir, io);
        ASSERT_GE(l->replayed.size(), acked.size()) << round;
        EXPECT_TRUE(std::equal(acked.begin(), acked.end(), l->replayed.begin())) << round;
        ASSERT_LE(l->replayed.size(), acked.size() + 1) << round;
    }
}

// ------------------------------------------------------------- disk full
// ENOSPC on a write fails the call with a clear error, the log refuses later writes, and a
// reopen after space is freed has every acknowledged record. Preallocation that does not
// fit is skipped, not an error of its own.
TEST(JournalLog, DiskFullFailsTheCallAndLosesNothingAcknowledged) {
    for (std::uint64_t prealloc : {std::uint64_t{0}, std::uint64_t{4096}}) {
        fault_io io;
        io.prealloc_step = prealloc;
        std::vector<std::string> acked;
        {
            string_log<fault_io> l(dir, io);
            io.disk->set_capacity(io.disk->used() + 1500);
            try {
                for (int i = 0; i < 1000; ++i) {
                    const std::string r = "job-" + std::to_string(i) + std::string(40, 'x');
                    l.add(r);
                    acked.push_back(r);
                }
                FAIL() << "the disk never filled";
            } catch (const storage_error& e) {
                EXPECT_NE(std::string(e.what()).find("No space left"), std::string::npos) << e.what();
                EXPECT_NE(std::string(e.what()).find("disk is full"), std::string::npos) << e.what();
            }
            EXPECT_FALSE(acked.empty());
            EXPECT_THROW(l.add("after"), storage_error);
        }
        io.disk->set_capacity(~std::uint64_t{0});
        string_log<fault_io> l(dir, io);
        EXPECT_EQ(l.replayed, acked) << prealloc;
        l.add("after");
    }
}

// ------------------------------------------------------------- gather wait
// A group-commit leader waits for company only while a caller announced itself: a lone
// caller right after a burst of concurrent ones pays its sync and nothing more.
TEST(JournalLog, LoneCallerAfterABurstNeverWaitsForCompany) {
    fault_io io;
    io.disk->set_sync_delay(std::chrono::milliseconds(40));
    detail::journal::log<fault_io> l(dir, durability::group_commit, false, std::chrono::seconds(1), io);
    l.open([](std::uint8_t, const unsigned char*, std::size_t) {});
    const auto add = [&](const std::string& v) {
        l.commit(l.append(1, [&](payload_writer& w) { w.str(v); }));
    };
    // Each burst caller adds once and leaves: the second sync covers all but the first, so
    // a leader that waited for as many records as the last sync released would wait for
    // seven callers that never come.
    std::vector<std::thread> burst;
    for (int t = 0; t < 8; ++t)
        burst.emplace_back([&, t] { add("burst-" + std::to_string(t)); });
    for (auto& t : burst)
        t.join();
    for (int i = 0; i < 3; ++i) {
        const auto before = l.stats();
        const auto t0 = std::chrono::steady_clock::now();
        add("lone");
        const auto wall = std::chrono::steady_clock::now() - t0;
        const auto sync = std::chrono::nanoseconds(l.stats().sync_ns_total - before.sync_ns_total);
        EXPECT_LT(wall - sync, std::chrono::milliseconds(20)) << "a lone caller waited for company";
    }
}

// A caller that announced itself is waited for: its record rides the leader's sync.
TEST(JournalLog, AnnouncedCallerRidesTheLeadersSync) {
    fault_io io;
    io.disk->set_sync_delay(std::chrono::milliseconds(100));
    detail::journal::log<fault_io> l(dir, durability::group_commit, false, std::chrono::seconds(1), io);
    l.open([](std::uint8_t, const unsigned char*, std::size_t) {});
    l.commit(l.append(1, [](payload_writer& w) { w.str("warm"); }));  // measures a sync
    const auto syncs = io.disk->datasyncs();
    auto coming = l.announce();
    std::thread leader([&] { l.commit(l.append(1, [](payload_writer& w) { w.str("b"); })); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const auto lsn = l.append(1, [](payload_writer& w) { w.str("a"); });
    coming.arrived();
    l.commit(lsn);
    leader.join();
    EXPECT_EQ(io.disk->datasyncs() - syncs, 1u);
}

}  // namespace
