# dispatch/: the dispatcher against a std::mutex + condition variable pool, boost::asio::thread_pool and oneTBB.
millrace_add_benchmark(NAME dispatch_bench SOURCES dispatch_bench.cpp PEERS boost tbb)
