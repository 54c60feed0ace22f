// journal_store: the conformance suite in each durability mode (over the fault-injecting
// in-memory disk, whose reopen also cuts the power, and over the real file system), the
// power-loss harness (1000 random cut points over workloads of enqueue, enqueue_batch,
// claim, complete, fail, cancel, requeue and compaction), loss detection in `none` mode,
// torn tails and flipped bits in every record type, repair, and the directory lock.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/mount.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "millrace/store/journal_store.hpp"

#include "store/conformance.hpp"
#include "store/journal/fault_io.hpp"
#include "store/journal/golden/golden_workload.hpp"
#include "store/journal/temp_dir.hpp"

namespace {

using namespace millrace;
using millrace::test::at;
using millrace::test::fault_io;
using millrace::test::loss_mode;
using millrace::test::make_job;
using fstore = basic_journal_store<fault_io>;

const std::string jdir = "/journal";

// ---------------------------------------------------------------- conformance factories
template <durability Mode>
struct fault_factory {
    using store_type = fstore;
    static constexpr std::size_t model_operations = 10000;
    static inline fault_io io;
    static journal_options options() {
        journal_options o;
        o.mode = Mode;
        o.compact_min_bytes = 1 << 16;  // compaction happens inside the model test
        o.compact_dead_ratio = 0.5;
        return o;
    }
    static std::unique_ptr<fstore> make() {
        io = fault_io{};
        return std::make_unique<fstore>(jdir, options(), io);
    }
    // Close, cut the power (everything unsynced is lost), open again.
    static void reopen(std::unique_ptr<fstore>& s) {
        s.reset();
        std::mt19937_64 rng(1);
        io.disk->power_loss(loss_mode::drop_unsynced, rng);
        s = std::make_unique<fstore>(jdir, options(), io);
    }
};

struct posix_factory {
    using store_type = journal_store;
    static constexpr std::size_t model_operations = 1500;  // real fdatasync: keep CI short
    static inline std::unique_ptr<millrace::test::temp_dir> dir;
    static std::unique_ptr<journal_store> make() {
        dir = std::make_unique<millrace::test::temp_dir>();
        return std::make_unique<journal_store>(dir->path() + "/j");
    }
    static void reopen(std::unique_ptr<journal_store>& s) {
        s.reset();
        s = std::make_unique<journal_store>(dir->path() + "/j");
    }
};

}  // namespace

namespace millrace::test {
using journal_factories =
    ::testing::Types<fault_factory<durability::group_commit>, fault_factory<durability::every_commit>,
                     fault_factory<durability::none>, posix_factory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Journal, StoreConformance, journal_factories);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceStress);  // journal_stress_test
}  // namespace millrace::test

namespace {

// ---------------------------------------------------------------- helpers
// Every job of a store (all queues used here), sorted by id.
template <class Store>
std::vector<job_record> dump(Store& s) {
    std::vector<job_record> all;
    for (const char* q : {"a", "b"})
        for (const job_state st : all_job_states) {
            auto v = s.list(q, st, 1u << 30);
            all.insert(all.end(), v.begin(), v.end());
        }
    std::sort(all.begin(), all.end(), [](auto& x, auto& y) { return x.id < y.id; });
    return all;
}

std::vector<job_record> dump(detail::job_index& s) {
    std::vector<job_record> all;
    s.for_each([&](const job_record& r) { all.push_back(r); });
    std::sort(all.begin(), all.end(), [](auto& x, auto& y) { return x.id < y.id; });
    return all;
}

// One step of a workload, applied identically to the store and to a shadow job_index.
struct workload {
    std::mt19937_64 rng;
    std::int64_t now = 0;
    std::vector<claimed_job> held;  // leases believed held (may be stale: that is tested too)
    explicit workload(std::uint64_t seed) : rng(seed) {}

    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }

    job_record job() {
        auto r = make_job(pick(2) == 0 ? "a" : "b", static_cast<std::int32_t>(pick(3)));
        r.created_at = at(now);
        r.run_at = at(now + static_cast<std::int64_t>(pick(3)));
        r.max_attempts = 1 + static_cast<std::uint32_t>(pick(3));
        if (pick(4) == 0) r.dedup_key = "k" + std::to_string(pick(5));
        r.payload.assign(1 + pick(64), std::byte{static_cast<unsigned char>(pick(256))});
        return r;
    }

    // A random operation as a function over (store or index); `compact` only on the store.
    struct op {
        int kind = 0;
        std::vector<job_record> jobs;
        std::string queue;
        std::size_t max = 0;
        job_id id = 0;
        lease_token token = 0;
        std::int64_t t = 0;
        bool dead = false;
    };

    op next() {
        ++now;
        op o;
        o.t = now;
        const std::size_t k = pick(100);
        if (k < 25) {
            o.kind = 0;
            o.jobs.push_back(job());
        } else if (k < 32) {
            o.kind = 1;
            for (std::size_t i = 0, n = 2 + pick(20); i < n; ++i)
                o.jobs.push_back(job());
        } else if (k < 55) {
            o.kind = 2;
            o.queue = pick(2) == 0 ? "a" : "b";
            o.max = 1 + pick(3);
        } else if (k < 72 && !held.empty()) {
            o.kind = 3;
            const auto c = held[pick(held.size())];
            o.id = c.id();
            o.token = c.token;
        } else if (k < 82 && !held.empty()) {
            o.kind = 4;
            const auto c = held[pick(held.size())];
            o.id = c.id();
            o.token = c.token;
            o.dead = pick(3) == 0;
        } else if (k < 88) {
            o.kind = 5;
            o.id = 1 + pick(static_cast<std::size_t>(now));
        } else if (k < 93) {
            o.kind = 6;  // requeue expired
        } else if (k < 96) {
            o.kind = 7;  // purge
        } else {
            o.kind = 8;  // compaction (a no-op on the shadow)
        }
        return o;
    }

    // Applies to a store; returns nothing (the results are checked by the shadow's state).
    template <class Store>
    void apply(Store& s, const op& o, bool remember) {
        switch (o.kind) {
            case 0:
                (void)s.enqueue(o.jobs[0]);
                break;
            case 1:
                (void)s.enqueue_batch(o.jobs);
                break;
            case 2: {
                auto got = s.claim(o.queue, o.max, at(o.t), at(o.t + 3), "w");
                if (remember) held.insert(held.end(), got.begin(), got.end());
                break;
            }
            case 3:
                (void)s.complete(o.id, o.token, at(o.t));
                break;
            case 4:
                (void)s.fail(o.id, o.token,
                             o.dead ? fail_outcome::dead() : fail_outcome::retry_at(at(o.t + 2)), "boom",
                             at(o.t));
                break;
            case 5:
                (void)s.cancel(o.id, at(o.t));
                break;
            case 6:
                (void)s.requeue_expired(at(o.t));
                break;
            case 7:
                (void)s.purge(job_state::succeeded, at(o.t - 5));
                break;
            case 8:
                if constexpr (requires { s.compact(); }) s.compact();
                break;
        }
    }
    void apply_index(detail::job_index& x, const op& o) {
        std::vector<claimed_job> out;
        switch (o.kind) {
            case 0:
                (void)x.enqueue(o.jobs[0]);
                break;
            case 1:
                for (const auto& j : o.jobs)
                    (void)x.enqueue(j);
                break;
            case 2:
                x.claim(o.queue, o.max, at(o.t), at(o.t + 3), "w", out);
                break;
            case 3:
                (void)x.complete(o.id, o.token, at(o.t));
                break;
            case 4:
                (void)x.fail(o.id, o.token,
                             o.dead ? fail_outcome::dead() : fail_outcome::retry_at(at(o.t + 2)), "boom",
                             at(o.t));
                break;
            case 5:
                (void)x.cancel(o.id, at(o.t));
                break;
            case 6:
                (void)x.requeue_expired(at(o.t));
                break;
            case 7:
                (void)x.purge(job_state::succeeded, at(o.t - 5));
                break;
            default:
                break;
        }
    }
};

// Outcome of one power-cut trial.
enum class trial_result { exact, with_in_flight, lost };

// Runs a workload until the power is cut at the `cut`-th I/O operation, loses the unsynced
// bytes per `mode`, reopens, and compares with the shadow (the acknowledged calls) and the
// shadow plus the call that was in flight. Anything else is a loss (or a half-applied call).
trial_result power_cut_trial(durability dmode, std::uint64_t seed, std::uint64_t cut, loss_mode lmode,
                             std::size_t ops, std::uint64_t* io_ops = nullptr, std::uint64_t prealloc = 0) {
    fault_io io;
    io.prealloc_step = prealloc;
    journal_options o;
    o.mode = dmode;
    o.compact_min_bytes = 2048;  // automatic compactions happen inside the workload
    o.compact_dead_ratio = 0.5;
    workload w(seed);
    detail::job_index shadow;
    std::optional<workload::op> in_flight;
    {
        std::unique_ptr<fstore> s;
        try {
            s = std::make_unique<fstore>(jdir, o, io);
            io.disk->cut_after(cut);
            for (std::size_t i = 0; i < ops; ++i) {
                auto op = w.next();
                in_flight = op;
                w.apply(*s, op, true);
                w.apply_index(shadow, op);  // acknowledged
                in_flight.reset();
            }
        } catch (const storage_error&) {
        }
        if (io_ops != nullptr) *io_ops = io.disk->ops();
    }
    std::mt19937_64 rng(seed * 31 + cut);
    io.disk->power_loss(lmode, rng);
    fstore s(jdir, o, io);
    const auto got = dump(s);
    if (got == dump(shadow)) return trial_result::exact;
    if (in_flight) {
        workload w2 = w;
        w2.apply_index(shadow, *in_flight);
        if (got == dump(shadow)) return trial_result::with_in_flight;
    }
    return trial_result::lost;
}

TEST(JournalStorePowerLoss, ThousandCutPointsKeepEveryAcknowledgedCall) {
    std::mt19937_64 rng(2024);
    constexpr std::size_t ops = 60;
    std::uint64_t total_io = 0;
    (void)power_cut_trial(durability::group_commit, 1, ~std::uint64_t{0} / 2, loss_mode::drop_unsynced, ops,
                          &total_io);
    ASSERT_GT(total_io, 100u);
    int exact = 0, in_flight = 0;
    for (int trial = 0; trial < 1000; ++trial) {
        const std::uint64_t seed = rng();
        const std::uint64_t cut = 1 + rng() % (total_io + 20);
        const auto lm = static_cast<loss_mode>(rng() % 4);
        const auto dm = trial % 4 == 3 ? durability::every_commit : durability::group_commit;
        // Every other trial appends into preallocated space (overwrites of zeros).
        const std::uint64_t prealloc = trial % 2 == 0 ? 0 : 512;
        const auto r = power_cut_trial(dm, seed, cut, lm, ops, nullptr, prealloc);
        ASSERT_NE(r, trial_result::lost) << "trial " << trial << " seed " << seed << " cut " << cut
                                         << " loss mode " << static_cast<int>(lm) << " prealloc " << prealloc;
        (r == trial_result::exact ? exact : in_flight)++;
    }
    // Both outcomes happen: the harness cuts both before and after the sync of a call.
    EXPECT_GT(exact, 0);
    EXPECT_GT(in_flight, 0);
}

// In none mode many writes are unsynced at once and their pages reach the disk in any
// order (holes): the journal must still open without repair.
TEST(JournalStorePowerLoss, NoneModeOpensWithoutRepairAfterHoles) {
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
        fault_io io;
        journal_options o;
        o.mode = durability::none;
        o.auto_compact = false;
        auto s = std::make_unique<fstore>(jdir, o, io);
        for (int i = 0; i < 400; ++i)
            (void)s->enqueue(make_job("a"));  // ~15 pages unsynced
        std::mt19937_64 rng(seed);
        io.disk->power_loss(seed % 2 ? loss_mode::holes : loss_mode::torn_page, rng);
        s.reset();  // the dead process's close fails quietly
        try {
            fstore r(jdir, o, io);
            const auto n = r.stats("a").total();
            for (job_id id = 1; id <= n; ++id)
                EXPECT_TRUE(r.find(id).has_value()) << id;  // a prefix
        } catch (const storage_error& e) {
            ADD_FAILURE() << "seed " << seed << ": " << e.what();
        }
    }
    std::mt19937_64 rng(99);
    for (int trial = 0; trial < 50; ++trial) {
        const std::uint64_t seed = rng();
        const auto lm = trial % 2 == 0 ? loss_mode::holes : loss_mode::torn_page;
        EXPECT_NO_THROW((void)power_cut_trial(durability::none, seed, 50 + rng() % 400, lm, 60))
            << "trial " << trial << " seed " << seed;
    }
}

TEST(JournalStorePowerLoss, NoneModeLosesAcknowledgedCallsAndTheHarnessSeesIt) {
    std::mt19937_64 rng(77);
    int lost = 0;
    for (int trial = 0; trial < 100; ++trial) {
        const std::uint64_t seed = rng();
        const auto r =
            power_cut_trial(durability::none, seed, 10 + rng() % 200, loss_mode::drop_unsynced, 60);
        lost += r == trial_result::lost ? 1 : 0;
    }
    // Losses happen whenever the cut comes after an acknowledged call that no sync covered
    // (opens and compactions sync, so not in every trial).
    EXPECT_GE(lost, 10) << "durability::none must lose acknowledged calls on power loss";
}

TEST(JournalStorePowerLoss, ConcurrentCallersGroupCommitLosesNothingAcknowledged) {
    std::mt19937_64 rng(5);
    for (int trial = 0; trial < 40; ++trial) {
        fault_io io;
        io.disk->set_sync_delay(std::chrono::microseconds(50));
        std::mutex m;
        std::set<job_id> acked;
        std::vector<std::vector<job_id>> acked_batches;
        {
            fstore s(jdir, journal_options{}, io);
            io.disk->cut_after(5 + rng() % 60);
            std::vector<std::thread> ts;
            for (int t = 0; t < 4; ++t)
                ts.emplace_back([&, t] {
                    try {
                        for (int i = 0; i < 50; ++i) {
                            if (i % 5 == 4) {
                                std::vector<job_record> b(5, make_job(t % 2 ? "a" : "b"));
                                auto r = s.enqueue_batch(b);
                                std::lock_guard g(m);
                                acked_batches.emplace_back();
                                for (auto& x : r)
                                    acked_batches.back().push_back(x.id);
                            } else {
                                auto r = s.enqueue(make_job(t % 2 ? "a" : "b"));
                                std::lock_guard g(m);
                                acked.insert(r.id);
                            }
                        }
                    } catch (const storage_error&) {
                    }
                });
            for (auto& t : ts)
                t.join();
        }
        std::mt19937_64 r2(trial);
        io.disk->power_loss(static_cast<loss_mode>(trial % 4), r2);
        fstore s(jdir, journal_options{}, io);
        for (const job_id id : acked)
            ASSERT_TRUE(s.find(id).has_value()) << "acknowledged job " << id << " lost";
        for (const auto& b : acked_batches)
            for (const job_id id : b)
                ASSERT_TRUE(s.find(id).has_value());
        for (const auto& j : dump(s))
            ASSERT_EQ(j.state, job_state::ready);
    }
}

// ---------------------------------------------------------------- corruption
TEST(JournalStoreCorruption, FlippedBitsInEveryRecordTypeAreDetected) {
    // Types before the compaction live in the old segment, now gone: check them there too
    // by building a journal without compaction.
    for (const bool with_compaction : {false, true}) {
        fault_io io;
        journal_options o;
        o.auto_compact = false;
        std::set<int> types;
        {
            fstore s(jdir, o, io);
            auto d = make_job("a");
            d.dedup_key = "x";
            (void)s.enqueue(d);
            std::vector<job_record> b(3, make_job("a"));
            (void)s.enqueue_batch(b);
            auto c = s.claim("a", 3, at(1), at(5), "w");
            EXPECT_TRUE(s.complete(c[0].id(), c[0].token, at(2)));
            EXPECT_TRUE(s.fail(c[1].id(), c[1].token, fail_outcome::dead(), "e", at(2)));
            EXPECT_TRUE(s.extend_lease(c[2].id(), c[2].token, at(6)));
            EXPECT_EQ(s.requeue_expired(at(10)), 1u);
            EXPECT_TRUE(s.retry_dead(c[1].id(), at(11)));
            EXPECT_TRUE(s.cancel(c[1].id(), at(12)));
            EXPECT_EQ(s.purge(job_state::succeeded, at(100)), 1u);
            // With compaction: the base segment is the last thing written (no later write
            // hides a misread of its damage as a torn tail).
            if (with_compaction)
                s.compact();
            else
                (void)s.enqueue(make_job("b"));
        }
        std::string seg;
        for (const auto& f : io.disk->files())
            if (f.find(".log") != std::string::npos) seg = f;
        const auto full = io.disk->read_file(seg);
        std::vector<std::size_t> offs;
        std::vector<std::uint8_t> tys;
        {
            std::size_t off = detail::journal::header_size;
            detail::journal::record_view r;
            while (off < full.size() && detail::journal::check_record(full.data(), full.size(), off, r) ==
                                            detail::journal::record_check::ok) {
                offs.push_back(off);
                tys.push_back(r.type);
                off = r.next;
            }
            ASSERT_EQ(off, full.size());
        }
        for (const auto t : tys)
            types.insert(t);
        if (with_compaction) {
            EXPECT_EQ(types, (std::set<int>{detail::journal::rt_counters, detail::journal::rt_snapshot,
                                            detail::journal::sync_mark_type}));
        } else {
            EXPECT_EQ(types.size(), 11u);  // every operation's record type and the close mark
        }
        ASSERT_EQ(tys.back(), detail::journal::sync_mark_type);
        // Every record but the last: a flipped bit (every 5th bit) is corruption at its offset;
        // repair then drops exactly that record.
        for (std::size_t k = 0; k + 1 < offs.size(); ++k) {
            const std::size_t end = offs[k + 1];
            for (std::size_t bit = offs[k] * 8; bit < end * 8; bit += 5) {
                auto c = full;
                c[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
                fault_io io2;
                io2.disk->write_file(seg, c);
                try {
                    fstore s(jdir, o, io2);
                    ADD_FAILURE() << "flip of bit " << bit << " in record " << k << " (type " << int(tys[k])
                                  << ") went unnoticed";
                } catch (const storage_error& e) {
                    EXPECT_EQ(e.file(), seg);
                    EXPECT_EQ(e.offset(), offs[k]);
                }
                if (bit % 40 == 0) {
                    journal_options r = o;
                    r.repair = true;
                    fstore s(jdir, r, io2);
                    ASSERT_EQ(s.recovery_report().repaired.size(), 1u);
                    EXPECT_EQ(s.recovery_report().repaired[0].offset, offs[k]);
                    EXPECT_EQ(s.recovery_report().repaired[0].bytes, end - offs[k]);
                }
            }
        }
        // The last record is the sync mark (of close() or of the compaction): a flip in it
        // is a torn tail that loses no job, and its bytes are kept aside.
        for (std::size_t bit = offs.back() * 8; bit < full.size() * 8; bit += 3) {
            auto c = full;
            c[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
            fault_io io2;
            io2.disk->write_file(seg, c);
            fstore s(jdir, o, io2);
            ASSERT_TRUE(s.recovery_report().torn_tail);
            EXPECT_EQ(s.recovery_report().torn_tail->offset, offs.back());
            EXPECT_EQ(io2.disk->read_file(s.recovery_report().torn_tail->saved_to).size(),
                      full.size() - offs.back());
            EXPECT_EQ(s.stats("b").total(), with_compaction ? 0u : 1u);
        }
    }
}

// A compacted base segment is synced whole before its rename; a flipped bit in its
// first snapshot record, with no write after the compaction, must not read as a torn tail
// (that silently dropped all 1000 jobs).
TEST(JournalStoreCorruption, FlippedBitInACompactedSegmentIsCorruptionNotTornTail) {
    fault_io io;
    journal_options o;
    o.auto_compact = false;
    {
        fstore s(jdir, o, io);
        std::vector<job_record> b(1000, make_job("a"));
        (void)s.enqueue_batch(b);
        s.compact();
    }
    std::string seg;
    for (const auto& f : io.disk->files())
        if (f.find(".log") != std::string::npos) seg = f;
    auto c = io.disk->read_file(seg);
    detail::journal::record_view r;
    const std::size_t first = detail::journal::header_size;  // the counters record
    ASSERT_EQ(detail::journal::check_record(c.data(), c.size(), first, r), detail::journal::record_check::ok);
    const std::size_t snap = r.next;  // the first snapshot record
    c[snap + 40] ^= 0x10;
    fault_io io2;
    io2.disk->write_file(seg, c);
    try {
        fstore s(jdir, o, io2);
        ADD_FAILURE() << "flipped bit in a compacted segment opened with " << s.stats("a").total() << " jobs";
    } catch (const storage_error& e) {
        EXPECT_EQ(e.offset(), snap);
    }
    journal_options rep = o;
    rep.repair = true;
    fstore s(jdir, rep, io2);
    EXPECT_FALSE(s.recovery_report().torn_tail);
    ASSERT_EQ(s.recovery_report().repaired.size(), 1u);
    EXPECT_EQ(s.stats("a").total(), 1000u - 256u);  // only the damaged record's jobs
}

// After a clean close the last group-commit write is followed by close()'s sync mark,
// so a flipped bit in it is corruption (the old reading dropped acknowledged jobs).
TEST(JournalStoreCorruption, FlippedBitInTheLastWriteBeforeACleanCloseIsCorruption) {
    fault_io io;
    journal_options o;
    std::size_t last_rec = 0;
    {
        fstore s(jdir, o, io);
        for (int i = 0; i < 5; ++i)
            (void)s.enqueue(make_job("a"));
    }
    std::string seg;
    for (const auto& f : io.disk->files())
        if (f.find(".log") != std::string::npos) seg = f;
    auto c = io.disk->read_file(seg);
    std::vector<std::size_t> offs;
    detail::journal::record_view r;
    for (std::size_t off = detail::journal::header_size; off < c.size(); off = r.next) {
        ASSERT_EQ(detail::journal::check_record(c.data(), c.size(), off, r),
                  detail::journal::record_check::ok);
        offs.push_back(off);
    }
    ASSERT_GE(offs.size(), 2u);
    last_rec = offs[offs.size() - 2];  // the last enqueue; after it only the mark
    c[last_rec + 20] ^= 1;
    fault_io io2;
    io2.disk->write_file(seg, c);
    EXPECT_THROW({ fstore s(jdir, o, io2); }, storage_error);
}

TEST(JournalStoreCorruption, TornTailAtEveryByteOfTheLastRecord) {
    fault_io io;
    journal_options o;
    job_id last = 0;
    {
        fstore s(jdir, o, io);
        for (int i = 0; i < 5; ++i)
            (void)s.enqueue(make_job("a"));
        std::vector<job_record> b(10, make_job("b"));
        last = s.enqueue_batch(b).back().id;  // the last record: a batch of 10
    }
    const std::string seg = jdir + "/segment-0000000000000001.log";
    auto full = io.disk->read_file(seg);
    std::size_t last_off = 0;
    {
        // Drop close()'s sync mark: the file as a crash before close() leaves it.
        std::size_t off = detail::journal::header_size;
        detail::journal::record_view r;
        while (detail::journal::check_record(full.data(), full.size(), off, r) ==
                   detail::journal::record_check::ok &&
               r.type != detail::journal::sync_mark_type) {
            last_off = off;
            off = r.next;
        }
        ASSERT_EQ(r.type, detail::journal::sync_mark_type);
        full.resize(off);
    }
    for (std::size_t len = last_off; len <= full.size(); ++len) {
        fault_io io2;
        io2.disk->write_file(
            seg, test::fault_disk::bytes(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len)));
        fstore s(jdir, o, io2);
        EXPECT_EQ(s.stats("a").count(job_state::ready), 5u);
        if (len == full.size()) {
            EXPECT_EQ(s.stats("b").count(job_state::ready), 10u);
            EXPECT_FALSE(s.recovery_report().torn_tail);
        } else {
            EXPECT_EQ(s.stats("b").total(), 0u) << len;  // the batch: all or nothing
            EXPECT_EQ(s.recovery_report().torn_tail.has_value(), len > last_off);
            if (len > last_off) {
                EXPECT_EQ(s.recovery_report().torn_tail->offset, last_off);
                EXPECT_EQ(s.recovery_report().torn_tail->bytes, len - last_off);
            }
            EXPECT_FALSE(s.find(last).has_value());
            (void)s.enqueue(make_job("b"));  // appending after a truncated tail works
        }
    }
}

// A call whose record would exceed the 256 MiB limit is refused before the index
// changes (it used to change memory, fail in the log and let a claim hand out a phantom).
TEST(JournalStore, OversizedRecordsAreRefusedBeforeTheIndexChanges) {
    fault_io io;
    fstore s(jdir, {}, io);
    job_record big = make_job("a");
    big.payload.assign((std::size_t{1} << 20), std::byte{'x'});
    std::vector<job_record> batch(257, big);  // 257 MiB of payload
    EXPECT_THROW((void)s.enqueue_batch(batch), std::invalid_argument);
    batch.clear();
    batch.shrink_to_fit();
    job_record huge = make_job("a");
    huge.payload.assign((std::size_t{256} << 20) + 1, std::byte{'y'});
    EXPECT_THROW((void)s.enqueue(huge), std::invalid_argument);
    huge.payload.clear();
    huge.payload.shrink_to_fit();
    EXPECT_EQ(s.size(), 0u);
    EXPECT_TRUE(s.claim("a", 10, at(1), at(5), "w").empty());  // no phantom job
    const auto r = s.enqueue(make_job("a"));                   // the store is still usable
    EXPECT_EQ(s.claim("a", 10, at(1), at(5), "w").size(), 1u);
    (void)r;
}

// A compaction that fails before its rename (ENOSPC writing the snapshot) leaves the
// store usable and no .tmp behind; an automatic compaction that fails after a call's
// record is durable does not make that call throw.
TEST(JournalStore, CompactionFailureBeforeTheRenameDoesNotPoison) {
    for (const char* what : {"pwrite", "fdatasync"}) {
        fault_io io;
        journal_options o;
        o.auto_compact = false;
        fstore s(jdir, o, io);
        (void)s.enqueue(make_job("a"));
        io.disk->fail_nth(what, 1);
        EXPECT_THROW(s.compact(), storage_error) << what;
        for (const auto& f : io.disk->files())
            EXPECT_EQ(f.find(".tmp"), std::string::npos) << f;
        EXPECT_NO_THROW((void)s.enqueue(make_job("a"))) << what;
        s.compact();
        EXPECT_EQ(s.stats("a").total(), 2u);
    }
}

TEST(JournalStore, FailedAutoCompactionDoesNotFailTheDurableCall) {
    for (const durability m : {durability::group_commit, durability::every_commit}) {
        fault_io io;
        journal_options o;
        o.mode = m;
        o.compact_min_bytes = 1;  // every mutating call compacts
        o.compact_dead_ratio = 0;
        auto s = std::make_unique<fstore>(jdir, o, io);
        // The call's own fdatasync succeeds, the compaction's fails (before the rename).
        io.disk->fail_nth("fdatasync", 2);
        job_id id = 0;
        ASSERT_NO_THROW(id = s->enqueue(make_job("a")).id);
        EXPECT_NO_THROW((void)s->enqueue(make_job("a")));  // not poisoned
        // The compaction's rename fails: the call still returns its result; the log is
        // poisoned (which segment wins is unknown), and the next call says so.
        io.disk->fail_nth("rename", 1);
        job_id id3 = 0;
        ASSERT_NO_THROW(id3 = s->enqueue(make_job("a")).id);
        EXPECT_THROW((void)s->enqueue(make_job("a")), storage_error);
        s.reset();
        fstore r(jdir, o, io);
        EXPECT_TRUE(r.find(id).has_value());
        EXPECT_TRUE(r.find(id3).has_value());
    }
}

TEST(JournalStore, SecondOpenerRefusedWithAClearError) {
    millrace::test::temp_dir tmp;
    const std::string d = tmp.path() + "/j";
    journal_store a(d);
    try {
        journal_store b(d);
        ADD_FAILURE() << "second opener accepted";
    } catch (const storage_error& e) {
        EXPECT_NE(std::string(e.what()).find("already open"), std::string::npos) << e.what();
    }
}

TEST(JournalStore, RepairKeepsExactlyTheGoodRecordsAndRewrites) {
    fault_io io;
    journal_options o;
    std::vector<job_id> ids;
    {
        fstore s(jdir, o, io);
        for (int i = 0; i < 10; ++i)
            ids.push_back(s.enqueue(make_job("a")).id);
    }
    const std::string seg = jdir + "/segment-0000000000000001.log";
    auto c = io.disk->read_file(seg);
    std::vector<std::size_t> offs;
    {
        std::size_t off = detail::journal::header_size;
        detail::journal::record_view r;
        while (off < c.size() && detail::journal::check_record(c.data(), c.size(), off, r) ==
                                     detail::journal::record_check::ok) {
            offs.push_back(off);
            off = r.next;
        }
    }
    c[offs[3] + 20] ^= 0x04;  // the 4th enqueue
    io.disk->write_file(seg, c);
    EXPECT_THROW(fstore(jdir, o, io), storage_error);
    {
        journal_options r = o;
        r.repair = true;
        fstore s(jdir, r, io);
        ASSERT_EQ(s.recovery_report().repaired.size(), 1u);
        EXPECT_EQ(s.recovery_report().repaired[0].record_index, 3u);
        for (std::size_t i = 0; i < ids.size(); ++i)
            EXPECT_EQ(s.find(ids[i]).has_value(), i != 3) << i;
    }
    fstore s(jdir, o, io);  // rewritten: opens clean without repair
    EXPECT_TRUE(s.recovery_report().repaired.empty());
    EXPECT_EQ(s.stats("a").count(job_state::ready), 9u);
    EXPECT_NE(s.enqueue(make_job("a")).id, ids.back());  // ids are not reused
}

TEST(JournalStore, AutomaticCompactionBoundsTheJournal) {
    fault_io io;
    journal_options o;
    o.compact_min_bytes = 1 << 14;
    {
        fstore s(jdir, o, io);
        for (int i = 0; i < 2000; ++i) {
            const auto id = s.enqueue(make_job("a")).id;
            auto c = s.claim("a", 1, at(1), at(2), "w");
            ASSERT_EQ(c.size(), 1u);
            ASSERT_TRUE(s.complete(c[0].id(), c[0].token, at(1)));
            if (i % 10 == 0) (void)s.purge(job_state::succeeded, at(5));
            (void)id;
        }
        EXPECT_GT(s.log_stats().compactions, 0u);
    }
    std::size_t bytes = 0;
    for (const auto& f : io.disk->files())
        bytes += io.disk->read_file(f).size();
    EXPECT_LT(bytes, std::size_t{3} << 14);
    fstore s(jdir, o, io);
    EXPECT_LE(s.stats("a").count(job_state::succeeded), 10u);
}

TEST(JournalStore, FailedSyncPoisonsTheStore) {
    fault_io io;
    fstore s(jdir, journal_options{}, io);
    (void)s.enqueue(make_job("a"));
    io.disk->cut_after(2);  // the pwrite passes, the fdatasync fails
    EXPECT_THROW((void)s.enqueue(make_job("a")), storage_error);
    EXPECT_THROW((void)s.enqueue(make_job("a")), storage_error);
    EXPECT_EQ(s.stats("a").count(job_state::ready), 2u);  // memory ran ahead once; no further change accepted
}

// A failed fdatasync whose pages stay readable in the page cache: the call fails, the store
// refuses writes, and a reopen (no power cut: the bytes read back intact) does not show the
// failed call's job; after a power cut every acknowledged job is there, without repair.
TEST(JournalStore, FailedSyncIsNeverAcknowledgedNorReplayed) {
    fault_io io;
    job_id a = 0;
    {
        fstore s(jdir, journal_options{}, io);
        a = s.enqueue(make_job("a")).id;
        io.disk->fail_sync_keep_cache(1);
        EXPECT_THROW((void)s.enqueue(make_job("a")), storage_error);
    }
    job_id c = 0;
    {
        fstore s(jdir, journal_options{}, io);
        EXPECT_EQ(s.stats("a").count(job_state::ready), 1u);
        EXPECT_TRUE(s.find(a).has_value());
        c = s.enqueue(make_job("a")).id;
    }
    std::mt19937_64 rng(3);
    io.disk->power_loss(loss_mode::drop_unsynced, rng);
    fstore s(jdir, journal_options{}, io);
    EXPECT_EQ(s.stats("a").count(job_state::ready), 2u);
    EXPECT_TRUE(s.find(a).has_value());
    EXPECT_TRUE(s.find(c).has_value());
}

// ------------------------------------------------------------- disk full
// ENOSPC while enqueuing fails that call with a clear storage_error; the store then refuses
// writes (its memory may hold the failed change) and after space is freed a reopen serves
// every acknowledged job, and takes new ones.
TEST(JournalStore, DiskFullFailsTheCallAndAReopenServesEveryAcknowledgedJob) {
    for (std::uint64_t prealloc : {std::uint64_t{0}, std::uint64_t{8192}}) {
        fault_io io;
        io.prealloc_step = prealloc;
        std::vector<job_id> acked;
        {
            fstore s(jdir, journal_options{}, io);
            io.disk->set_capacity(io.disk->used() + 4000);
            try {
                for (int i = 0; i < 10000; ++i)
                    acked.push_back(s.enqueue(make_job("a")).id);
                FAIL() << "the disk never filled";
            } catch (const storage_error& e) {
                EXPECT_NE(std::string(e.what()).find("No space left"), std::string::npos) << e.what();
            }
            EXPECT_THROW((void)s.enqueue(make_job("a")), storage_error);
        }
        io.disk->set_capacity(~std::uint64_t{0});
        fstore s(jdir, journal_options{}, io);
        for (const job_id id : acked)
            EXPECT_TRUE(s.find(id).has_value()) << id;
        EXPECT_LE(s.stats("a").count(job_state::ready), acked.size() + 1);
        (void)s.enqueue(make_job("a"));
    }
}

// The same on a real, small tmpfs mounted for the test (needs root and mount(2); skipped
// with the reason otherwise): the kernel's ENOSPC, not the fault layer's.
TEST(JournalStore, DiskFullOnARealTmpfs) {
    millrace::test::temp_dir tmp;
    const std::string mnt = tmp.path() + "/fs";
    ::mkdir(mnt.c_str(), 0755);
    if (::mount("millrace-test", mnt.c_str(), "tmpfs", 0, "size=256k") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs at " << mnt << ": " << std::strerror(errno);
    struct unmount {
        std::string path;
        ~unmount() { (void)::umount2(path.c_str(), MNT_DETACH); }
    } guard{mnt};
    const std::string dir = mnt + "/journal";
    std::vector<job_id> acked;
    {
        journal_store s(dir);
        auto job = make_job("a");
        job.payload.assign(2000, std::byte{7});
        try {
            for (int i = 0; i < 1000; ++i)
                acked.push_back(s.enqueue(job).id);
            FAIL() << "a 256 KiB file system never filled";
        } catch (const storage_error& e) {
            EXPECT_NE(std::string(e.what()).find("No space left"), std::string::npos) << e.what();
        }
    }
    ASSERT_FALSE(acked.empty());
    ASSERT_EQ(::mount("millrace-test", mnt.c_str(), "tmpfs", MS_REMOUNT, "size=4m"), 0)
        << std::strerror(errno);
    journal_store s(dir);
    for (const job_id id : acked)
        EXPECT_TRUE(s.find(id).has_value()) << id;
    (void)s.enqueue(make_job("a"));
}

// ------------------------------------------------------------- golden journals
// Every committed golden journal (one per format major version, written by the last build of
// that format) opens with exactly the jobs recorded beside it, and stays usable.
TEST(JournalStoreCompatibility, EveryGoldenJournalOpensWithTheSameJobs) {
    namespace fs = std::filesystem;
    const fs::path golden = MILLRACE_JOURNAL_GOLDEN_DIR;
    std::vector<fs::path> dirs;
    for (const auto& e : fs::directory_iterator(golden))
        if (e.is_directory() && fs::exists(e.path() / "expected.txt")) dirs.push_back(e.path());
    std::sort(dirs.begin(), dirs.end());
    ASSERT_GE(dirs.size(), 2u) << "format-1 and format-" << detail::journal::format_major;
    EXPECT_TRUE(fs::exists(golden / ("format-" + std::to_string(detail::journal::format_major))))
        << "no golden journal of the current format: run journal_make_golden";
    for (const auto& d : dirs) {
        millrace::test::temp_dir tmp;
        const fs::path copy = fs::path(tmp.path()) / "journal";
        fs::copy(d / "journal", copy);  // opening writes (a close mark, a new segment)
        std::ifstream in(d / "expected.txt");
        const std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        ASSERT_FALSE(expected.empty()) << d;
        {
            journal_store s(copy.string());
            EXPECT_EQ(millrace::test::golden::dump(s), expected) << d;
            EXPECT_FALSE(s.recovery_report().torn_tail.has_value()) << d;
            (void)s.enqueue(make_job("default"));
        }
        journal_store s(copy.string());  // reopens after writing in the current format
        EXPECT_EQ(s.stats("default").count(job_state::ready), 3u) << d;
    }
}

}  // namespace
