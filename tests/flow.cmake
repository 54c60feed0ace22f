# flow/: token_bucket, keyed_limiter, admission policies.
# flow_test: every functional test (manual clock, deterministic, seconds in Debug).
millrace_add_test(NAME flow_test SOURCES flow/token_bucket_test.cpp flow/keyed_limiter_test.cpp
                  flow/admission_test.cpp TIMEOUT 120)
# flow_stress_test: threads hammering real-clock and manual-clock buckets (scaled).
millrace_add_test(NAME flow_stress_test SOURCES flow/flow_stress_test.cpp LABELS stress TIMEOUT 300)

# Mutation tests: each planted bug must turn a focused part of flow_test red.
millrace_add_mutation_test(TARGET flow_test BUG bucket_extra_token
                           ARGS --gtest_filter=TokenBucket.StartsFullAndRefillsExactly:TokenBucket.RandomSimulationNeverExceedsBound)
millrace_add_mutation_test(TARGET flow_test BUG bucket_lost_refund
                           ARGS --gtest_filter=TokenBucket.Refund*)
millrace_add_mutation_test(TARGET flow_test BUG all_of_lost_refund
                           ARGS --gtest_filter=Admission.*)
millrace_add_mutation_test(TARGET flow_test BUG keyed_lost_refund
                           ARGS --gtest_filter=KeyedLimiter.*Refund*)
