# time/: timing wheel and clock policies.
# time_test: functional tests (one binary, a few seconds in Debug); the mutation runs use
# gtest filters on it so they fail fast and deterministically.
millrace_add_test(NAME time_test
  SOURCES time/timing_wheel_test.cpp time/clock_test.cpp time/timing_wheel_alloc_test.cpp
  TIMEOUT 120)

# time_stress_test: the differential test against a std::multimap model, millions of
# operations at scale 1.
millrace_add_test(NAME time_stress_test
  SOURCES time/timing_wheel_stress_test.cpp
  LABELS stress
  TIMEOUT 300)

# Mutation tests: each planted bug must be caught by a focused slice of time_test.
# cascade_off_by_one: level > 0 slots cascade one tick late, so a timer on a slot boundary
# fires late. stale_cancel: cancel ignores the generation, so a stale id kills the timer that
# reuses its node.
millrace_add_mutation_test(TARGET time_test BUG cascade_off_by_one
  ARGS --gtest_filter=WheelShapes/0.FiresExactlyAtEveryLevelBoundary TIMEOUT 30)
millrace_add_mutation_test(TARGET time_test BUG stale_cancel
  ARGS --gtest_filter=TimingWheel.CancelAndStaleIds:TimingWheel.StaleIdOfAFiredTimerNeverCancelsItsSuccessor TIMEOUT 30)
