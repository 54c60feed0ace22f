# time/: timing wheel and clock policies.
# time_test: functional tests (one binary, a few seconds in Debug); the mutation runs use
# gtest filters on it so they fail fast and deterministically.
millrace_add_test(NAME time_test
  SOURCES time/timing_wheel_test.cpp time/clock_test.cpp time/timing_wheel_alloc_test.cpp
  TIMEOUT 120)
