// millrace/store/sqlite_store.hpp: millrace::sqlite_store, the task_store on one SQLite
// database file that several processes of one machine share (docs/sql-stores.md).
//
// Link the CMake target millrace::sqlite_store (SQLite 3 through find_package(SQLite3)).
// The file is opened in WAL mode; every mutating call is one `BEGIN IMMEDIATE` transaction,
// so a claim hands each job to exactly one claimer across processes, and a call returns only
// after its transaction committed (synchronous=FULL by default: durable on return). Within a
// process, calls on one store share one connection behind a mutex; open one store per
// process (or several: each has its own connection). SQLITE_BUSY from another process is
// retried with backoff up to `busy_timeout`, then storage_error.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sqlite3.h>

#include "millrace/core/detail/planted.hpp"
#include "millrace/core/error.hpp"
#include "millrace/store/concepts.hpp"
#include "millrace/store/detail/sql_common.hpp"
#include "millrace/store/job.hpp"

namespace millrace {

/// How much a commit waits for the disk (SQLite's `PRAGMA synchronous` in WAL mode).
enum class sqlite_sync : std::uint8_t {
    full,    ///< every commit synced: durable on return, even across a power cut
    normal,  ///< synced at checkpoints: survives a process crash; a power cut may lose the last commits
};

/// Options of sqlite_store.
struct sqlite_options {
    /// How each commit syncs: full (default, durable at return) or normal (WAL: may lose the last commits
    /// at a power cut, never corrupts).
    sqlite_sync sync = sqlite_sync::full;
    /// How long a call retries while another process holds the write lock before it throws
    /// storage_error.
    std::chrono::milliseconds busy_timeout{5000};
};

/// A task_store on an SQLite database file in WAL mode, shared by processes of one machine.
/// Thread-safe. Throws std::invalid_argument for an empty path or ":memory:" (not shareable),
/// storage_error (with SQLite's error code and message) when the file cannot be opened or
/// its schema is of another version, and from any call the database fails.
class sqlite_store {
public:
    /// The schema version this header creates and reads (kept in PRAGMA user_version).
    static constexpr int schema_version = 1;

    /// Opens (creating) the database file in WAL mode and creates or checks the schema; storage_error on
    /// failure, std::invalid_argument on a bad path or option.
    explicit sqlite_store(std::string path, sqlite_options opt = {}) : path_(std::move(path)), opt_(opt) {
        if (path_.empty()) throw std::invalid_argument("sqlite_store: empty database path");
        if (path_ == ":memory:" || path_.starts_with("file::memory:"))
            throw std::invalid_argument(
                "sqlite_store: an in-memory database cannot be shared: give a file path");
        if (path_.find('\0') != std::string::npos)
            throw std::invalid_argument("sqlite_store: NUL byte in the database path");
        if (opt_.busy_timeout.count() < 0) throw std::invalid_argument("sqlite_store: negative busy_timeout");
        const int rc = sqlite3_open_v2(
            path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) {
            std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
            sqlite3_close_v2(db_);
            db_ = nullptr;
            throw storage_error(path_, storage_error::npos,
                                "open failed (SQLite " + std::to_string(rc) + "): " + msg);
        }
        try {
            open_schema();
        } catch (...) {
            sqlite3_close_v2(db_);
            db_ = nullptr;
            throw;
        }
    }

    sqlite_store(const sqlite_store&) = delete;
    sqlite_store& operator=(const sqlite_store&) = delete;

    ~sqlite_store() {
        for (auto& c : cache_)
            sqlite3_finalize(c.second);
        if (db_ != nullptr) sqlite3_close_v2(db_);
    }

    /// The database file's path.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

    /// task_store::enqueue in one transaction: not inserted again while a live job has the same queue and
    /// dedup key.
    enqueue_result enqueue(job_record rec) {
        detail::sql_check_record(rec, "sqlite_store::enqueue");
        return write([&] { return insert(rec); });
    }

    /// task_store::enqueue_batch: every record in one transaction, one result each.
    std::vector<enqueue_result> enqueue_batch(std::span<const job_record> recs) {
        for (const auto& r : recs)
            detail::sql_check_record(r, "sqlite_store::enqueue_batch");
        return write([&] {
            std::vector<enqueue_result> out;
            out.reserve(recs.size());
            for (const auto& r : recs)
                out.push_back(insert(r));
            return out;
        });
    }

    /// task_store::claim: up to `max` due jobs, highest priority first, each with a fresh lease token;
    /// `types` (if not empty) limits the job types.
    std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now,
                                   job_time lease_until, std::string_view worker) {
        return claim(queue, max, now, lease_until, worker, {});
    }

    /// task_store::claim: up to `max` due jobs, highest priority first, each with a fresh lease token;
    /// `types` (if not empty) limits the job types.
    std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now,
                                   job_time lease_until, std::string_view worker,
                                   std::span<const std::string> types) {
        if (max == 0) return {};
        std::string pick = "SELECT id FROM millrace_jobs WHERE queue=?1 AND state=1";
        if (!types.empty()) {
            pick += " AND type IN (";
            for (std::size_t i = 0; i < types.size(); ++i)
                pick += (i == 0 ? "?" : ",?") + std::to_string(i + 3);
            pick += ")";
        }
        pick += " ORDER BY priority DESC, run_at, id LIMIT ?2";
        return write([&] {
            std::vector<claimed_job> out;
            // Due scheduled jobs become ready first (claim is where promotion happens).
            auto* promote =
                stmt("UPDATE millrace_jobs SET state=1 WHERE queue=?1 AND state=0 AND run_at<=?2");
            bind(promote, 1, queue);
            bind(promote, 2, detail::sql_time(now));
            run(promote);
            std::vector<std::int64_t> ids;
            auto* sel = stmt(pick);
            bind(sel, 1, queue);
            bind(sel, 2, detail::sql_limit(max));
            for (std::size_t i = 0; i < types.size(); ++i)
                bind(sel, static_cast<int>(i + 3), types[i]);
            while (step(sel))
                ids.push_back(sqlite3_column_int64(sel, 0));
            sqlite3_reset(sel);
            if (ids.empty()) return out;
            std::int64_t token = next_token();
            auto* upd = stmt(
                "UPDATE millrace_jobs SET state=2, attempts=attempts+1, token=?1, lease_until=?2, "
                "updated_at=?3,"
                " worker=?4 WHERE id=?5 RETURNING " +
                std::string(columns));
            out.reserve(ids.size());
            for (auto id : ids) {
                bind(upd, 1, token);
                bind(upd, 2, detail::sql_time(lease_until));
                bind(upd, 3, detail::sql_time(now));
                bind(upd, 4, worker);
                bind(upd, 5, id);
                if (!step(upd)) throw error("claim: the selected job vanished");
                job_record r = read_record(upd);
                while (step(upd)) {
                }
                sqlite3_reset(upd);
                out.push_back({std::move(r), static_cast<lease_token>(token)});
                ++token;
            }
            set_next_token(token);
            return out;
        });
    }

    /// task_store::complete: false, changing nothing, once `token` is not the job's.
    bool complete(job_id id, lease_token token, job_time now) {
        return write([&] { return complete_one(id, token, now); });
    }

    /// task_store::complete_many: one result per item, each token-checked, in one transaction.
    std::vector<bool> complete_many(std::span<const lease_ref> items, job_time now) {
        return write([&] {
            std::vector<bool> out;
            out.reserve(items.size());
            for (const auto& i : items)
                out.push_back(complete_one(i.id, i.token, now));
            return out;
        });
    }

    /// task_store::fail: retry at a time or dead; false, changing nothing, once `token` is not the job's.
    bool fail(job_id id, lease_token token, fail_outcome outcome, std::string_view error_text, job_time now) {
        return write([&] { return fail_one(id, token, outcome, error_text, now); });
    }

    /// task_store::fail_many: one result per item, each token-checked, in one transaction.
    std::vector<bool> fail_many(std::span<const failure> items, job_time now) {
        return write([&] {
            std::vector<bool> out;
            out.reserve(items.size());
            for (const auto& f : items)
                out.push_back(fail_one(f.id, f.token, f.outcome, f.error, now));
            return out;
        });
    }

    /// task_store::release: the job goes back to ready without using an attempt; refused once `token` is
    /// not the job's.
    bool release(job_id id, lease_token token, job_time now) {
        return write([&] {
            auto* s = stmt(
                "UPDATE millrace_jobs SET attempts=attempts-1, updated_at=?3,"
                " state=CASE WHEN run_at>?3 THEN 0 ELSE 1 END WHERE id=?1 AND state=2 AND token=?2");
            return run_owned(s, id, token, [&] { bind(s, 3, detail::sql_time(now)); });
        });
    }

    /// task_store::extend_lease: the heartbeat; refused once `token` is not the job's.
    bool extend_lease(job_id id, lease_token token, job_time until) {
        return write([&] {
            auto* s = stmt("UPDATE millrace_jobs SET lease_until=?3 WHERE id=?1 AND state=2 AND token=?2");
            return run_owned(s, id, token, [&] { bind(s, 3, detail::sql_time(until)); });
        });
    }

    /// task_store::requeue_expired: running jobs whose lease ended go back to ready, or dead with no
    /// attempt left; returns how many.
    std::size_t requeue_expired(job_time now) {
        return write([&] {
            auto* s = stmt(
                "UPDATE millrace_jobs SET updated_at=?1,"
                " state=CASE WHEN attempts>=max_attempts THEN 4 ELSE 1 END,"
                " last_error=CASE WHEN attempts>=max_attempts THEN 'lease expired' ELSE last_error END"
                " WHERE state=2 AND lease_until<=?1");
            bind(s, 1, detail::sql_time(now));
            return static_cast<std::size_t>(run(s));
        });
    }

    /// task_store::cancel: a job not finished becomes cancelled.
    bool cancel(job_id id, job_time now) {
        return write([&] {
            auto* s =
                stmt("UPDATE millrace_jobs SET state=5, updated_at=?2 WHERE id=?1 AND state IN (0,1,2)");
            bind(s, 1, detail::sql_u64(id));
            bind(s, 2, detail::sql_time(now));
            return run(s) == 1;
        });
    }

    /// task_store::next_run_at: the earliest run_at of a ready or scheduled job of the queue.
    std::optional<job_time> next_run_at(std::string_view queue) {
        return read([&]() -> std::optional<job_time> {
            auto* s = stmt("SELECT MIN(run_at) FROM millrace_jobs WHERE queue=?1 AND state IN (0,1)");
            bind(s, 1, queue);
            std::optional<job_time> t;
            if (step(s) && sqlite3_column_type(s, 0) != SQLITE_NULL)
                t = detail::sql_time(sqlite3_column_int64(s, 0));
            sqlite3_reset(s);
            return t;
        });
    }

    /// task_store::stats: counts per state and per job type.
    store_stats stats(std::string_view queue) {
        return read([&] {
            store_stats st;
            auto* s =
                stmt("SELECT type, state, COUNT(*) FROM millrace_jobs WHERE queue=?1 GROUP BY type, state");
            bind(s, 1, queue);
            while (step(s)) {
                const auto state = static_cast<job_state>(sqlite3_column_int(s, 1));
                const auto n = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
                st[state] += n;
                st.by_type[text(s, 0)][state] += n;
            }
            sqlite3_reset(s);
            return st;
        });
    }

    /// task_store::list: up to `limit` jobs of the queue in `state`.
    std::vector<job_record> list(std::string_view queue, job_state state, std::size_t limit) {
        return read([&] {
            std::vector<job_record> out;
            auto* s = stmt("SELECT " + std::string(columns) +
                           " FROM millrace_jobs WHERE queue=?1 AND state=?2 ORDER BY id LIMIT ?3");
            bind(s, 1, queue);
            bind(s, 2, detail::sql_state(state));
            bind(s, 3, detail::sql_limit(limit));
            while (step(s))
                out.push_back(read_record(s));
            sqlite3_reset(s);
            return out;
        });
    }

    /// task_store::find: the job's record, or nullopt.
    std::optional<job_record> find(job_id id) {
        return read([&] {
            std::optional<job_record> r;
            auto* s = stmt("SELECT " + std::string(columns) + " FROM millrace_jobs WHERE id=?1");
            bind(s, 1, detail::sql_u64(id));
            if (step(s)) r = read_record(s);
            sqlite3_reset(s);
            return r;
        });
    }

    /// task_store::retry_dead: a dead job becomes ready again; false when it is not dead or another live
    /// job holds its dedup key.
    bool retry_dead(job_id id, job_time now) {
        return write([&] {
            // Refused while another live job of the queue holds the key (at most one live
            // holder per queue and key).
            auto* s = stmt(
                "UPDATE millrace_jobs AS j SET state=1, attempts=0, run_at=?2, updated_at=?2 WHERE j.id=?1 "
                "AND"
                " j.state=4 AND (j.dedup_key='' OR NOT EXISTS (SELECT 1 FROM millrace_jobs o WHERE"
                " o.queue=j.queue AND o.dedup_key=j.dedup_key AND o.state IN (0,1,2) AND o.id<>j.id))");
            bind(s, 1, detail::sql_u64(id));
            bind(s, 2, detail::sql_time(now));
            return run(s) == 1;
        });
    }

    /// task_store::purge: deletes finished jobs (`state` succeeded, cancelled or dead) last changed before
    /// `older_than`.
    std::size_t purge(job_state state, job_time older_than) {
        detail::sql_check_purge_state(state, "sqlite_store::purge");
        return write([&] {
            auto* s = stmt("DELETE FROM millrace_jobs WHERE state=?1 AND updated_at<?2");
            bind(s, 1, detail::sql_state(state));
            bind(s, 2, detail::sql_time(older_than));
            return static_cast<std::size_t>(run(s));
        });
    }

    /// Inserts or replaces the named schedule.
    bool upsert_schedule(schedule_record r) {
        detail::sql_check_schedule(r, "sqlite_store::upsert_schedule");
        return write([&] {
            auto* probe = stmt("SELECT 1 FROM millrace_schedules WHERE name=?1");
            bind(probe, 1, r.name);
            const bool existed = step(probe);
            sqlite3_reset(probe);
            auto* s = stmt(
                "INSERT OR REPLACE INTO millrace_schedules(name, queue, type, payload, recurrence, next_run,"
                " missed, paused) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)");
            bind(s, 1, r.name);
            bind(s, 2, r.queue);
            bind(s, 3, r.type);
            bind_blob(s, 4, r.payload);
            bind(s, 5, r.recurrence);
            bind(s, 6, detail::sql_time(r.next_run));
            bind(s, 7, static_cast<std::int64_t>(r.missed));
            bind(s, 8, std::int64_t{r.paused ? 1 : 0});
            run(s);
            return !existed;
        });
    }

    /// Every schedule, by name.
    std::vector<schedule_record> list_schedules() {
        return read([&] {
            std::vector<schedule_record> out;
            auto* s = stmt(
                "SELECT name, queue, type, payload, recurrence, next_run, missed, paused FROM "
                "millrace_schedules"
                " ORDER BY name");
            while (step(s)) {
                schedule_record r;
                r.name = text(s, 0);
                r.queue = text(s, 1);
                r.type = text(s, 2);
                r.payload = blob(s, 3);
                r.recurrence = text(s, 4);
                r.next_run = detail::sql_time(sqlite3_column_int64(s, 5));
                r.missed = static_cast<missed_firing>(sqlite3_column_int(s, 6));
                r.paused = sqlite3_column_int(s, 7) != 0;
                out.push_back(std::move(r));
            }
            sqlite3_reset(s);
            return out;
        });
    }

    /// Removes the named schedule; false when there was none.
    bool remove_schedule(std::string_view name) {
        return write([&] {
            auto* s = stmt("DELETE FROM millrace_schedules WHERE name=?1");
            bind(s, 1, name);
            return run(s) == 1;
        });
    }

    /// Compare-and-set of the schedule's next firing: true for exactly one caller whose `expected_next`
    /// matches.
    bool advance_schedule(std::string_view name, job_time expected_next, job_time new_next) {
        return write([&] {
            // One conditional UPDATE under the write lock: the compare and the set are one step.
            const char* sql = "UPDATE millrace_schedules SET next_run=?3 WHERE name=?1 AND next_run=?2";
            if constexpr (detail::planted("sql_advance_schedule_not_atomic"))
                sql = "UPDATE millrace_schedules SET next_run=?3 WHERE name=?1 AND (next_run=?2 OR ?2=?2)";
            auto* s = stmt(sql);
            bind(s, 1, name);
            bind(s, 2, detail::sql_time(expected_next));
            bind(s, 3, detail::sql_time(new_next));
            return run(s) == 1;
        });
    }

private:
    static constexpr const char* columns =
        "id, queue, type, payload, priority, run_at, attempts, max_attempts, dedup_key, partition_key, state,"
        " created_at, updated_at, lease_until, token, worker, last_error";

    struct busy_signal {};  // SQLITE_BUSY / SQLITE_LOCKED inside a transaction: roll back and retry

    storage_error error(const std::string& what) const {
        return storage_error(path_, storage_error::npos, what);
    }
    storage_error error_rc(int rc, const std::string& what) const {
        return storage_error(
            path_, storage_error::npos,
            what + " (SQLite " + std::to_string(rc) + " " + sqlite3_errstr(rc) + "): " + sqlite3_errmsg(db_));
    }

    void exec(const char* sql) {
        char* msg = nullptr;
        const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
        if (rc == SQLITE_OK) return;
        std::string m = msg != nullptr ? msg : sqlite3_errstr(rc);
        sqlite3_free(msg);
        const int primary = rc & 0xff;
        if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) throw busy_signal{};
        throw storage_error(path_, storage_error::npos,
                            std::string(sql) + " failed (SQLite " + std::to_string(rc) + "): " + m);
    }

    // A prepared statement, cached by its text for the connection's life.
    sqlite3_stmt* stmt(const std::string& sql) {
        if (auto it = cache_.find(sql); it != cache_.end()) return it->second;
        sqlite3_stmt* s = nullptr;
        const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                          SQLITE_PREPARE_PERSISTENT, &s, nullptr);
        if (rc != SQLITE_OK) {
            const int primary = rc & 0xff;
            if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) throw busy_signal{};
            throw error_rc(rc, "prepare of '" + sql + "'");
        }
        cache_.emplace(sql, s);
        return s;
    }

    void bind(sqlite3_stmt* s, int i, std::int64_t v) { check_bind(sqlite3_bind_int64(s, i, v)); }
    void bind(sqlite3_stmt* s, int i, std::string_view v) {
        check_bind(
            sqlite3_bind_text(s, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    }
    void bind_blob(sqlite3_stmt* s, int i, std::span<const std::byte> v) {
        if (v.empty()) {
            check_bind(sqlite3_bind_zeroblob(s, i, 0));
        } else {
            check_bind(sqlite3_bind_blob(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        }
    }
    void check_bind(int rc) {
        if (rc != SQLITE_OK) throw error_rc(rc, "bind");
    }

    // One step: true with a row, false when done. Busy ends the transaction for a retry.
    bool step(sqlite3_stmt* s) {
        const int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        sqlite3_reset(s);
        const int primary = rc & 0xff;
        if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) throw busy_signal{};
        throw error_rc(rc, std::string("'") + sqlite3_sql(s) + "'");
    }
    // Runs a statement without rows; returns the rows it changed.
    std::int64_t run(sqlite3_stmt* s) {
        while (step(s)) {
        }
        sqlite3_reset(s);
        return sqlite3_changes64(db_);
    }

    template <class Bind>
    bool run_owned(sqlite3_stmt* s, job_id id, lease_token token, Bind&& more) {
        bind(s, 1, detail::sql_u64(id));
        bind(s, 2, detail::sql_u64(token));
        more();
        return run(s) == 1;
    }

    static std::string text(sqlite3_stmt* s, int col) {
        const auto* p = sqlite3_column_text(s, col);
        const int n = sqlite3_column_bytes(s, col);
        return p == nullptr ? std::string()
                            : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
    }
    static std::vector<std::byte> blob(sqlite3_stmt* s, int col) {
        const auto* p = static_cast<const std::byte*>(sqlite3_column_blob(s, col));
        const int n = sqlite3_column_bytes(s, col);
        return p == nullptr ? std::vector<std::byte>() : std::vector<std::byte>(p, p + n);
    }

    static job_record read_record(sqlite3_stmt* s) {
        job_record r;
        r.id = static_cast<job_id>(sqlite3_column_int64(s, 0));
        r.queue = text(s, 1);
        r.type = text(s, 2);
        r.payload = blob(s, 3);
        r.priority = static_cast<std::int32_t>(sqlite3_column_int64(s, 4));
        r.run_at = detail::sql_time(sqlite3_column_int64(s, 5));
        r.attempts = static_cast<std::uint32_t>(sqlite3_column_int64(s, 6));
        r.max_attempts = static_cast<std::uint32_t>(sqlite3_column_int64(s, 7));
        r.dedup_key = text(s, 8);
        r.partition_key = text(s, 9);
        r.state = static_cast<job_state>(sqlite3_column_int(s, 10));
        r.created_at = detail::sql_time(sqlite3_column_int64(s, 11));
        r.updated_at = detail::sql_time(sqlite3_column_int64(s, 12));
        r.lease_until = detail::sql_time(sqlite3_column_int64(s, 13));
        r.token = static_cast<lease_token>(sqlite3_column_int64(s, 14));
        r.worker = text(s, 15);
        r.last_error = text(s, 16);
        return r;
    }

    // One IMMEDIATE transaction around fn, retried from the start while another process
    // holds the write lock (fn must build its result afresh each time).
    template <class Fn>
    auto write(Fn&& fn) -> decltype(fn()) {
        std::lock_guard lock(mu_);
        detail::sql_backoff backoff(opt_.busy_timeout);
        for (;;) {
            bool begun = false;
            try {
                exec("BEGIN IMMEDIATE");
                begun = true;
                auto result = fn();
                exec("COMMIT");
                return result;
            } catch (const busy_signal&) {
                if (begun) rollback();
                if (!backoff.wait())
                    throw error("database busy (SQLite 5 database is locked) for longer than busy_timeout");
            } catch (...) {
                if (begun) rollback();
                throw;
            }
        }
    }

    // A read: one statement in autocommit mode sees one WAL snapshot; retried while busy.
    template <class Fn>
    auto read(Fn&& fn) -> decltype(fn()) {
        std::lock_guard lock(mu_);
        detail::sql_backoff backoff(opt_.busy_timeout);
        for (;;) {
            try {
                return fn();
            } catch (const busy_signal&) {
                if (!backoff.wait())
                    throw error("database busy (SQLite 5 database is locked) for longer than busy_timeout");
            }
        }
    }

    void rollback() noexcept {
        if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }

    enqueue_result insert(const job_record& r) {
        if (!r.dedup_key.empty()) {
            auto* probe =
                stmt("SELECT id FROM millrace_jobs WHERE queue=?1 AND dedup_key=?2 AND state IN (0,1,2)");
            bind(probe, 1, r.queue);
            bind(probe, 2, r.dedup_key);
            std::optional<job_id> held;
            if (step(probe)) held = static_cast<job_id>(sqlite3_column_int64(probe, 0));
            sqlite3_reset(probe);
            if (held) return {*held, false};
        }
        auto* s = stmt(
            "INSERT INTO millrace_jobs(queue, type, payload, priority, run_at, attempts, max_attempts, "
            "dedup_key,"
            " partition_key, state, created_at, updated_at, lease_until, token, worker, last_error)"
            " VALUES (?1,?2,?3,?4,?5,0,?6,?7,?8,?9,?10,?10,0,0,'','')");
        bind(s, 1, r.queue);
        bind(s, 2, r.type);
        bind_blob(s, 3, r.payload);
        bind(s, 4, std::int64_t{r.priority});
        bind(s, 5, detail::sql_time(r.run_at));
        bind(s, 6, std::int64_t{r.max_attempts});
        bind(s, 7, r.dedup_key);
        bind(s, 8, r.partition_key);
        bind(s, 9, detail::sql_state(r.run_at > r.created_at ? job_state::scheduled : job_state::ready));
        bind(s, 10, detail::sql_time(r.created_at));
        run(s);
        return {static_cast<job_id>(sqlite3_last_insert_rowid(db_)), true};
    }

    bool complete_one(job_id id, lease_token token, job_time now) {
        // The token check in SQL is what refuses a late worker whose lease was taken over.
        const char* sql =
            "UPDATE millrace_jobs SET state=3, updated_at=?3 WHERE id=?1 AND state=2 AND token=?2";
        if constexpr (detail::planted("sql_skip_token_check"))
            sql = "UPDATE millrace_jobs SET state=3, updated_at=?3 WHERE id=?1 AND state=2 AND ?2=?2";
        auto* s = stmt(sql);
        return run_owned(s, id, token, [&] { bind(s, 3, detail::sql_time(now)); });
    }

    bool fail_one(job_id id, lease_token token, fail_outcome o, std::string_view err, job_time now) {
        auto* s = stmt(
            "UPDATE millrace_jobs SET last_error=?3, updated_at=?4,"
            " state=CASE WHEN ?5=1 OR attempts>=max_attempts THEN 4 WHEN ?6>?4 THEN 0 ELSE 1 END,"
            " run_at=CASE WHEN ?5=1 OR attempts>=max_attempts THEN run_at ELSE ?6 END"
            " WHERE id=?1 AND state=2 AND token=?2");
        return run_owned(s, id, token, [&] {
            bind(s, 3, err);
            bind(s, 4, detail::sql_time(now));
            bind(s, 5, std::int64_t{o.is_dead ? 1 : 0});
            bind(s, 6, detail::sql_time(o.retry_time));
        });
    }

    std::int64_t next_token() {
        auto* s = stmt("SELECT value FROM millrace_meta WHERE key='next_token'");
        if (!step(s)) throw error("the millrace_meta table has no next_token row");
        const std::int64_t t = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return t;
    }
    void set_next_token(std::int64_t t) {
        auto* s = stmt("UPDATE millrace_meta SET value=?1 WHERE key='next_token'");
        bind(s, 1, t);
        run(s);
    }

    void open_schema() {
        std::lock_guard lock(mu_);
        detail::sql_backoff backoff(opt_.busy_timeout);
        for (;;) {
            try {
                exec("PRAGMA journal_mode=WAL");
                break;
            } catch (const busy_signal&) {
                if (!backoff.wait()) throw error("database busy while switching to WAL mode");
            }
        }
        exec(opt_.sync == sqlite_sync::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        exec("PRAGMA foreign_keys=OFF");
        for (;;) {
            bool begun = false;
            try {
                exec("BEGIN IMMEDIATE");
                begun = true;
                auto* v = stmt("PRAGMA user_version");
                int version = 0;
                if (step(v)) version = sqlite3_column_int(v, 0);
                sqlite3_reset(v);
                if (version == 0) {
                    create_schema();
                } else if (version != schema_version) {
                    throw error("schema version " + std::to_string(version) + " is not the version " +
                                std::to_string(schema_version) + " this build reads");
                }
                exec("COMMIT");
                return;
            } catch (const busy_signal&) {
                if (begun) rollback();
                if (!backoff.wait()) throw error("database busy while creating the schema");
            } catch (...) {
                if (begun) rollback();
                throw;
            }
        }
    }

    void create_schema() {
        exec(
            "CREATE TABLE millrace_jobs("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, type TEXT NOT NULL,"
            " payload BLOB NOT NULL, priority INTEGER NOT NULL, run_at INTEGER NOT NULL,"
            " attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL, dedup_key TEXT NOT NULL,"
            " partition_key TEXT NOT NULL, state INTEGER NOT NULL, created_at INTEGER NOT NULL,"
            " updated_at INTEGER NOT NULL, lease_until INTEGER NOT NULL, token INTEGER NOT NULL,"
            " worker TEXT NOT NULL, last_error TEXT NOT NULL)");
        // The claim order, per queue, over ready jobs only.
        exec(
            "CREATE INDEX millrace_jobs_claim ON millrace_jobs(queue, priority DESC, run_at, id) WHERE "
            "state=1");
        exec("CREATE INDEX millrace_jobs_scheduled ON millrace_jobs(queue, run_at) WHERE state=0");
        exec("CREATE INDEX millrace_jobs_lease ON millrace_jobs(lease_until) WHERE state=2");
        exec("CREATE INDEX millrace_jobs_queue_state ON millrace_jobs(queue, state, id)");
        exec("CREATE INDEX millrace_jobs_retention ON millrace_jobs(state, updated_at) WHERE state>=3");
        // At most one live job per queue and dedup key.
        exec(
            "CREATE UNIQUE INDEX millrace_jobs_dedup ON millrace_jobs(queue, dedup_key)"
            " WHERE dedup_key<>'' AND state IN (0,1,2)");
        exec(
            "CREATE TABLE millrace_schedules(name TEXT PRIMARY KEY, queue TEXT NOT NULL, type TEXT NOT NULL,"
            " payload BLOB NOT NULL, recurrence TEXT NOT NULL, next_run INTEGER NOT NULL,"
            " missed INTEGER NOT NULL, paused INTEGER NOT NULL)");
        exec("CREATE TABLE millrace_meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL)");
        exec("INSERT INTO millrace_meta(key, value) VALUES ('next_token', 1)");
        exec("PRAGMA user_version=1");
    }

    std::string path_;
    sqlite_options opt_;
    std::mutex mu_;
    // Guarded by mu_:
    sqlite3* db_ = nullptr;
    std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

static_assert(task_store<sqlite_store>);

}  // namespace millrace
