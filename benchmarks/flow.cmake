millrace_add_benchmark(NAME flow_bench SOURCES flow_bench.cpp)
