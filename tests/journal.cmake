# store/journal: journal_store's own tests (they live beside the other store tests, under
# tests/store/journal/). journal_test: CRC-32C, the segment format, the record log (recovery,
# fences after failed syncs, disk full), the golden journal, and journal_store (conformance
# suite in every durability mode, power-loss harness, corruption, repair, lock).
# journal_stress_test: the suite's threaded conservation tests, labelled stress.
millrace_add_test(NAME journal_test
  SOURCES store/journal/log_test.cpp store/journal/store_test.cpp TIMEOUT 120)
millrace_add_test(NAME journal_stress_test SOURCES store/journal/stress_test.cpp
  LABELS stress TIMEOUT 300)
# Planted: group commit releases its callers before the fdatasync that covers them (and
# even when that sync fails). Caught by the power-loss tests: acknowledged records vanish.
millrace_add_mutation_test(TARGET journal_test BUG journal_ack_before_sync
  ARGS --gtest_filter=JournalLog.PowerLoss*:JournalStorePowerLoss.Thousand*)
# Planted: recovery does not verify record checksums. Caught by the flipped-bit tests.
millrace_add_mutation_test(TARGET journal_test BUG journal_skip_crc
  ARGS --gtest_filter=JournalLog.FlippedBit*:JournalStoreCorruption.FlippedBits*)
# Planted: a failed fdatasync is acknowledged (its callers return as if durable). Caught by
# the failed-sync tests: the call does not throw, and its job reappears.
millrace_add_mutation_test(TARGET journal_test BUG journal_ack_failed_sync
  ARGS --gtest_filter=JournalLog.FailedSync*:JournalStore.FailedSync*)
# Planted: the record header's own checksum is not verified. Caught by the damaged-length
# tests: a damaged length is trusted, records after it are skipped or called a torn tail.
millrace_add_mutation_test(TARGET journal_test BUG journal_skip_header_crc
  ARGS --gtest_filter=JournalLog.DamagedLength*)
# The golden journals: journal_make_golden writes one (see golden/golden_workload.hpp);
# journal_test opens every committed one and compares its jobs with the expected dump.
add_executable(journal_make_golden store/journal/golden/make_golden.cpp)
target_link_libraries(journal_make_golden PRIVATE millrace::millrace)
target_include_directories(journal_make_golden PRIVATE "${PROJECT_SOURCE_DIR}/tests")
target_compile_definitions(journal_test PRIVATE
  MILLRACE_JOURNAL_GOLDEN_DIR="${CMAKE_CURRENT_SOURCE_DIR}/store/journal/golden")
