millrace_add_fuzz(NAME tick_convert_fuzz SOURCES tick_convert.cpp MAX_LEN 64
                  BUGS tick_round_down)
# unique_function: assign / move / swap / reset / call on four slots against a model of what
# each holds (results, empty after a move, captures destroyed once, inline storage). The
# planted small-buffer bug (six pointers no longer inline) must be found from seed 1.
millrace_add_fuzz(NAME unique_function_fuzz SOURCES unique_function_ops.cpp MAX_LEN 512 RUNS 100000
                  BUGS unique_function_small_buffer BUG_RUNS 100000)
# hash64: determinism, equal keys equal hashes across the overloads, no integer collisions,
# avalanche sanity. The planted mixer without its final round must be found from seed 1.
millrace_add_fuzz(NAME hash64_fuzz SOURCES hash64.cpp MAX_LEN 256 RUNS 100000
                  BUGS hash64_no_final_mix BUG_RUNS 100000)
