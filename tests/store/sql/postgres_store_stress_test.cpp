// postgres_store under the threaded conservation tests of the conformance suite (label
// stress), each test in its own schema.
#include "millrace/store/postgres_store.hpp"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "store/conformance.hpp"
#include "store/sql/pg_env.hpp"

namespace {

::testing::Environment* const pg_env =
    ::testing::AddGlobalTestEnvironment(new millrace::test::pg_environment);

struct pg_factory {
    using store_type = millrace::postgres_store;
    static std::unique_ptr<millrace::postgres_store> make() {
        millrace::postgres_options o;
        o.schema = millrace::test::fresh_pg_schema("st");
        o.pool_size = 12;
        return std::make_unique<millrace::postgres_store>(millrace::test::pg_conninfo(), o);
    }
};

}  // namespace

namespace millrace::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Postgres, StoreConformanceStress, ::testing::Types<::pg_factory>);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}  // namespace millrace::test
