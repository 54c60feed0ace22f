# journal_store (issue 10). journal_test: CRC-32C, format, record log, and journal_store
# (conformance suite in every durability mode, power-loss harness, corruption, repair, lock).
millrace_add_test(NAME journal_test SOURCES journal/log_test.cpp journal/store_test.cpp TIMEOUT 120)
