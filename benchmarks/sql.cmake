# sql_store_bench: claim+complete throughput of sqlite_store / postgres_store against the loop
# a user would write on the same database (opt-in: needs both stores).
if(MILLRACE_WITH_SQLITE AND MILLRACE_WITH_POSTGRES)
  millrace_add_benchmark(NAME sql_store_bench SOURCES sql_store_bench.cpp
    LIBRARIES millrace::sqlite_store millrace::postgres_store)
endif()
