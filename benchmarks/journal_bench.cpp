// Durable job storage: millrace::journal_store against SQLite (WAL, synchronous=FULL, one
// transaction per call, the same table shape), side by side in one binary, 64-byte payloads.
//
//   journal/enqueue_tN/<impl>     durable enqueue from N caller threads (1, 4, 16, 64)
//   journal/batch1000/<impl>      enqueue_batch of 1000 jobs, one durable commit per batch
//     journal_store: segments preallocated with posix_fallocate (the default);
//     journal_store_zeros: preallocated by writing zeros; journal_store_noprealloc: appends
//     that grow the file (and make each fdatasync write its size)
//   journal/claim_complete/<impl> claim one job, complete it (two durable calls per item)
//   journal/recover_1M/journal_store   open a journal holding 1M live jobs
//   journal/recover_1M_rss/journal_store   the same in a fresh process that only opens it:
//     peak RSS during recovery against RSS after open (counters, MiB, and their ratio)
//   journal/compact_1M/journal_store   compaction of that journal
//
// Before anything runs the binary measures fdatasync on the benchmark directory
// ($MILLRACE_BENCH_DIR, else $TMPDIR, else /tmp) and prints it: 128 bytes appended, 128
// bytes overwritten in place (what SQLite's reused WAL and a preallocated segment pay), and
// the ~220 KB of one 1000-job batch overwritten in place: the disk's ceiling for batches.
// When a sync takes under 50 us the file system is RAM-backed (or lies), a durable benchmark
// measures nothing, and every durable case is skipped with that error instead of reporting.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include "millrace/store/journal_store.hpp"

// The SQLite peer: what a user would otherwise embed for durable jobs: SQLite in WAL mode
// with synchronous=FULL (checked after it is set), one transaction per call, a jobs table of
// the same shape as millrace::job_record. In WAL mode SQLite overwrites its WAL from the
// start after each checkpoint, so its commits sync overwritten space, not a growing file.

#if defined(MILLRACE_HAVE_SQLITE)
#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace millrace::bench {

class sqlite_jobs {
public:
    explicit sqlite_jobs(const std::string& path) {
        if (sqlite3_open_v2(path.c_str(), &db_,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK)
            throw std::runtime_error("sqlite open failed: " + path);
        sqlite3_busy_timeout(db_, 60000);
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=FULL");
        // What the peer really runs with (a silently ignored PRAGMA would make it not sync).
        if (pragma_text("PRAGMA journal_mode") != "wal" || pragma_text("PRAGMA synchronous") != "2")
            throw std::runtime_error("sqlite peer: not in WAL mode with synchronous=FULL");
        exec(
            "CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, queue TEXT NOT NULL, "
            "type_name TEXT NOT NULL, payload BLOB, priority INTEGER, run_at INTEGER, "
            "attempts INTEGER, max_attempts INTEGER, dedup_key TEXT, partition_key TEXT, "
            "state INTEGER, created_at INTEGER, updated_at INTEGER, lease_until INTEGER, "
            "lease_token INTEGER, worker TEXT, last_error TEXT)");
        exec(
            "CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (queue, state, priority DESC, "
            "run_at, id)");
        insert_ = prepare(
            "INSERT INTO jobs (queue, type_name, payload, priority, run_at, attempts, "
            "max_attempts, dedup_key, partition_key, state, created_at, updated_at, "
            "lease_until, lease_token, worker, last_error) VALUES (?1, ?2, ?3, 0, 0, 0, 5, "
            "NULL, NULL, 1, 0, 0, 0, 0, NULL, NULL)");
        pick_ = prepare(
            "SELECT id FROM jobs WHERE queue = ?1 AND state = 1 AND run_at <= ?2 "
            "ORDER BY priority DESC, run_at, id LIMIT 1");
        lease_ = prepare(
            "UPDATE jobs SET state = 2, attempts = attempts + 1, lease_until = ?2, "
            "lease_token = ?3, worker = ?4 WHERE id = ?1");
        complete_ = prepare(
            "UPDATE jobs SET state = 3, updated_at = ?3 WHERE id = ?1 AND lease_token = ?2 "
            "AND state = 2");
    }
    sqlite_jobs(const sqlite_jobs&) = delete;
    sqlite_jobs& operator=(const sqlite_jobs&) = delete;
    ~sqlite_jobs() {
        for (sqlite3_stmt* s : {insert_, pick_, lease_, complete_})
            sqlite3_finalize(s);
        sqlite3_close(db_);
    }

    /// One durable insert in its own transaction.
    void enqueue(const std::string& queue, const std::string& payload) {
        bind_insert(queue, payload);
        step_done(insert_);
    }

    /// n inserts in one transaction.
    void enqueue_batch(const std::string& queue, const std::string& payload, int n) {
        exec("BEGIN IMMEDIATE");
        for (int i = 0; i < n; ++i) {
            bind_insert(queue, payload);
            step_done(insert_);
        }
        exec("COMMIT");
    }

    /// Claims the best ready job (one transaction), then completes it (another).
    bool claim_complete(const std::string& queue, std::int64_t token) {
        exec("BEGIN IMMEDIATE");
        sqlite3_bind_text(pick_, 1, queue.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(pick_, 2, 1);
        const int rc = sqlite3_step(pick_);
        if (rc != SQLITE_ROW) {
            sqlite3_reset(pick_);
            exec("COMMIT");
            return false;
        }
        const std::int64_t id = sqlite3_column_int64(pick_, 0);
        sqlite3_reset(pick_);
        sqlite3_bind_int64(lease_, 1, id);
        sqlite3_bind_int64(lease_, 2, 1000000);
        sqlite3_bind_int64(lease_, 3, token);
        sqlite3_bind_text(lease_, 4, "worker", -1, SQLITE_STATIC);
        step_done(lease_);
        exec("COMMIT");
        sqlite3_bind_int64(complete_, 1, id);
        sqlite3_bind_int64(complete_, 2, token);
        sqlite3_bind_int64(complete_, 3, 2);
        step_done(complete_);
        return sqlite3_changes(db_) == 1;
    }

    /// The first column of the first row of `sql`, as text.
    std::string pragma_text(const char* sql) {
        sqlite3_stmt* s = prepare(sql);
        std::string v;
        if (sqlite3_step(s) == SQLITE_ROW) {
            const unsigned char* t = sqlite3_column_text(s, 0);
            if (t != nullptr) v = reinterpret_cast<const char*>(t);
        }
        sqlite3_finalize(s);
        return v;
    }

private:
    void bind_insert(const std::string& queue, const std::string& payload) {
        sqlite3_bind_text(insert_, 1, queue.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(insert_, 2, "bench", -1, SQLITE_STATIC);
        sqlite3_bind_blob(insert_, 3, payload.data(), static_cast<int>(payload.size()), SQLITE_TRANSIENT);
    }
    void step_done(sqlite3_stmt* s) {
        const int rc = sqlite3_step(s);
        sqlite3_reset(s);
        if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
    }
    void exec(const char* sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
            std::string m = err ? err : "?";
            sqlite3_free(err);
            throw std::runtime_error("sqlite: " + m + " in " + sql);
        }
    }
    sqlite3_stmt* prepare(const char* sql) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db_));
        return s;
    }

    sqlite3* db_ = nullptr;
    sqlite3_stmt* insert_ = nullptr;
    sqlite3_stmt* pick_ = nullptr;
    sqlite3_stmt* lease_ = nullptr;
    sqlite3_stmt* complete_ = nullptr;
};

}  // namespace millrace::bench
#endif

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

std::string bench_root() {
    for (const char* var : {"MILLRACE_BENCH_DIR", "TMPDIR"}) {
        const char* v = std::getenv(var);
        if (v != nullptr && *v != '\0') return v;
    }
    return "/tmp";
}

// A fresh directory for one benchmark, removed afterwards.
struct scratch {
    std::string path;
    scratch() {
        std::string p = bench_root() + "/millrace-journal-bench-XXXXXX";
        if (::mkdtemp(p.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        path = p;
    }
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    ~scratch() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// Median latency of writing `n` bytes + fdatasync in the benchmark directory: appended
// (the file grows: the sync also writes its size) or overwriting written space.
double measure_fdatasync_us(std::size_t n, bool overwrite) {
    scratch d;
    const std::string f = d.path + "/probe";
    const int fd = ::open(f.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 0;
    const std::vector<char> buf(n, 1);
    constexpr int rounds = 100;
    if (overwrite) {  // the space exists and is synced before the timed writes
        for (int i = 0; i < rounds; ++i)
            if (::pwrite(fd, buf.data(), n, static_cast<off_t>(i * n)) != static_cast<ssize_t>(n)) break;
        (void)::fsync(fd);
    }
    std::vector<double> us;
    for (int i = 0; i < rounds; ++i) {
        const auto t0 = clock_type::now();
        if (::pwrite(fd, buf.data(), n, static_cast<off_t>(i * n)) != static_cast<ssize_t>(n)) break;
        (void)::fdatasync(fd);
        us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    }
    ::close(fd);
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[us.size() / 2];
}

// The bytes one 1000-job batch of the benchmark's jobs writes.
constexpr std::size_t batch_bytes = 1000 * 220;

struct sync_probe {
    double append_us = 0;       // 128 B appended + fdatasync
    double overwrite_us = 0;    // 128 B overwritten + fdatasync
    double batch_us = 0;        // one batch's bytes overwritten + fdatasync
    double ceiling_jobs_s = 0;  // 1000 jobs per batch sync: what the disk allows batches
};

const sync_probe& probe() {
    static const sync_probe p = [] {
        sync_probe r;
        r.append_us = measure_fdatasync_us(128, false);
        r.overwrite_us = measure_fdatasync_us(128, true);
        r.batch_us = measure_fdatasync_us(batch_bytes, true);
        r.ceiling_jobs_s = r.batch_us > 0 ? 1000.0 / (r.batch_us * 1e-6) : 0.0;
        std::printf(
            "journal_bench: fdatasync in %s (median): 128 B appended %.1f us, 128 B "
            "overwritten %.1f us, %zu KB overwritten %.1f us (ceiling for 1000-job "
            "batches: %.0f jobs/s)%s\n",
            bench_root().c_str(), r.append_us, r.overwrite_us, batch_bytes / 1000, r.batch_us,
            r.ceiling_jobs_s,
            r.append_us < 50.0 ? " -- under 50 us: RAM-backed file system, refusing to report" : "");
        std::fflush(stdout);
        return r;
    }();
    return p;
}
double sync_us() {
    return probe().append_us;
}

bool refuse(benchmark::State& state) {
    if (sync_us() < 50.0) {
        state.SkipWithError(
            "fdatasync under 50 us: RAM-backed file system, durable numbers "
            "would measure nothing (set MILLRACE_BENCH_DIR to a disk)");
        return true;
    }
    return false;
}

const std::string payload64(64, 'p');

millrace::job_record make_job(const std::string& queue) {
    millrace::job_record j;
    j.queue = queue;
    j.type = "bench";
    j.payload.assign(64, std::byte{'p'});
    return j;
}

// ---------------------------------------------------------------- journal_store
struct journal_fixture {
    std::unique_ptr<scratch> dir;
    std::unique_ptr<millrace::journal_store> store;
    millrace::journal_log_stats before{};
};
journal_fixture jf;

void journal_counters(benchmark::State& state) {
    const auto st = jf.store->log_stats();
    const double syncs = static_cast<double>(st.syncs - jf.before.syncs);
    const double recs = static_cast<double>(st.records_synced - jf.before.records_synced);
    const double ns = static_cast<double>(st.sync_ns_total - jf.before.sync_ns_total);
    state.counters["records_per_sync"] = syncs > 0 ? recs / syncs : 0;
    state.counters["sync_us"] = syncs > 0 ? ns / syncs / 1000.0 : 0;
    state.counters["fdatasync_probe_us"] = sync_us();
    state.counters["fdatasync_overwrite_us"] = probe().overwrite_us;
    state.counters["batch_ceiling_jobs_s"] = probe().ceiling_jobs_s;
}

// How a case's segments are preallocated: state.range(0) when the case has an argument.
enum prealloc_kind : std::int64_t { prealloc_fallocate = 0, prealloc_zeros = 1, prealloc_none = 2 };
millrace::posix_io bench_io(benchmark::State& state) {
    millrace::posix_io io;
    const std::int64_t kind = state.range(0);
    if (kind == prealloc_zeros) io.preallocate_with_zeros = true;
    if (kind == prealloc_none) io.preallocate = 0;
    return io;
}

void journal_setup(benchmark::State& state) {
    if (state.thread_index() != 0) return;
    jf.dir = std::make_unique<scratch>();
    millrace::journal_options o;
    o.compact_min_bytes = std::uint64_t{1} << 40;  // no compaction inside a throughput run
    jf.store = std::make_unique<millrace::journal_store>(jf.dir->path + "/j", o, bench_io(state));
    jf.before = jf.store->log_stats();
}
void journal_teardown(benchmark::State& state) {
    if (state.thread_index() != 0) return;
    journal_counters(state);
    jf.store.reset();
    jf.dir.reset();
}

void journal_enqueue(benchmark::State& state) {
    if (refuse(state)) return;
    journal_setup(state);
    const auto job = make_job("q");
    for (auto _ : state)
        benchmark::DoNotOptimize(jf.store->enqueue(job));
    state.SetItemsProcessed(state.iterations());
    journal_teardown(state);
}

void journal_batch(benchmark::State& state) {
    if (refuse(state)) return;
    journal_setup(state);
    const std::vector<millrace::job_record> batch(1000, make_job("q"));
    for (auto _ : state)
        benchmark::DoNotOptimize(jf.store->enqueue_batch(batch));
    state.SetItemsProcessed(state.iterations() * 1000);
    journal_teardown(state);
}

void journal_claim_complete(benchmark::State& state) {
    if (refuse(state)) return;
    journal_setup(state);
    {
        std::vector<millrace::job_record> batch(1000, make_job("q"));
        for (int i = 0; i < 30; ++i)
            (void)jf.store->enqueue_batch(batch);
    }
    jf.before = jf.store->log_stats();
    const auto now = millrace::job_time(std::chrono::seconds(1));
    std::int64_t done = 0;
    for (auto _ : state) {
        auto got = jf.store->claim("q", 1, now, now + std::chrono::seconds(60), "w");
        if (got.empty()) {
            state.SkipWithError("ran out of jobs");
            break;
        }
        done += jf.store->complete(got[0].id(), got[0].token, now) ? 1 : 0;
    }
    state.SetItemsProcessed(done);
    journal_teardown(state);
}

// A journal of 1M live jobs, built once and reused by the recovery and compaction cases.
struct million {
    scratch dir;
    std::string path;
    million() {
        path = dir.path + "/j";
        millrace::journal_options o;
        o.compact_min_bytes = std::uint64_t{1} << 40;
        millrace::journal_store s(path, o);
        std::vector<millrace::job_record> batch(1000, make_job("q"));
        for (int i = 0; i < 1000; ++i)
            (void)s.enqueue_batch(batch);
    }
};
million& the_million() {
    static million m;
    return m;
}

// The store the compaction case keeps open across its iterations (closed by the recovery
// case, which needs the directory's lock).
std::unique_ptr<millrace::journal_store> compact_store;

void journal_recover_1m(benchmark::State& state) {
    if (refuse(state)) return;
    auto& m = the_million();
    compact_store.reset();
    std::size_t jobs = 0;
    for (auto _ : state) {
        auto s = std::make_unique<millrace::journal_store>(m.path);
        state.PauseTiming();  // freeing a million jobs is not recovery
        jobs = s->size();
        s.reset();
        state.ResumeTiming();
    }
    state.counters["jobs"] = static_cast<double>(jobs);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(jobs));
}

// Peak RSS during recovery against RSS after open, in a fresh process that only opens the
// journal (this binary again, with --journal-recover-child=<dir>; see main()).
std::string self_exe;

std::uint64_t status_kib(const char* field) {
    std::FILE* f = std::fopen("/proc/self/status", "r");
    if (f == nullptr) return 0;
    char line[256];
    std::uint64_t v = 0;
    const std::size_t n = std::strlen(field);
    while (std::fgets(line, sizeof line, f) != nullptr)
        if (std::strncmp(line, field, n) == 0) v = std::strtoull(line + n + 1, nullptr, 10);
    std::fclose(f);
    return v;
}

int recover_child(const std::string& path) {
    const std::uint64_t base = status_kib("VmRSS");
    millrace::journal_store s(path);
    std::printf("%llu %llu %llu %zu\n", static_cast<unsigned long long>(base),
                static_cast<unsigned long long>(status_kib("VmHWM")),
                static_cast<unsigned long long>(status_kib("VmRSS")), s.size());
    return 0;
}

void journal_recover_1m_rss(benchmark::State& state) {
    if (refuse(state)) return;
    auto& m = the_million();
    compact_store.reset();
    unsigned long long base = 0, peak = 0, after = 0;
    std::size_t jobs = 0;
    for (auto _ : state) {
        const std::string cmd = self_exe + " --journal-recover-child=" + m.path;
        std::FILE* p = ::popen(cmd.c_str(), "r");
        if (p == nullptr || std::fscanf(p, "%llu %llu %llu %zu", &base, &peak, &after, &jobs) != 4) {
            if (p != nullptr) ::pclose(p);
            state.SkipWithError("the recovery child process failed");
            return;
        }
        ::pclose(p);
    }
    state.counters["jobs"] = static_cast<double>(jobs);
    state.counters["peak_rss_mib"] = static_cast<double>(peak) / 1024.0;
    state.counters["rss_after_open_mib"] = static_cast<double>(after) / 1024.0;
    state.counters["peak_over_after"] =
        after > 0 ? static_cast<double>(peak) / static_cast<double>(after) : 0;
    std::printf(
        "journal_bench: recovery of %zu jobs in a fresh process: peak RSS %.1f MiB, "
        "RSS after open %.1f MiB (%.2fx; %.1f MiB before open)\n",
        jobs, static_cast<double>(peak) / 1024.0, static_cast<double>(after) / 1024.0,
        after > 0 ? static_cast<double>(peak) / static_cast<double>(after) : 0.0,
        static_cast<double>(base) / 1024.0);
}

void journal_compact_1m(benchmark::State& state) {
    if (refuse(state)) return;
    auto& m = the_million();
    if (!compact_store) compact_store = std::make_unique<millrace::journal_store>(m.path);
    for (auto _ : state)
        compact_store->compact();  // rewrites the 1M live jobs each time
    state.counters["jobs"] = static_cast<double>(compact_store->size());
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(compact_store->size()));
}

// ---------------------------------------------------------------- SQLite
#if defined(MILLRACE_HAVE_SQLITE)
struct sqlite_fixture {
    std::unique_ptr<scratch> dir;
    std::string db;
    // Concurrent callers share one connection behind a mutex: SQLite serializes writers
    // anyway, and a connection per thread makes losers sleep in the busy handler
    // (sqlite3_busy_timeout backs off in ms steps), which understated SQLite at 16 callers.
    std::unique_ptr<millrace::bench::sqlite_jobs> shared;
    std::mutex m;
};
sqlite_fixture sf;

void sqlite_setup(benchmark::State& state) {
    if (state.thread_index() != 0) return;
    sf.dir = std::make_unique<scratch>();
    sf.db = sf.dir->path + "/jobs.db";
    millrace::bench::sqlite_jobs create(sf.db);
}

void sqlite_enqueue(benchmark::State& state) {
    if (refuse(state)) return;
    sqlite_setup(state);
    // Opened (and its PRAGMAs run) before the timed loop; the loop's start is a barrier.
    if (state.thread_index() == 0) sf.shared = std::make_unique<millrace::bench::sqlite_jobs>(sf.db);
    for (auto _ : state) {
        std::lock_guard lk(sf.m);
        sf.shared->enqueue("q", payload64);
    }
    state.SetItemsProcessed(state.iterations());
    if (state.thread_index() == 0) {
        sf.shared.reset();
        sf.dir.reset();
    }
}

void sqlite_batch(benchmark::State& state) {
    if (refuse(state)) return;
    sqlite_setup(state);
    millrace::bench::sqlite_jobs db(sf.db);
    for (auto _ : state)
        db.enqueue_batch("q", payload64, 1000);
    state.SetItemsProcessed(state.iterations() * 1000);
}

void sqlite_claim_complete(benchmark::State& state) {
    if (refuse(state)) return;
    sqlite_setup(state);
    millrace::bench::sqlite_jobs db(sf.db);
    for (int i = 0; i < 30; ++i)
        db.enqueue_batch("q", payload64, 1000);
    std::int64_t token = 0, done = 0;
    for (auto _ : state) {
        if (!db.claim_complete("q", ++token)) {
            state.SkipWithError("ran out of jobs");
            break;
        }
        ++done;
    }
    state.SetItemsProcessed(done);
}
#endif

}  // namespace

BENCHMARK(journal_enqueue)->Name("journal/enqueue_t1/journal_store")->Arg(0)->Threads(1)->UseRealTime();
BENCHMARK(journal_enqueue)
    ->Name("journal/enqueue_t1/journal_store_noprealloc")
    ->Arg(2)
    ->Threads(1)
    ->UseRealTime();
BENCHMARK(journal_enqueue)->Name("journal/enqueue_t4/journal_store")->Arg(0)->Threads(4)->UseRealTime();
BENCHMARK(journal_enqueue)->Name("journal/enqueue_t16/journal_store")->Arg(0)->Threads(16)->UseRealTime();
BENCHMARK(journal_enqueue)->Name("journal/enqueue_t64/journal_store")->Arg(0)->Threads(64)->UseRealTime();
BENCHMARK(journal_batch)->Name("journal/batch1000/journal_store")->Arg(0)->UseRealTime();
BENCHMARK(journal_batch)->Name("journal/batch1000/journal_store_zeros")->Arg(1)->UseRealTime();
BENCHMARK(journal_batch)->Name("journal/batch1000/journal_store_noprealloc")->Arg(2)->UseRealTime();
BENCHMARK(journal_batch)->Name("journal/batch1000_t4/journal_store")->Arg(0)->Threads(4)->UseRealTime();
BENCHMARK(journal_claim_complete)->Name("journal/claim_complete/journal_store")->Arg(0)->UseRealTime();
BENCHMARK(journal_recover_1m)
    ->Name("journal/recover_1M/journal_store")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(journal_recover_1m_rss)
    ->Name("journal/recover_1M_rss/journal_store")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(journal_compact_1m)
    ->Name("journal/compact_1M/journal_store")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
#if defined(MILLRACE_HAVE_SQLITE)
BENCHMARK(sqlite_enqueue)->Name("journal/enqueue_t1/sqlite")->Threads(1)->UseRealTime();
BENCHMARK(sqlite_enqueue)->Name("journal/enqueue_t4/sqlite")->Threads(4)->UseRealTime();
BENCHMARK(sqlite_enqueue)->Name("journal/enqueue_t16/sqlite")->Threads(16)->UseRealTime();
BENCHMARK(sqlite_enqueue)->Name("journal/enqueue_t64/sqlite")->Threads(64)->UseRealTime();
BENCHMARK(sqlite_batch)->Name("journal/batch1000/sqlite")->UseRealTime();
BENCHMARK(sqlite_claim_complete)->Name("journal/claim_complete/sqlite")->UseRealTime();
#endif

int main(int argc, char** argv) {
    self_exe = argv[0];
    static const std::string child = "--journal-recover-child=";
    if (argc == 2 && std::string(argv[1]).compare(0, child.size(), child) == 0)
        return recover_child(std::string(argv[1]).substr(child.size()));
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
