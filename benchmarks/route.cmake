# route/: lookups per router at N = 10, 100, 1000, hash64 against std::hash and multiply-shift,
# rebuild after one add, and balance/disruption counters. No peer library: the baselines
# (a plain rendezvous loop, std::hash, multiply-shift) are in the binary itself.
millrace_add_benchmark(NAME route_bench SOURCES route_bench.cpp)
