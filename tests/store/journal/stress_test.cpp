// journal_store under many threads: the conformance suite's stress tests (8 claimers, each
// job claimed exactly once; claimers racing a requeuer on expiring leases) over group commit
// on the in-memory disk with a sync latency, so that callers really share syncs, and over
// the real file system with durability::none.
#include <chrono>
#include <memory>

#include <gtest/gtest.h>

#include "millrace/store/journal_store.hpp"

#include "store/conformance.hpp"
#include "store/journal/fault_io.hpp"
#include "store/journal/temp_dir.hpp"

namespace {

using namespace millrace;
using fstore = basic_journal_store<millrace::test::fault_io>;

struct group_commit_factory {
    using store_type = fstore;
    static inline millrace::test::fault_io io;
    static std::unique_ptr<fstore> make() {
        io = millrace::test::fault_io{};
        // No sync latency: callers still share syncs (about 6 per sync on 2 cores).
        journal_options o;
        o.compact_min_bytes = 1 << 20;  // compactions run under the stress too
        return std::make_unique<fstore>("/journal", o, io);
    }
};

struct posix_none_factory {
    using store_type = journal_store;
    static inline std::unique_ptr<millrace::test::temp_dir> dir;
    static std::unique_ptr<journal_store> make() {
        dir = std::make_unique<millrace::test::temp_dir>();
        journal_options o;
        o.mode = durability::none;
        return std::make_unique<journal_store>(dir->path() + "/j", o);
    }
};

}  // namespace

namespace millrace::test {
using journal_stress_factories = ::testing::Types<group_commit_factory, posix_none_factory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Journal, StoreConformanceStress, journal_stress_factories);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);  // in journal_test
}  // namespace millrace::test
