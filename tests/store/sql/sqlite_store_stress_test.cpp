// sqlite_store under the threaded conservation tests of the conformance suite (label stress).
#include "millrace/store/sqlite_store.hpp"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "store/conformance.hpp"
#include "store/sql/scratch.hpp"

namespace {

millrace::test::sql_scratch scratch;

struct sqlite_factory {
    using store_type = millrace::sqlite_store;
    static std::unique_ptr<millrace::sqlite_store> make() {
        millrace::sqlite_options o;
        o.sync = millrace::sqlite_sync::normal;
        return std::make_unique<millrace::sqlite_store>(scratch.fresh_dir() + "/jobs.db", o);
    }
};

}  // namespace

namespace millrace::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Sqlite, StoreConformanceStress, ::testing::Types<::sqlite_factory>);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);
}  // namespace millrace::test
