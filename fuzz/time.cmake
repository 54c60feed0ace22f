# time/: differential fuzzing of the timing wheel against a std::multimap model. Each planted
# bug (see tests/time.cmake) must be found from seed 1 within BUG_RUNS inputs.
millrace_add_fuzz(NAME timing_wheel_ops_fuzz SOURCES timing_wheel_ops.cpp MAX_LEN 2048 RUNS 100000
                  BUGS cascade_off_by_one stale_cancel BUG_RUNS 200000)
