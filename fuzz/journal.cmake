# journal_store recovery over arbitrary and structure-aware segment bytes, one or several
# segments, with and without repair: never a crash, a hang or a sanitizer report; an opened
# store works and reopens to the same state.
millrace_add_fuzz(NAME journal_replay_fuzz SOURCES journal_replay.cpp MAX_LEN 4096 RUNS 100000)
