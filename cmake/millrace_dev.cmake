# Development-only helpers: test, benchmark, fuzz and mutation-test registration.
# Included only when tests, benchmarks or fuzz targets are built; users of the
# installed package never see this file.

include(FetchContent)

# ---------------------------------------------------------------------------
# Dependencies: the installed packages first, a pinned FetchContent otherwise.
# ---------------------------------------------------------------------------
if(MILLRACE_BUILD_TESTS)
  find_package(GTest 1.11 QUIET)
  if(NOT GTest_FOUND)
    if(FETCHCONTENT_FULLY_DISCONNECTED)
      message(FATAL_ERROR "millrace: MILLRACE_BUILD_TESTS needs GoogleTest, which is not installed "
        "and cannot be fetched (FETCHCONTENT_FULLY_DISCONNECTED). Install libgtest-dev, or turn "
        "the tests off (they are off by default; to install, use: cmake --preset install).")
    endif()
    message(STATUS "millrace: GoogleTest not installed, fetching the pinned release")
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    set(BUILD_GMOCK OFF CACHE BOOL "" FORCE)
    FetchContent_Declare(googletest SYSTEM
      URL https://github.com/google/googletest/archive/refs/tags/v1.14.0.tar.gz
      URL_HASH SHA256=8ad598c73ad796e0d8280b082cebd82a630d73e73cd3c70057938a6501bba5d7)
    FetchContent_MakeAvailable(googletest)
    add_library(GTest::gtest ALIAS gtest)
    add_library(GTest::gtest_main ALIAS gtest_main)
  endif()
endif()

if(MILLRACE_BUILD_BENCHMARKS)
  find_package(benchmark 1.6 QUIET)
  if(NOT benchmark_FOUND)
    if(FETCHCONTENT_FULLY_DISCONNECTED)
      message(FATAL_ERROR "millrace: MILLRACE_BUILD_BENCHMARKS needs Google Benchmark, which is not "
        "installed and cannot be fetched (FETCHCONTENT_FULLY_DISCONNECTED). Install "
        "libbenchmark-dev, or turn the benchmarks off (they are off by default).")
    endif()
    message(STATUS "millrace: Google Benchmark not installed, fetching the pinned release")
    set(BENCHMARK_ENABLE_TESTING OFF CACHE BOOL "" FORCE)
    set(BENCHMARK_ENABLE_INSTALL OFF CACHE BOOL "" FORCE)
    FetchContent_Declare(benchmark SYSTEM
      URL https://github.com/google/benchmark/archive/refs/tags/v1.8.3.tar.gz
      URL_HASH SHA256=6bc180a57d23d4d9515519f92b0c83d61b05b5bab188961f36ac7b06b0d9e9ce)
    FetchContent_MakeAvailable(benchmark)
  endif()
endif()

# ---------------------------------------------------------------------------
# Stress scale: every stress test multiplies its iteration counts by
# MILLRACE_STRESS_SCALE (read at run time by tests/support/stress.hpp).
# ---------------------------------------------------------------------------
set(MILLRACE_STRESS_SCALE "" CACHE STRING
  "Default MILLRACE_STRESS_SCALE for registered tests (empty: 1.0, or the environment)")

# millrace_add_test(NAME <name> SOURCES <src>... [LABELS <label>...] [TIMEOUT <s>]
#                   [LIBRARIES <lib>...])
# One executable, one CTest test. Stress tests pass LABELS stress.
function(millrace_add_test)
  cmake_parse_arguments(arg "" "NAME;TIMEOUT" "SOURCES;LABELS;LIBRARIES" ${ARGN})
  add_executable(${arg_NAME} ${arg_SOURCES})
  target_link_libraries(${arg_NAME} PRIVATE millrace::millrace GTest::gtest_main ${arg_LIBRARIES})
  target_include_directories(${arg_NAME} PRIVATE "${PROJECT_SOURCE_DIR}/tests")
  add_test(NAME ${arg_NAME} COMMAND ${arg_NAME})
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 600)
  endif()
  set_tests_properties(${arg_NAME} PROPERTIES TIMEOUT ${arg_TIMEOUT})
  if(arg_LABELS)
    set_tests_properties(${arg_NAME} PROPERTIES LABELS "${arg_LABELS}")
  endif()
  if(NOT MILLRACE_STRESS_SCALE STREQUAL "")
    set_tests_properties(${arg_NAME} PROPERTIES
      ENVIRONMENT "MILLRACE_STRESS_SCALE=${MILLRACE_STRESS_SCALE}")
  endif()
endfunction()

# millrace_add_mutation_test(TARGET <test target> BUG <name> [ARGS <arg>...] [TIMEOUT <s>])
# Builds <target> again with MILLRACE_PLANT_BUG=<name> and MILLRACE_PLANT_BUG_<name>
# defined, and registers the run WILL_FAIL: the suite must catch the planted bug.
# A crash, a sanitizer report or a time-out all count as "caught"
# (cmake/expect_failure.cmake turns them into exit code 1 so WILL_FAIL sees them).
function(millrace_add_mutation_test)
  if(NOT MILLRACE_BUILD_MUTATION_TESTS)
    return()
  endif()
  cmake_parse_arguments(arg "" "TARGET;BUG;TIMEOUT" "ARGS" ${ARGN})
  set(name "${arg_TARGET}__bug_${arg_BUG}")
  get_target_property(sources ${arg_TARGET} SOURCES)
  get_target_property(source_dir ${arg_TARGET} SOURCE_DIR)
  set(abs_sources "")
  foreach(src IN LISTS sources)
    if(IS_ABSOLUTE "${src}")
      list(APPEND abs_sources "${src}")
    else()
      list(APPEND abs_sources "${source_dir}/${src}")
    endif()
  endforeach()
  get_target_property(libs ${arg_TARGET} LINK_LIBRARIES)
  get_target_property(incs ${arg_TARGET} INCLUDE_DIRECTORIES)
  add_executable(${name} ${abs_sources})
  target_link_libraries(${name} PRIVATE ${libs})
  if(incs)
    target_include_directories(${name} PRIVATE ${incs})
  endif()
  # The target's own definitions and options, read at generation time so that those set after
  # this call (a data directory, say) reach the mutant too.
  target_compile_definitions(${name} PRIVATE
    $<TARGET_PROPERTY:${arg_TARGET},COMPILE_DEFINITIONS>
    MILLRACE_PLANT_BUG=${arg_BUG} MILLRACE_PLANT_BUG_${arg_BUG}=1)
  target_compile_options(${name} PRIVATE $<TARGET_PROPERTY:${arg_TARGET},COMPILE_OPTIONS>)
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -DTIMEOUT=${arg_TIMEOUT}
            "-DCOMMAND=$<TARGET_FILE:${name}>;${arg_ARGS}"
            -P "${PROJECT_SOURCE_DIR}/cmake/expect_failure.cmake")
  math(EXPR outer_timeout "${arg_TIMEOUT} + 30")
  set_tests_properties(${name} PROPERTIES WILL_FAIL TRUE LABELS mutation TIMEOUT ${outer_timeout})
endfunction()

# ---------------------------------------------------------------------------
# Benchmarks and their peers.
# ---------------------------------------------------------------------------
# millrace_add_benchmark(NAME <name> SOURCES <src>... [PEERS boost concurrentqueue tbb sqlite])
# Peers are the libraries a benchmark compares against. Each found peer defines
# MILLRACE_HAVE_<PEER>=1; with MILLRACE_BENCH_REQUIRE_PEERS (the bench preset) a
# missing one stops the configure, so no comparison silently drops out.
function(millrace_find_peer peer out_target)
  set(target "")
  if(peer STREQUAL "boost")
    find_package(Boost 1.70 QUIET)
    if(Boost_FOUND)
      set(target Boost::headers)
    endif()
  elseif(peer STREQUAL "concurrentqueue")
    find_path(MILLRACE_CONCURRENTQUEUE_INCLUDE concurrentqueue/concurrentqueue.h)
    if(MILLRACE_CONCURRENTQUEUE_INCLUDE)
      if(NOT TARGET millrace_peer_concurrentqueue)
        add_library(millrace_peer_concurrentqueue INTERFACE)
        target_include_directories(millrace_peer_concurrentqueue SYSTEM INTERFACE
          "${MILLRACE_CONCURRENTQUEUE_INCLUDE}")
      endif()
      set(target millrace_peer_concurrentqueue)
    endif()
  elseif(peer STREQUAL "tbb")
    find_package(TBB QUIET)
    if(TBB_FOUND)
      set(target TBB::tbb)
    endif()
  elseif(peer STREQUAL "sqlite")
    find_package(SQLite3 QUIET)
    if(SQLite3_FOUND)
      set(target SQLite::SQLite3)
    endif()
  else()
    message(FATAL_ERROR "millrace: unknown benchmark peer '${peer}'")
  endif()
  if(NOT target AND MILLRACE_BENCH_REQUIRE_PEERS)
    message(FATAL_ERROR "millrace: benchmark peer '${peer}' is missing; run "
      "benchmarks/install_peers.sh (the bench preset requires every peer)")
  endif()
  set(${out_target} "${target}" PARENT_SCOPE)
endfunction()

function(millrace_add_benchmark)
  cmake_parse_arguments(arg "" "NAME" "SOURCES;PEERS;LIBRARIES" ${ARGN})
  add_executable(${arg_NAME} ${arg_SOURCES})
  target_link_libraries(${arg_NAME} PRIVATE millrace::millrace benchmark::benchmark ${arg_LIBRARIES})
  target_include_directories(${arg_NAME} PRIVATE "${PROJECT_SOURCE_DIR}/benchmarks")
  foreach(peer IN LISTS arg_PEERS)
    millrace_find_peer(${peer} peer_target)
    if(peer_target)
      string(TOUPPER "${peer}" upper)
      target_link_libraries(${arg_NAME} PRIVATE ${peer_target})
      target_compile_definitions(${arg_NAME} PRIVATE MILLRACE_HAVE_${upper}=1)
    endif()
  endforeach()
endfunction()

# ---------------------------------------------------------------------------
# Fuzz targets (clang, libFuzzer). Each gets a CTest run of a fixed number of
# inputs, and each BUG a WILL_FAIL run of the same target with that bug planted.
# ---------------------------------------------------------------------------
# millrace_add_fuzz(NAME <name> SOURCES <src>... [RUNS <n>] [MAX_LEN <n>] [BUGS <bug>...]
#                   [BUG_RUNS <n>])
set(MILLRACE_FUZZ_RUNS 200000 CACHE STRING "Inputs each fuzz target runs under CTest")
function(millrace_add_fuzz)
  cmake_parse_arguments(arg "" "NAME;RUNS;MAX_LEN;BUG_RUNS" "SOURCES;BUGS" ${ARGN})
  if(NOT arg_RUNS)
    set(arg_RUNS ${MILLRACE_FUZZ_RUNS})
  endif()
  if(NOT arg_MAX_LEN)
    set(arg_MAX_LEN 4096)
  endif()
  if(NOT arg_BUG_RUNS)
    set(arg_BUG_RUNS 2000000)
  endif()
  set(flags -runs=${arg_RUNS} -seed=1 -max_len=${arg_MAX_LEN} -print_final_stats=1)
  add_executable(${arg_NAME} ${arg_SOURCES})
  target_link_libraries(${arg_NAME} PRIVATE millrace::millrace)
  target_compile_options(${arg_NAME} PRIVATE -fsanitize=fuzzer)
  target_link_options(${arg_NAME} PRIVATE -fsanitize=fuzzer)
  add_test(NAME ${arg_NAME} COMMAND ${arg_NAME} ${flags})
  set_tests_properties(${arg_NAME} PROPERTIES LABELS fuzz TIMEOUT 900)
  foreach(bug IN LISTS arg_BUGS)
    set(name "${arg_NAME}__bug_${bug}")
    add_executable(${name} ${arg_SOURCES})
    target_link_libraries(${name} PRIVATE millrace::millrace)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_compile_definitions(${name} PRIVATE MILLRACE_PLANT_BUG=${bug} MILLRACE_PLANT_BUG_${bug}=1)
    add_test(NAME ${name}
      COMMAND ${CMAKE_COMMAND} -DTIMEOUT=600
              "-DCOMMAND=$<TARGET_FILE:${name}>;-runs=${arg_BUG_RUNS};-seed=1;-max_len=${arg_MAX_LEN}"
              -P "${PROJECT_SOURCE_DIR}/cmake/expect_failure.cmake")
    set_tests_properties(${name} PROPERTIES WILL_FAIL TRUE LABELS "fuzz;mutation" TIMEOUT 660)
  endforeach()
endfunction()

# Per-component registration: each component keeps its own <dir>/<component>.cmake,
# so components are added without touching a shared list.
macro(millrace_include_fragments dir)
  file(GLOB fragments CONFIGURE_DEPENDS "${dir}/*.cmake")
  list(SORT fragments)
  foreach(fragment IN LISTS fragments)
    include("${fragment}")
  endforeach()
endmacro()
