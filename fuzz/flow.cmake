# Random operation sequences on token_bucket under a manual clock against an exact model.
millrace_add_fuzz(NAME token_bucket_ops_fuzz SOURCES token_bucket_ops.cpp MAX_LEN 512 RUNS 400000
                  BUGS bucket_extra_token bucket_lost_refund BUG_RUNS 200000)
# keyed_limiter against one never-evicted token_bucket per key (the key bound not reached):
# identical decisions and balances. The planted dropped refund must be found from seed 1.
millrace_add_fuzz(NAME keyed_limiter_fuzz SOURCES keyed_limiter_ops.cpp MAX_LEN 512 RUNS 100000
                  BUGS keyed_lost_refund BUG_RUNS 100000)
# The admission policies and all_of against a model of their rules with exact token counts.
# The planted all_of that keeps the earlier policies' tokens must be found from seed 1.
millrace_add_fuzz(NAME admission_fuzz SOURCES admission_ops.cpp MAX_LEN 512 RUNS 100000
                  BUGS all_of_lost_refund BUG_RUNS 100000)
