// sqlite_store: the core conformance suite and every contract section, in both sync modes,
// over a real database file; then what is particular to SQLite (validation, schema version,
// busy deadline, several connections on one file).
#include "millrace/store/sqlite_store.hpp"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

#include <gtest/gtest.h>

#include "store/conformance.hpp"
#include "store/conformance/all.hpp"
#include "store/sql/scratch.hpp"

namespace {

using namespace millrace;
using millrace::test::at;
using millrace::test::make_job;

millrace::test::sql_scratch scratch;

template <sqlite_sync Sync>
struct sqlite_factory {
    using store_type = sqlite_store;
    // Every call is one transaction (a real fsync with FULL): the suite's sizes are cut to fit.
    static constexpr std::size_t model_operations = Sync == sqlite_sync::full ? 3'000 : 20'000;
    static constexpr std::size_t race_firings = Sync == sqlite_sync::full ? 300 : 2'000;
    static inline std::string last;
    static sqlite_options options() {
        sqlite_options o;
        o.sync = Sync;
        return o;
    }
    static std::unique_ptr<sqlite_store> make() {
        last = scratch.fresh_dir() + "/jobs.db";
        return std::make_unique<sqlite_store>(last, options());
    }
    static void reopen(std::unique_ptr<sqlite_store>& s) {
        s.reset();
        s = std::make_unique<sqlite_store>(last, options());
    }
};

TEST(SqliteStore, RejectsBadPathsWithClearErrors) {
    EXPECT_THROW(sqlite_store(""), std::invalid_argument);
    EXPECT_THROW(sqlite_store(":memory:"), std::invalid_argument);
    EXPECT_THROW(sqlite_store("/nonexistent-dir-millrace/x/jobs.db"), storage_error);
    sqlite_options o;
    o.busy_timeout = std::chrono::milliseconds{-1};
    EXPECT_THROW(sqlite_store(scratch.fresh_dir() + "/a.db", o), std::invalid_argument);
}

TEST(SqliteStore, RefusesASchemaOfAnotherVersion) {
    const std::string path = scratch.fresh_dir() + "/v.db";
    { sqlite_store s(path); }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    try {
        sqlite_store s(path);
        FAIL() << "opened a schema of version 99";
    } catch (const storage_error& e) {
        EXPECT_NE(std::string(e.what()).find("99"), std::string::npos) << e.what();
    }
}

TEST(SqliteStore, BusyPastTheDeadlineThrowsStorageError) {
    const std::string path = scratch.fresh_dir() + "/busy.db";
    sqlite_options o;
    o.busy_timeout = std::chrono::milliseconds{200};
    sqlite_store s(path, o);
    // Another connection holds the write lock for longer than the busy deadline.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW(s.enqueue(make_job()), storage_error);
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, std::chrono::milliseconds{190});
    EXPECT_LT(waited, std::chrono::seconds{3});
    // A lock released before the deadline is waited for, and the call succeeds.
    std::thread releaser([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    });
    EXPECT_TRUE(s.enqueue(make_job()).inserted);
    releaser.join();
    sqlite3_close(db);
    EXPECT_EQ(s.stats("q").total(), 1u);
}

TEST(SqliteStore, TwoConnectionsOnOneFileShareJobsAndTokens) {
    const std::string path = scratch.fresh_dir() + "/two.db";
    sqlite_store a(path);
    sqlite_store b(path);
    for (int i = 0; i < 10; ++i)
        a.enqueue(make_job());
    auto ca = a.claim("q", 5, at(1), at(100), "a");
    auto cb = b.claim("q", 10, at(1), at(100), "b");
    ASSERT_EQ(ca.size(), 5u);
    ASSERT_EQ(cb.size(), 5u);
    for (const auto& x : ca)
        for (const auto& y : cb) {
            EXPECT_NE(x.id(), y.id());
            EXPECT_NE(x.token, y.token);
        }
    // The late worker across connections: b takes a's job after its lease, a is refused.
    EXPECT_EQ(b.requeue_expired(at(200)), 10u);
    auto again = b.claim("q", 10, at(201), at(300), "b");
    ASSERT_EQ(again.size(), 10u);
    EXPECT_FALSE(a.complete(ca[0].id(), ca[0].token, at(202)));
    for (const auto& c : again) {
        if (c.id() == ca[0].id()) {
            EXPECT_TRUE(a.complete(c.id(), c.token, at(203)));
        }
    }
    EXPECT_EQ(b.stats("q").count(job_state::succeeded), 1u);
}

}  // namespace

namespace millrace::test {
using sqlite_factories =
    ::testing::Types<::sqlite_factory<sqlite_sync::normal>, ::sqlite_factory<sqlite_sync::full>>;
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreConformance, sqlite_factories);
MILLRACE_STORE_CONTRACT_TESTS(Sqlite, sqlite_factories);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceStress);
}  // namespace millrace::test
