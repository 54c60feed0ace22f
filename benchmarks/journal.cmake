# journal_store against SQLite (WAL, synchronous=FULL), durable, 64-byte payloads.
millrace_add_benchmark(NAME journal_bench SOURCES journal_bench.cpp PEERS sqlite)
