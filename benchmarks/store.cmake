# store_bench: memory_store against a std::mutex + std::multimap store, and complete_many
# against single completes on memory_store and journal_store (syncs per batch printed).
millrace_add_benchmark(NAME store_bench SOURCES store_bench.cpp)
