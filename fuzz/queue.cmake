# queue/: operation sequences against a std::deque model, for both queues. The planted
# lost_item bug (a producer overwriting an unconsumed slot) must be found from seed 1.
millrace_add_fuzz(NAME queue_ops_fuzz SOURCES queue_ops.cpp MAX_LEN 512 RUNS 100000
                  BUGS lost_item BUG_RUNS 200000)
