millrace_add_test(NAME core_test SOURCES core/unique_function_test.cpp core/cache_test.cpp)
# The allocation-counting test proves the small-buffer rule; the planted bug shrinks the
# inline buffer so a six-pointer lambda allocates.
millrace_add_mutation_test(TARGET core_test BUG unique_function_small_buffer)
