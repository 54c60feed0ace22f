# memory_store (one shard) against the model of tests/store/model.hpp; each planted bug of
# tests/store.cmake must be found from seed 1.
millrace_add_fuzz(NAME store_fuzz SOURCES store.cpp MAX_LEN 2048 RUNS 100000
  BUGS store_skip_token_check store_requeue_forgets_attempt store_release_counts_attempt
       store_advance_schedule_not_atomic BUG_RUNS 200000)
