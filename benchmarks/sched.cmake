# sched: sharded_scheduler against a std::mutex + std::priority_queue + std::condition_variable
# timer thread, in the same binary.
millrace_add_benchmark(NAME scheduler_bench SOURCES scheduler_bench.cpp)
