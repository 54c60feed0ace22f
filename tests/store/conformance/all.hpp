// tests/store/conformance/all.hpp: every contract section, and the macro that instantiates
// them for a ::testing::Types list of factories (see fixture.hpp).
#pragma once

#include "store/conformance/batch.hpp"
#include "store/conformance/fixture.hpp"
#include "store/conformance/release.hpp"
#include "store/conformance/schedules.hpp"
#include "store/conformance/times.hpp"
#include "store/conformance/type_filter.hpp"
#include "store/conformance/wait.hpp"

#define MILLRACE_STORE_CONTRACT_TESTS(prefix, types)                \
    INSTANTIATE_TYPED_TEST_SUITE_P(prefix, StoreRelease, types);    \
    INSTANTIATE_TYPED_TEST_SUITE_P(prefix, StoreBatch, types);      \
    INSTANTIATE_TYPED_TEST_SUITE_P(prefix, StoreTypeFilter, types); \
    INSTANTIATE_TYPED_TEST_SUITE_P(prefix, StoreSchedules, types);  \
    INSTANTIATE_TYPED_TEST_SUITE_P(prefix, StoreWait, types);       \
    INSTANTIATE_TYPED_TEST_SUITE_P(prefix, StoreTimes, types)
