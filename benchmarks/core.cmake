millrace_add_benchmark(NAME core_bench SOURCES core_bench.cpp)
