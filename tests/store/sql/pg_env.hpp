// tests/store/sql/pg_env.hpp: the PostgreSQL test binaries' connection string and fresh
// schemas. MILLRACE_TEST_PG unset: every test of the binary is skipped with the reason
// printed (.ci/postgres.sh sets it, so CI always runs them).
#pragma once

#include <atomic>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

namespace millrace::test {

/// The connection string from MILLRACE_TEST_PG, or empty.
inline std::string pg_conninfo() {
    const char* v = std::getenv("MILLRACE_TEST_PG");
    return v == nullptr ? std::string() : std::string(v);
}

/// A schema name no other test or process uses (the tests never share tables).
inline std::string fresh_pg_schema(const char* prefix = "t") {
    static std::atomic<unsigned> n{0};
    return std::string(prefix) + "_" + std::to_string(::getpid()) + "_" + std::to_string(n.fetch_add(1));
}

/// Skips every test of the binary when no server is given (register it in a binary whose
/// tests all need the server).
class pg_environment : public ::testing::Environment {
public:
    void SetUp() override {
        if (pg_conninfo().empty())
            GTEST_SKIP() << "MILLRACE_TEST_PG is not set: no PostgreSQL server to test against "
                            "(run the tests under .ci/postgres.sh)";
    }
};

}  // namespace millrace::test
