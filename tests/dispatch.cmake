# dispatch/: the dispatcher.
# dispatcher_test: functional tests (manual clock wherever order or time matters; about 2 s,
# one of which is the idle-CPU measurement).
millrace_add_test(NAME dispatcher_test SOURCES dispatch/dispatcher_test.cpp TIMEOUT 120)
# dispatcher_stress_test: exactly-once, strands, a slow key, shutdown racing submitters (scaled).
millrace_add_test(NAME dispatcher_stress_test SOURCES dispatch/dispatcher_stress_test.cpp LABELS stress TIMEOUT 300)

# Mutation tests: a lost task must break exactly-once; a strand that lets its key go before
# the task ends must break per-key order.
millrace_add_mutation_test(TARGET dispatcher_stress_test BUG lost_task
                           ARGS --gtest_filter=DispatcherStress.ExactlyOnce*)
millrace_add_mutation_test(TARGET dispatcher_stress_test BUG strand_early_release
                           ARGS --gtest_filter=DispatcherStress.StrandsRunInOrderOneAtATime)
# A delayed task cancelled through its handle must give its capacity unit back at once.
millrace_add_mutation_test(TARGET dispatcher_test BUG delayed_cancel_keeps_slot
                           ARGS --gtest_filter=Dispatcher.CancelledDelayedTaskGivesItsSlotBackAtOnce)
# The last searcher must wake a sleeping worker for the job it leaves behind.
millrace_add_mutation_test(TARGET dispatcher_test BUG searcher_no_handoff
                           ARGS --gtest_filter=Dispatcher.ASecondTaskStartsWhileTheFirstBlocksAfterASearch)
millrace_add_mutation_test(TARGET dispatcher_test BUG dispatch_unfair_round
                           ARGS --gtest_filter=Dispatcher.WeightedFairness*)

# Compile-fail tests: each broken policy must fail to compile with a message naming it.
# (PASS_REGULAR_EXPRESSION alone decides: with WILL_FAIL it would invert the match.)
foreach(policy queue clock scheduler router admission metrics store)
  add_test(NAME dispatcher_policy_${policy}_compile_fail
           COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only
                   -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_BINARY_DIR}/include
                   ${CMAKE_CURRENT_SOURCE_DIR}/dispatch/compile_fail/${policy}.cpp)
  set_tests_properties(dispatcher_policy_${policy}_compile_fail PROPERTIES
    PASS_REGULAR_EXPRESSION "dispatch_policies: Policies::${policy} "
    LABELS compile_fail TIMEOUT 120)
endforeach()
