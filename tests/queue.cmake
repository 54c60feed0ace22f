# queue/: functional tests (typed over mpmc_queue and spsc_queue), stress tests, and the
# planted bugs they must catch.
millrace_add_test(NAME queue_test SOURCES queue/queue_test.cpp TIMEOUT 120)
# BlockedWaiterUsesAlmostNoCpu and the timed tests measure time: run alone.
set_tests_properties(queue_test PROPERTIES RUN_SERIAL TRUE)
millrace_add_test(NAME queue_stress_test SOURCES queue/queue_stress_test.cpp LABELS stress TIMEOUT 300)

# A relaxed publish of the slot turn (with the hoisting it permits): an item becomes
# poppable while its value is still being built. The probe test sees it deterministically.
millrace_add_mutation_test(TARGET queue_test BUG relaxed_turn_publish
  ARGS --gtest_filter=*/mpmc_queue.ItemIsPublishedOnlyAfterItsValueIsBuilt TIMEOUT 15)
# A producer that overwrites a slot whose item was not consumed yet: a lost item, and
# the queue accepts more than capacity() items.
millrace_add_mutation_test(TARGET queue_test BUG lost_item
  ARGS --gtest_filter=*/mpmc_queue.HoldsExactlyCapacityAcrossManyLaps TIMEOUT 15)
