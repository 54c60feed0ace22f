# sched: the scheduler's lock-free inbox against a model; the planted bug drops the last node
# of a run and must be found from seed 1.
millrace_add_fuzz(NAME sched_inbox_fuzz SOURCES sched_inbox.cpp MAX_LEN 512 RUNS 200000
                  BUGS inbox_lost_item BUG_RUNS 100000)
# cron expressions: parse/to_string/next_after against the reference model of tests/sched/cron_reference.hpp.
# The planted OR-as-AND day rule must be found from seed 1.
millrace_add_fuzz(NAME cron_parse_fuzz SOURCES cron_parse.cpp MAX_LEN 256 RUNS 200000
                  BUGS cron_or_as_and cron_month_end_off_by_one BUG_RUNS 200000)
