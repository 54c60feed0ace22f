# sched: the scheduler's lock-free inbox against a model; the planted bug drops the last node
# of a run and must be found from seed 1.
millrace_add_fuzz(NAME sched_inbox_fuzz SOURCES sched_inbox.cpp MAX_LEN 512 RUNS 200000
                  BUGS inbox_lost_item BUG_RUNS 100000)
