# Random add/remove/route/assign/release sequences against a reference model. The planted
# ring_off_by_one bug makes the ring disagree with its brute-force reference.
millrace_add_fuzz(NAME router_ops_fuzz SOURCES router_ops.cpp MAX_LEN 512 RUNS 60000
                  BUGS ring_off_by_one BUG_RUNS 100000)
