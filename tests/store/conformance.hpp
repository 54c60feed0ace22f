// tests/store/conformance.hpp: the conformance suite every millrace::task_store adapter must
// pass (docs/storage.md, "Writing and testing an adapter").
//
// Usage, in one test .cpp of the adapter:
//
//   struct my_factory {
//       using store_type = my_store;
//       static std::unique_ptr<my_store> make();                 // a fresh, empty store
//       // optional: static void reopen(std::unique_ptr<my_store>&);  close and open again
//       //           (durable adapters: the suite then checks that state survives a reopen)
//       // optional: static constexpr std::size_t model_operations = 100000;
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(my, StoreConformance, ::testing::Types<my_factory>);
//   // and, in the adapter's stress binary (label it `stress`):
//   INSTANTIATE_TYPED_TEST_SUITE_P(my, StoreConformanceStress, ::testing::Types<my_factory>);
//
// Several factories (e.g. one per durability mode) go in one ::testing::Types list.
// The stress tests and the model test size themselves with millrace::test::scaled().
//
// The suite lives in tests/store/conformance/, one header per concern (core.hpp registers
// the core sections, stress.hpp the threaded ones, all.hpp the contract sections); this
// header includes the core and stress suites for the binaries that instantiate them.
#pragma once

#include "store/conformance/core.hpp"
#include "store/conformance/stress.hpp"
