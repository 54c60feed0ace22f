# sched/: the sharded scheduler and cron expressions.
# sched_test: one functional binary (manual mode under manual_clock, the wake-up rule,
# lifecycle); sched_stress_test: threads, real time, idle CPU.
millrace_add_test(NAME sched_test SOURCES sched/inbox_test.cpp sched/scheduler_test.cpp TIMEOUT 120)
millrace_add_test(NAME sched_stress_test SOURCES sched/scheduler_stress_test.cpp LABELS stress TIMEOUT 300)
# Lateness and idle CPU are measured: they need the machine to themselves.
set_tests_properties(sched_stress_test PROPERTIES RUN_SERIAL TRUE)
# A planted lost inbox item (the last node of a run is dropped: caught at the scheduler level) and a cancel that reports
# success without stopping the firing; each must be caught.
millrace_add_mutation_test(TARGET sched_test BUG inbox_lost_item
  ARGS --gtest_filter=SchedManual.EveryRunOfTheInboxReachesTheSink TIMEOUT 15)
millrace_add_mutation_test(TARGET sched_test BUG cancel_ignored
  ARGS --gtest_filter=SchedManual.CancelOfAnArmedTaskStopsItsFiring TIMEOUT 15)

# A recurring schedule of a task that cannot be copied stops at a static_assert that names the
# fix (millrace::task_factory). The test runs the compiler on the source (syntax only, outside
# the build graph) and must see that message; the same source with the copyable variant is built
# normally, so the failure has no other cause.
add_test(NAME sched_compile_fail_not_copyable
  COMMAND ${CMAKE_CXX_COMPILER} -std=c++20 -fsyntax-only
          -I${PROJECT_SOURCE_DIR}/include
          ${CMAKE_CURRENT_SOURCE_DIR}/sched/compile_fail/recurring_task_not_copyable.cpp)
set_tests_properties(sched_compile_fail_not_copyable PROPERTIES
  PASS_REGULAR_EXPRESSION "a recurring task is copied into a new Task per firing" TIMEOUT 120)
add_executable(sched_compile_control sched/compile_fail/recurring_task_not_copyable.cpp)
target_link_libraries(sched_compile_control PRIVATE millrace::millrace)
target_compile_definitions(sched_compile_control PRIVATE MILLRACE_COMPILE_CONTROL)
add_test(NAME sched_compile_control COMMAND sched_compile_control)

# cron_test: the table, errors, to_string, equality, the never decision, the clock's range;
# 100k random expressions (scaled) against the brute-force reference (cron_reference.hpp).
millrace_add_test(NAME cron_test SOURCES sched/cron_test.cpp sched/cron_random_test.cpp TIMEOUT 120)
# Planted bugs, each caught by the table alone (a gtest filter keeps the runs to seconds).
millrace_add_mutation_test(TARGET cron_test BUG cron_or_as_and ARGS --gtest_filter=CronTable.*)
millrace_add_mutation_test(TARGET cron_test BUG cron_month_end_off_by_one ARGS --gtest_filter=CronTable.*)
