# Random operation sequences on a manual-mode dispatcher against a model (admission, delays to
# the nanosecond, cancel, per-key order, depth); the planted bugs fire delays 1 ns early and
# keep a cancelled delayed task's capacity unit until it falls due.
millrace_add_fuzz(NAME dispatch_manual_fuzz SOURCES dispatch_manual.cpp MAX_LEN 512 RUNS 100000
                  BUGS delay_one_ns_early delayed_cancel_keeps_slot BUG_RUNS 200000)
