# queue/: mpmc_queue and spsc_queue against std::mutex + std::deque and the Debian peers.
millrace_add_benchmark(NAME queue_bench SOURCES queue_bench.cpp PEERS boost concurrentqueue tbb)
