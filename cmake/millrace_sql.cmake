# The opt-in SQL stores: INTERFACE targets that add a database client library to the
# header-only core, so the core itself keeps no runtime dependency.
#   millrace::sqlite_store   (MILLRACE_WITH_SQLITE):   SQLite 3 (Debian: libsqlite3-dev)
#   millrace::postgres_store (MILLRACE_WITH_POSTGRES): libpq      (Debian: libpq-dev)
option(MILLRACE_WITH_SQLITE "Provide millrace::sqlite_store (needs SQLite 3)" OFF)
option(MILLRACE_WITH_POSTGRES "Provide millrace::postgres_store (needs libpq)" OFF)

set(millrace_sql_targets "")
if(MILLRACE_WITH_SQLITE)
  find_package(SQLite3 REQUIRED)
  add_library(millrace_sqlite_store INTERFACE)
  add_library(millrace::sqlite_store ALIAS millrace_sqlite_store)
  set_target_properties(millrace_sqlite_store PROPERTIES EXPORT_NAME sqlite_store)
  target_link_libraries(millrace_sqlite_store INTERFACE millrace::millrace SQLite::SQLite3)
  list(APPEND millrace_sql_targets millrace_sqlite_store)
endif()
if(MILLRACE_WITH_POSTGRES)
  find_package(PostgreSQL REQUIRED)
  add_library(millrace_postgres_store INTERFACE)
  add_library(millrace::postgres_store ALIAS millrace_postgres_store)
  set_target_properties(millrace_postgres_store PROPERTIES EXPORT_NAME postgres_store)
  target_link_libraries(millrace_postgres_store INTERFACE millrace::millrace PostgreSQL::PostgreSQL)
  list(APPEND millrace_sql_targets millrace_postgres_store)
endif()

if(MILLRACE_INSTALL AND millrace_sql_targets)
  # Exported with the core; a consumer's find_package(millrace) finds the client libraries
  # again (millraceConfig.cmake: find_dependency(SQLite3) / find_dependency(PostgreSQL)).
  install(TARGETS ${millrace_sql_targets} EXPORT millraceTargets)
endif()
