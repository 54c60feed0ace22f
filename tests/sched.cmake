# sched: the sharded scheduler. One functional binary (manual mode under manual_clock, the
# wake-up rule, lifecycle) and one stress binary (threads, real time, idle CPU).
millrace_add_test(NAME sched_test SOURCES sched/inbox_test.cpp sched/scheduler_test.cpp TIMEOUT 120)
millrace_add_test(NAME sched_stress SOURCES sched/scheduler_stress.cpp LABELS stress TIMEOUT 300)
# Lateness and idle CPU are measured: they need the machine to themselves.
set_tests_properties(sched_stress PROPERTIES RUN_SERIAL TRUE)
# A planted lost inbox item (the last node of a run is dropped: caught at the scheduler level) and a cancel that reports
# success without stopping the firing; each must be caught.
millrace_add_mutation_test(TARGET sched_test BUG inbox_lost_item
  ARGS --gtest_filter=SchedManual.EveryRunOfTheInboxReachesTheSink TIMEOUT 15)
millrace_add_mutation_test(TARGET sched_test BUG cancel_ignored
  ARGS --gtest_filter=SchedManual.CancelOfAnArmedTaskStopsItsFiring TIMEOUT 15)
