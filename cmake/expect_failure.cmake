# Runs COMMAND and exits 1 when it failed in any way (non-zero exit, signal,
# sanitizer abort, time-out), 0 when it passed. Mutation tests register this
# with WILL_FAIL, so a planted bug that goes unnoticed turns the test red.
if(NOT TIMEOUT)
  set(TIMEOUT 120)
endif()
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE result TIMEOUT ${TIMEOUT})
if(result STREQUAL "0")
  message("expect_failure: the planted bug went unnoticed (exit 0)")
  return()
endif()
message("expect_failure: caught (${result})")
cmake_language(EXIT 1)
