// The contract sections of tests/store/conformance/ (release, batches, type filters,
// schedules, wait_for_jobs, times) on memory_store (1 and 16 shards) and on journal_store in
// every durability mode over the real file system.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "millrace/store/journal_store.hpp"
#include "millrace/store/memory_store.hpp"
#include "store/conformance/all.hpp"

namespace {

using namespace millrace;

struct memory_factory {
    using store_type = memory_store;
    static std::unique_ptr<memory_store> make() { return std::make_unique<memory_store>(); }
};
struct memory_one_shard_factory {
    using store_type = memory_store;
    static std::unique_ptr<memory_store> make() { return std::make_unique<memory_store>(1); }
};

// Directories under $TMPDIR (or /tmp; never /dev/shm: fdatasync must mean something),
// removed at exit.
struct scratch_dirs {
    std::vector<std::string> made;
    std::string fresh() {
        const char* t = std::getenv("TMPDIR");
        std::string pattern =
            std::string((t != nullptr && *t != '\0') ? t : "/tmp") + "/millrace-contract-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
        made.push_back(pattern);
        return pattern + "/j";
    }
    ~scratch_dirs() {
        std::error_code ec;
        for (const auto& d : made)
            std::filesystem::remove_all(d, ec);
    }
};
scratch_dirs dirs;

template <durability Mode>
struct journal_factory {
    using store_type = journal_store;
    // Each won firing is a durable record: a real fdatasync in the syncing modes.
    static constexpr std::size_t race_firings = Mode == durability::none ? 10'000 : 300;
    static inline std::string last;  // the directory of the store reopen() reopens
    static journal_options options() {
        journal_options o;
        o.mode = Mode;
        return o;
    }
    static std::unique_ptr<journal_store> make() {
        last = dirs.fresh();
        return std::make_unique<journal_store>(last, options());
    }
    static void reopen(std::unique_ptr<journal_store>& s) {
        s.reset();
        s = std::make_unique<journal_store>(last, options());
    }
};

}  // namespace

namespace millrace::test {
using memory_factories = ::testing::Types<::memory_factory, ::memory_one_shard_factory>;
MILLRACE_STORE_CONTRACT_TESTS(Memory, memory_factories);
using journal_factories =
    ::testing::Types<::journal_factory<durability::group_commit>, ::journal_factory<durability::every_commit>,
                     ::journal_factory<durability::none>>;
MILLRACE_STORE_CONTRACT_TESTS(Journal, journal_factories);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);        // in store_test
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceStress);  // in store_stress_test
}  // namespace millrace::test
