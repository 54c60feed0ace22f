# store/: the task_store concept, memory_store and the conformance suite.
# store_test: the conformance suite on memory_store (1 and 16 shards), the randomized model
# test, and job_index's change reports / replay. store_stress_test: the threaded
# conservation tests of the suite, labelled stress.
millrace_add_test(NAME store_test SOURCES store/memory_store_test.cpp TIMEOUT 300)
# store_fault_test: every job_index operation under a failing operator new (its own binary:
# it replaces the global operator new).
millrace_add_test(NAME store_fault_test SOURCES store/fault_test.cpp TIMEOUT 120)
millrace_add_test(NAME store_stress_test SOURCES store/memory_store_stress_test.cpp LABELS stress TIMEOUT 300)
# Planted: complete / fail / extend_lease accept any token of a running job (the late
# worker completes a job another worker now owns). Caught by the lost-lease tests.
millrace_add_mutation_test(TARGET store_test BUG store_skip_token_check
  ARGS --gtest_filter=Memory/StoreConformance/0.LostLease*:Memory/StoreConformance/0.WrongToken*)
# Planted: requeue_expired does not count the expired attempt (the job never goes dead).
millrace_add_mutation_test(TARGET store_test BUG store_requeue_forgets_attempt
  ARGS --gtest_filter=Memory/StoreConformance/0.RequeueExpired*:Memory/StoreConformance/0.SingleAttempt*)
# store_contract_test: the contract sections of tests/store/conformance/ (release, batches,
# type filters, schedules, wait_for_jobs, times) on memory_store and on journal_store in every
# durability mode.
millrace_add_test(NAME store_contract_test SOURCES store/contract_test.cpp TIMEOUT 300)
# Planted: advance_schedule does not compare (check-then-set race). Caught by the 8-thread
# race (a firing won twice) and the compare-and-set test.
millrace_add_mutation_test(TARGET store_contract_test BUG store_advance_schedule_not_atomic
  ARGS --gtest_filter=Memory/StoreSchedules/0.EightThreads*)
# Planted: release counts an attempt (the released job loses its retries). Caught by the
# attempt-count test.
millrace_add_mutation_test(TARGET store_contract_test BUG store_release_counts_attempt
  ARGS --gtest_filter=Memory/StoreRelease/0.*)
# store_journal_test: journal_store on open and on huge calls (duplicate dedup keys after a
# repair, huge sweeps split over several records).
millrace_add_test(NAME store_journal_test SOURCES store/journal_store_test.cpp TIMEOUT 120)
# Planted: repair restores two live jobs with one dedup key. Caught by the repair test.
millrace_add_mutation_test(TARGET store_journal_test BUG store_repair_keeps_duplicate_keys
  ARGS --gtest_filter=JournalStoreDir.RepairKeepsTheLater*)
# Planted: no call's changes are split (a huge sweep fails and poisons the store).
millrace_add_mutation_test(TARGET store_journal_test BUG store_record_split_off
  ARGS --gtest_filter=JournalStoreDir.HugeSweeps*:JournalStoreDir.RequeuedJobsAll*)
