// The conformance stress tests on memory_store: many threads, conservation checked.
#include "millrace/store/memory_store.hpp"

#include <memory>

#include <gtest/gtest.h>

#include "store/conformance.hpp"

namespace {
struct memory_store_factory {
    using store_type = millrace::memory_store;
    static std::unique_ptr<millrace::memory_store> make() {
        return std::make_unique<millrace::memory_store>();
    }
};
}  // namespace

namespace millrace::test {
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, StoreConformanceStress, ::testing::Types<::memory_store_factory>);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);  // in store_test
}  // namespace millrace::test
