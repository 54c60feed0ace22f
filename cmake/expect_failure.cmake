# Runs COMMAND and exits non-zero when it failed in any way (non-zero exit, signal,
# sanitizer abort, time-out), 0 when it passed. Mutation tests register this
# with WILL_FAIL, so a planted bug that goes unnoticed turns the test red; so does a
# mutant that was never built (a missing binary proves nothing).
if(NOT TIMEOUT)
  set(TIMEOUT 120)
endif()
list(GET COMMAND 0 executable)
if(NOT EXISTS "${executable}")
  message("expect_failure: ${executable} does not exist; build it first")
  return()
endif()
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE result TIMEOUT ${TIMEOUT})
if(result STREQUAL "0")
  message("expect_failure: the planted bug went unnoticed (exit 0)")
  return()
endif()
message(FATAL_ERROR "expect_failure: caught (${result})")
