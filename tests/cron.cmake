# cron expressions (include/millrace/sched/cron.hpp).
# cron_test: the table, errors, to_string, equality, the never decision, the clock's range.
# cron_random_test: 100k random expressions (scaled) against the brute-force reference.
millrace_add_test(NAME cron_test SOURCES cron/cron_test.cpp cron/cron_random_test.cpp TIMEOUT 120)
# Planted bugs, each caught by the table alone (a gtest filter keeps the runs to seconds).
millrace_add_mutation_test(TARGET cron_test BUG cron_or_as_and ARGS --gtest_filter=cron_table.*)
millrace_add_mutation_test(TARGET cron_test BUG cron_month_end_off_by_one ARGS --gtest_filter=cron_table.*)
