# route/: the routers. route_test holds the functional and statistical tests;
# route_stress_test runs readers on snapshots while a writer changes the node set.
millrace_add_test(NAME route_test SOURCES route/route_test.cpp TIMEOUT 300)
millrace_add_test(NAME route_stress_test SOURCES route/route_stress_test.cpp LABELS stress TIMEOUT 300)
# Planted bugs, each caught by a focused slice of route_test:
#  - a ring lookup one point too far along the ring (reference lookup);
#  - bounded_load's cap as a naive ceil of the floating-point product (11.000000000000002 -> 12);
#  - a moved-from router still publishing its old table to try_snapshot().
millrace_add_mutation_test(TARGET route_test BUG ring_off_by_one ARGS --gtest_filter=Ring.MatchesReferenceLookup)
millrace_add_mutation_test(TARGET route_test BUG bounded_cap_rounding ARGS --gtest_filter=BoundedLoad.CapNeverRoundsUp)
millrace_add_mutation_test(TARGET route_test BUG publisher_move_keeps_source ARGS --gtest_filter=*MovedFromIsEmpty*)
