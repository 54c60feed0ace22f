// What journal_store adds to the shared index on open and on huge calls: repair never
// restores two live jobs with one queue and dedup key, and the changes of huge sweeps
// (requeue_expired, purge, complete_many) are split over several records instead of
// failing and poisoning the store.
#include "millrace/store/journal_store.hpp"

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "store/conformance.hpp"

namespace {

using namespace millrace;
using millrace::test::at;
using millrace::test::make_job;

class JournalStoreDir : public ::testing::Test {
protected:
    void SetUp() override {
        const char* t = std::getenv("TMPDIR");
        std::string pattern =
            std::string((t != nullptr && *t != '\0') ? t : "/tmp") + "/millrace-store-XXXXXX";
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        root_ = pattern;
        dir_ = root_ + "/j";
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(root_, ec);
    }
    // The journal's segment files, in name order.
    std::vector<std::string> segments() const {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(dir_))
            if (e.path().filename().string().rfind("segment-", 0) == 0 && e.path().extension() == ".log")
                out.push_back(e.path().string());
        std::sort(out.begin(), out.end());
        return out;
    }
    // Flips a bit inside the `nth` (0-based) occurrence of `marker` in the last segment.
    void damage(const std::string& marker, int nth) {
        const std::string seg = segments().back();
        std::string bytes;
        {
            std::ifstream in(seg, std::ios::binary);
            bytes.assign(std::istreambuf_iterator<char>(in), {});
        }
        std::size_t at_ = std::string::npos, from = 0;
        for (int i = 0; i <= nth; ++i) {
            at_ = bytes.find(marker, from);
            ASSERT_NE(at_, std::string::npos) << "occurrence " << i << " of " << marker;
            from = at_ + 1;
        }
        bytes[at_ + 1] = static_cast<char>(bytes[at_ + 1] ^ 0x10);
        std::ofstream out(seg, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }

    std::string root_, dir_;
};

TEST_F(JournalStoreDir, RepairKeepsTheLaterOfTwoLiveJobsWithOneDedupKey) {
    journal_options o;
    o.mode = durability::every_commit;
    job_id first = 0, second = 0;
    {
        journal_store s(dir_, o);
        auto a = make_job("q");
        a.dedup_key = "k";
        a.partition_key = "MARKER-A";
        first = s.enqueue(a).id;
        ASSERT_TRUE(s.cancel(first, at(1)));  // frees the key: the record repair will drop
        auto b = make_job("q");
        b.dedup_key = "k";
        second = s.enqueue(b).id;
        ASSERT_NE(second, first);
    }
    damage("MARKER-A", 1);  // the cancel record (the enqueue record holds the first copy)
    EXPECT_THROW(journal_store(dir_, o), storage_error);
    journal_options r = o;
    r.repair = true;
    {
        journal_store s(dir_, r);
        ASSERT_EQ(s.recovery_report().repaired.size(), 1u);
        EXPECT_EQ(s.find(second)->state, job_state::ready);
        EXPECT_EQ(s.find(first)->state, job_state::cancelled) << "two live jobs hold dedup key k";
        ASSERT_EQ(s.dropped_duplicates().size(), 1u);
        EXPECT_EQ(s.dropped_duplicates()[0].id, first);
        EXPECT_NE(s.dropped_duplicates()[0].last_error.find(std::to_string(second)), std::string::npos);
        EXPECT_EQ(s.stats("q"), millrace::test::make_stats(0, 1, 0, 0, 0, 1));
        auto dup = make_job("q");
        dup.dedup_key = "k";
        const auto res = s.enqueue(dup);
        EXPECT_FALSE(res.inserted);
        EXPECT_EQ(res.id, second);
    }
    journal_store s(dir_, o);  // rewritten: opens clean, the decision kept
    EXPECT_EQ(s.find(first)->state, job_state::cancelled);
    EXPECT_TRUE(s.dropped_duplicates().empty());
}

// A record limit small enough that 300 jobs' changes need many records.
journal_options small_records() {
    journal_options o;
    o.mode = durability::group_commit;
    o.max_record_bytes = 4096;
    return o;
}

TEST_F(JournalStoreDir, HugeSweepsAreSplitOverSeveralRecords) {
    const journal_options o = small_records();
    std::vector<job_id> ids;
    {
        journal_store s(dir_, o);
        std::vector<job_record> batch;
        for (int i = 0; i < 300; ++i) {
            auto j = make_job("q");
            j.payload.assign(600, std::byte{'p'});
            ids.push_back(s.enqueue(j).id);
        }
        auto c = s.claim("q", 300, at(0), at(5), "w");  // split too: 300 whole records
        ASSERT_EQ(c.size(), 300u);
        EXPECT_EQ(s.requeue_expired(at(5)), 300u);  // ~200 KB of changes
        c = s.claim("q", 300, at(6), at(100), "w");
        ASSERT_EQ(c.size(), 300u);
        std::vector<lease_ref> acks;
        for (const auto& x : c)
            acks.push_back({x.id(), x.token});
        const std::vector<bool> done = s.complete_many(acks, at(7));
        EXPECT_EQ(done, std::vector<bool>(300, true));
        EXPECT_EQ(s.purge(job_state::succeeded, at(8)), 300u);  // 300 erase entries > 4 KiB
        EXPECT_TRUE(s.enqueue(make_job("q")).inserted) << "the store was poisoned";
    }
    journal_store s(dir_, o);
    EXPECT_EQ(s.stats("q"), millrace::test::make_stats(0, 1, 0, 0, 0, 0));
    for (job_id id : ids)
        EXPECT_FALSE(s.find(id).has_value());
}

TEST_F(JournalStoreDir, RequeuedJobsAllSurviveAReopenAfterASplit) {
    const journal_options o = small_records();
    {
        journal_store s(dir_, o);
        for (int i = 0; i < 100; ++i) {
            auto j = make_job("q");
            j.payload.assign(600, std::byte{'p'});
            (void)s.enqueue(j);
        }
        ASSERT_EQ(s.claim("q", 100, at(0), at(5), "w").size(), 100u);
        ASSERT_EQ(s.requeue_expired(at(5)), 100u);
    }
    journal_store s(dir_, o);
    EXPECT_EQ(s.stats("q"), millrace::test::make_stats(0, 100, 0, 0, 0, 0));
}

TEST_F(JournalStoreDir, RecordLimitIsChecked) {
    journal_options o;
    o.max_record_bytes = 0;
    EXPECT_THROW(journal_store(dir_, o), std::invalid_argument);
    o.max_record_bytes = std::size_t{1} << 30;
    EXPECT_THROW(journal_store(dir_, o), std::invalid_argument);
    o = small_records();
    journal_store s(dir_, o);
    auto big = make_job("q");
    big.payload.assign(5000, std::byte{'x'});
    EXPECT_THROW((void)s.enqueue(big), std::invalid_argument);
    EXPECT_TRUE(s.enqueue(make_job("q")).inserted);
}

}  // namespace

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceStress);
