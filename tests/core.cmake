# core/: unique_function, padded (cache.hpp) and hash64.
millrace_add_test(NAME core_test SOURCES core/unique_function_test.cpp core/cache_test.cpp core/hash_test.cpp)
# The allocation-counting test proves the small-buffer rule; the planted bug shrinks the
# inline buffer so a six-pointer lambda allocates.
millrace_add_mutation_test(TARGET core_test BUG unique_function_small_buffer
  ARGS --gtest_filter=UniqueFunction.*)
# hash64 without its final mix: high input bits no longer reach low output bits (avalanche).
millrace_add_mutation_test(TARGET core_test BUG hash64_no_final_mix ARGS --gtest_filter=Hash64.IntegerFullAvalanche)
