// Claim+complete throughput of the SQL stores against the loop a user would write on the
// same database, batched the same way, with 1, 4 and 16 workers and batches of 1 and 100:
//   postgres_store vs a SKIP LOCKED loop (claim n with one query, complete them by id in one
//     statement, an index on (queue, priority DESC, run_at));
//   sqlite_store vs a plain SQLite loop (BEGIN IMMEDIATE, select n, mark them, commit;
//     complete them by id in one statement).
// PostgreSQL runs read MILLRACE_TEST_PG (skipped when unset; .ci/postgres.sh sets it).
// Each run drains a queue filled beforehand (not timed); items_per_second = jobs completed.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include "millrace/store/postgres_store.hpp"
#include "millrace/store/sqlite_store.hpp"

namespace {

using namespace millrace;
using clk = std::chrono::steady_clock;

const job_time t0 = job_time{} + std::chrono::seconds{1'700'000'000};

std::string pg_conninfo() {
    const char* v = std::getenv("MILLRACE_TEST_PG");
    return v == nullptr ? std::string() : std::string(v);
}

std::string scratch_file() {
    static int n = 0;
    const char* t = std::getenv("TMPDIR");
    std::string dir = std::string((t != nullptr && *t != '\0') ? t : "/tmp") + "/millrace-sqlbench-" +
                      std::to_string(::getpid()) + "-" + std::to_string(n++);
    std::filesystem::create_directories(dir);
    return dir + "/jobs.db";
}

std::size_t jobs_for(std::int64_t batch, std::int64_t workers) {
    return static_cast<std::size_t>(batch == 1 ? 200 * workers : 3000 * workers);
}

// Runs `workers` threads of `body(worker)` (each returns jobs done) and reports the rate.
template <class Body>
void drive(benchmark::State& state, int workers, std::size_t jobs, Body&& body) {
    std::atomic<std::size_t> done{0};
    const auto start = clk::now();
    std::vector<std::thread> ts;
    for (int w = 0; w < workers; ++w)
        ts.emplace_back([&, w] { done += body(w); });
    for (auto& t : ts)
        t.join();
    const double secs = std::chrono::duration<double>(clk::now() - start).count();
    state.SetIterationTime(secs);
    if (done.load() != jobs) state.SkipWithError("not every job was completed");
    state.counters["items_per_second"] = static_cast<double>(done.load()) / secs;
}

template <class Store>
void fill_store(Store& s, std::size_t n) {
    std::vector<job_record> batch;
    for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(job_record::make("q", "t", payload_from("{}"), t0));
        if (batch.size() == 1000 || i + 1 == n) {
            s.enqueue_batch(batch);
            batch.clear();
        }
    }
}

template <class Store>
std::size_t store_worker(Store& s, std::size_t batch) {
    std::size_t done = 0;
    std::vector<lease_ref> refs;
    for (;;) {
        auto c = s.claim("q", batch, t0, t0 + std::chrono::hours{1}, "w");
        if (c.empty()) return done;
        refs.clear();
        for (const auto& j : c)
            refs.push_back({j.id(), j.token});
        for (bool ok : s.complete_many(refs, t0))
            done += ok ? 1 : 0;
    }
}

// ---- PostgreSQL ----

void BM_pg_store(benchmark::State& state) {
    if (pg_conninfo().empty()) return state.SkipWithError("MILLRACE_TEST_PG is not set");
    const auto batch = state.range(0);
    const auto workers = state.range(1);
    for (auto _ : state) {
        state.PauseTiming();
        postgres_options o;
        o.schema = "bench_store_" + std::to_string(::getpid()) + "_" + std::to_string(batch) + "_" +
                   std::to_string(workers);
        o.pool_size = static_cast<std::size_t>(workers);
        {
            detail::pg_conn c(pg_conninfo());
            c.exec("DROP SCHEMA IF EXISTS " + o.schema + " CASCADE");
        }
        postgres_store s(pg_conninfo(), o);
        const auto n = jobs_for(batch, workers);
        fill_store(s, n);
        state.ResumeTiming();
        drive(state, static_cast<int>(workers), n,
              [&](int) { return store_worker(s, static_cast<std::size_t>(batch)); });
    }
}

// The loop a user writes: one table, a DESC index matching the ORDER BY, claim n with one
// query, complete them by id in one statement.
void BM_pg_user_loop(benchmark::State& state) {
    if (pg_conninfo().empty()) return state.SkipWithError("MILLRACE_TEST_PG is not set");
    const auto batch = state.range(0);
    const auto workers = state.range(1);
    for (auto _ : state) {
        state.PauseTiming();
        const auto n = jobs_for(batch, workers);
        {
            detail::pg_conn c(pg_conninfo());
            c.exec("DROP TABLE IF EXISTS bench_user_jobs");
            c.exec(
                "CREATE TABLE bench_user_jobs(id bigserial PRIMARY KEY, queue text NOT NULL, priority int "
                "NOT NULL"
                " DEFAULT 0, run_at bigint NOT NULL, state text NOT NULL DEFAULT 'ready', payload bytea)");
            c.exec(
                "CREATE INDEX bench_user_jobs_claim ON bench_user_jobs(queue, priority DESC, run_at)"
                " WHERE state='ready'");
            c.exec(
                "INSERT INTO bench_user_jobs(queue, run_at, payload) SELECT 'q', 0, '\\x7b7d' FROM "
                "generate_series(1, " +
                std::to_string(n) + ")");
            c.exec("ANALYZE bench_user_jobs");
        }
        std::vector<std::unique_ptr<detail::pg_conn>> conns;
        for (int w = 0; w < workers; ++w)
            conns.push_back(std::make_unique<detail::pg_conn>(pg_conninfo()));
        state.ResumeTiming();
        drive(state, static_cast<int>(workers), n, [&](int w) {
            auto& c = *conns[static_cast<std::size_t>(w)];
            std::size_t done = 0;
            const std::string lim = std::to_string(batch);
            for (;;) {
                auto r = c.exec(
                    "UPDATE bench_user_jobs j SET state='running' FROM (SELECT id FROM bench_user_jobs WHERE "
                    "queue='q'"
                    " AND state='ready' ORDER BY priority DESC, run_at LIMIT " +
                    lim + " FOR UPDATE SKIP LOCKED) p WHERE j.id=p.id RETURNING j.id");
                if (r.rows() == 0) return done;
                std::string ids = "{";
                for (int i = 0; i < r.rows(); ++i) {
                    if (i != 0) ids += ',';
                    ids += r.text(i, 0);
                }
                ids += "}";
                auto u =
                    c.exec("UPDATE bench_user_jobs SET state='done' WHERE state='running' AND id = ANY('" +
                           ids + "'::bigint[])");
                done += u.affected();
            }
        });
    }
}

// ---- SQLite ----

void BM_sqlite_store(benchmark::State& state) {
    const auto batch = state.range(0);
    const auto workers = state.range(1);
    for (auto _ : state) {
        state.PauseTiming();
        sqlite_store s(scratch_file());
        const auto n = jobs_for(batch, workers);
        fill_store(s, n);
        state.ResumeTiming();
        drive(state, static_cast<int>(workers), n,
              [&](int) { return store_worker(s, static_cast<std::size_t>(batch)); });
    }
}

void check(int rc, sqlite3* db) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw std::runtime_error(sqlite3_errmsg(db));
}

// The plain loop: one connection per worker, busy_timeout, BEGIN IMMEDIATE; select n;
// mark them; commit; then complete them by id in one statement.
void BM_sqlite_user_loop(benchmark::State& state) {
    const auto batch = state.range(0);
    const auto workers = state.range(1);
    for (auto _ : state) {
        state.PauseTiming();
        const auto path = scratch_file();
        const auto n = jobs_for(batch, workers);
        {
            sqlite3* db = nullptr;
            check(sqlite3_open(path.c_str(), &db), db);
            check(sqlite3_exec(db,
                               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                               "CREATE TABLE jobs(id INTEGER PRIMARY KEY, queue TEXT, priority INT DEFAULT 0,"
                               " run_at INT, state TEXT DEFAULT 'ready', payload BLOB);"
                               "CREATE INDEX jobs_claim ON jobs(queue, state, priority DESC, run_at);",
                               nullptr, nullptr, nullptr),
                  db);
            check(sqlite3_exec(
                      db,
                      ("BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<" +
                       std::to_string(n) +
                       ") INSERT INTO jobs(queue, run_at, payload) SELECT 'q', 0, x'7b7d' FROM c; COMMIT;")
                          .c_str(),
                      nullptr, nullptr, nullptr),
                  db);
            sqlite3_close(db);
        }
        state.ResumeTiming();
        drive(state, static_cast<int>(workers), n, [&](int) {
            sqlite3* db = nullptr;
            check(sqlite3_open(path.c_str(), &db), db);
            sqlite3_busy_timeout(db, 60000);
            sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr);
            std::size_t done = 0;
            const std::string sel =
                "SELECT id FROM jobs WHERE queue='q' AND state='ready' ORDER BY priority DESC, run_at "
                "LIMIT " +
                std::to_string(batch);
            for (;;) {
                std::vector<std::int64_t> ids;
                check(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), db);
                sqlite3_exec(
                    db, sel.c_str(),
                    [](void* p, int, char** v, char**) {
                        static_cast<std::vector<std::int64_t>*>(p)->push_back(std::atoll(v[0]));
                        return 0;
                    },
                    &ids, nullptr);
                std::string list;
                for (auto id : ids) {
                    if (!list.empty()) list += ',';
                    list += std::to_string(id);
                }
                if (!ids.empty())
                    check(sqlite3_exec(db,
                                       ("UPDATE jobs SET state='running' WHERE id IN (" + list + ")").c_str(),
                                       nullptr, nullptr, nullptr),
                          db);
                check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db);
                if (ids.empty()) break;
                check(sqlite3_exec(
                          db,
                          ("UPDATE jobs SET state='done' WHERE state='running' AND id IN (" + list + ")")
                              .c_str(),
                          nullptr, nullptr, nullptr),
                      db);
                done += static_cast<std::size_t>(sqlite3_changes(db));
            }
            sqlite3_close(db);
            return done;
        });
    }
}

void args(benchmark::internal::Benchmark* b) {
    for (int batch : {1, 100})
        for (int w : {1, 4, 16})
            b->Args({batch, w});
    b->ArgNames({"batch", "workers"})->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_pg_store)->Name("sql/pg/store")->Apply(args);
BENCHMARK(BM_pg_user_loop)->Name("sql/pg/user_loop")->Apply(args);
BENCHMARK(BM_sqlite_store)->Name("sql/sqlite/store")->Apply(args);
BENCHMARK(BM_sqlite_user_loop)->Name("sql/sqlite/user_loop")->Apply(args);

}  // namespace

BENCHMARK_MAIN();
