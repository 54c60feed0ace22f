# Random operation sequences on token_bucket under a manual clock against an exact model.
millrace_add_fuzz(NAME token_bucket_ops_fuzz SOURCES token_bucket_ops.cpp MAX_LEN 512 RUNS 400000
                  BUGS bucket_extra_token bucket_lost_refund BUG_RUNS 200000)
