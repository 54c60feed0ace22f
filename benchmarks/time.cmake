# time/: the timing wheel against std::priority_queue (lazy cancel) and std::multimap.
millrace_add_benchmark(NAME timer_bench SOURCES timer_bench.cpp)
