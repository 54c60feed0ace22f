millrace_add_benchmark(NAME store_bench SOURCES store_bench.cpp)
