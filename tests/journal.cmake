# journal_store (issue 10): one functional binary; the mutation runs reuse it with a filter.
millrace_add_test(NAME journal_test SOURCES journal/log_test.cpp TIMEOUT 120)
