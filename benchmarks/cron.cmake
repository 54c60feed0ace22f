# cron expressions: parse, to_string and next_after against a minute-by-minute stepper.
millrace_add_benchmark(NAME cron_bench SOURCES cron_bench.cpp)
