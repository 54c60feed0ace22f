// postgres_store: the core conformance suite and every contract section, each test in its own
// PostgreSQL schema; then validation, migrations and errors with their SQL state.
#include "millrace/store/postgres_store.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/conformance.hpp"
#include "store/conformance/all.hpp"
#include "store/sql/pg_env.hpp"

namespace {

using namespace millrace;
using millrace::test::at;
using millrace::test::make_job;

::testing::Environment* const pg_env =
    ::testing::AddGlobalTestEnvironment(new millrace::test::pg_environment);

struct pg_factory {
    using store_type = postgres_store;
    // Every call is a round trip and a commit: the model test's size is cut to fit.
    static constexpr std::size_t model_operations = 10'000;
    static constexpr std::size_t race_firings = 2'000;
    static inline std::string last;
    static postgres_options options() {
        postgres_options o;
        o.schema = last;
        o.pool_size = 4;
        return o;
    }
    static std::unique_ptr<postgres_store> make() {
        last = millrace::test::fresh_pg_schema();
        return std::make_unique<postgres_store>(millrace::test::pg_conninfo(), options());
    }
    static void reopen(std::unique_ptr<postgres_store>& s) {
        s.reset();
        s = std::make_unique<postgres_store>(millrace::test::pg_conninfo(), options());
    }
};

TEST(PostgresStore, RejectsBadOptionsWithClearErrors) {
    const auto ci = millrace::test::pg_conninfo();
    postgres_options o;
    o.pool_size = 0;
    EXPECT_THROW(postgres_store(ci, o), std::invalid_argument);
    o = {};
    o.schema = "Bad-Name";
    EXPECT_THROW(postgres_store(ci, o), std::invalid_argument);
    o.schema = "x; DROP TABLE y";
    EXPECT_THROW(postgres_store(ci, o), std::invalid_argument);
    EXPECT_THROW(postgres_store("host=127.0.0.1 port", postgres_options{}), std::invalid_argument);
    EXPECT_THROW(postgres_store("this is not=a 'conninfo", postgres_options{}), std::invalid_argument);
    // A server that is not there: storage_error naming the failure.
    o = {};
    o.schema = millrace::test::fresh_pg_schema();
    EXPECT_THROW(postgres_store("host=127.0.0.1 port=1 connect_timeout=2", o), storage_error);
}

TEST(PostgresStore, ErrorsCarryTheSqlState) {
    postgres_options o;
    o.schema = millrace::test::fresh_pg_schema();
    postgres_store s(millrace::test::pg_conninfo(), o);
    detail::pg_conn c(millrace::test::pg_conninfo());
    try {
        c.exec("SELECT * FROM no_such_table_millrace");
        FAIL() << "no error";
    } catch (const storage_error& e) {
        EXPECT_NE(std::string(e.what()).find("SQLSTATE 42P01"), std::string::npos) << e.what();
    }
    // A store whose tables were dropped under it reports the state too.
    c.exec("DROP TABLE " + o.schema + ".jobs");
    try {
        s.enqueue(make_job());
        FAIL() << "no error";
    } catch (const storage_error& e) {
        EXPECT_NE(std::string(e.what()).find("SQLSTATE 42P01"), std::string::npos) << e.what();
    }
}

TEST(PostgresStore, RefusesASchemaMigratedByANewerBuild) {
    postgres_options o;
    o.schema = millrace::test::fresh_pg_schema();
    { postgres_store s(millrace::test::pg_conninfo(), o); }
    detail::pg_conn c(millrace::test::pg_conninfo());
    c.exec("INSERT INTO " + o.schema + ".migrations(version) VALUES (99)");
    EXPECT_THROW(postgres_store(millrace::test::pg_conninfo(), o), storage_error);
}

TEST(PostgresStore, StoresStartingTogetherMigrateOnce) {
    postgres_options o;
    o.schema = millrace::test::fresh_pg_schema();
    o.pool_size = 1;
    std::vector<std::thread> ts;
    std::atomic<int> errors{0};
    for (int i = 0; i < 8; ++i)
        ts.emplace_back([&] {
            try {
                postgres_store s(millrace::test::pg_conninfo(), o);
            } catch (const std::exception&) {
                errors.fetch_add(1);
            }
        });
    for (auto& t : ts)
        t.join();
    EXPECT_EQ(errors.load(), 0);
    detail::pg_conn c(millrace::test::pg_conninfo());
    auto r = c.exec("SELECT COUNT(*) FROM " + o.schema + ".migrations");
    EXPECT_EQ(r.i64(0, 0), 1);
}

TEST(PostgresStore, TwoStoresOnOneSchemaShareJobsAndRefuseTheLateWorker) {
    postgres_options o;
    o.schema = millrace::test::fresh_pg_schema();
    postgres_store a(millrace::test::pg_conninfo(), o);
    postgres_store b(millrace::test::pg_conninfo(), o);
    for (int i = 0; i < 10; ++i)
        a.enqueue(make_job());
    auto ca = a.claim("q", 5, at(1), at(100), "a");
    auto cb = b.claim("q", 10, at(1), at(100), "b");
    ASSERT_EQ(ca.size(), 5u);
    ASSERT_EQ(cb.size(), 5u);
    EXPECT_EQ(b.requeue_expired(at(200)), 10u);
    auto again = b.claim("q", 10, at(201), at(300), "b");
    ASSERT_EQ(again.size(), 10u);
    EXPECT_FALSE(a.complete(ca[0].id(), ca[0].token, at(202)));
    EXPECT_EQ(b.stats("q").count(job_state::succeeded), 0u);
}

}  // namespace

namespace millrace::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreConformance, ::testing::Types<::pg_factory>);
MILLRACE_STORE_CONTRACT_TESTS(Postgres, ::testing::Types<::pg_factory>);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceStress);
}  // namespace millrace::test
