# cron expressions: parse/to_string/next_after against the reference model of tests/cron.
# The planted OR-as-AND day rule must be found from seed 1.
millrace_add_fuzz(NAME cron_parse_fuzz SOURCES cron_parse.cpp MAX_LEN 256 RUNS 200000
                  BUGS cron_or_as_and cron_month_end_off_by_one BUG_RUNS 200000)
