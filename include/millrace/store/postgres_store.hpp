// millrace/store/postgres_store.hpp: millrace::postgres_store, the task_store on a PostgreSQL
// database that processes on several machines share (docs/sql-stores.md).
//
// Link the CMake target millrace::postgres_store (libpq through find_package(PostgreSQL)).
// The tables live in their own PostgreSQL schema, created by numbered migrations applied once
// under an advisory lock (processes that start together migrate once). A claim is one
// `UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)` statement, ordered by the partial
// index that matches the claim order; complete_many / fail_many are one statement over
// `unnest` arrays with the lease token checked in SQL. A call returns only after the
// database committed it; a connection lost mid-call makes the call throw storage_error (it is
// not acknowledged), and the pool re-establishes the connection with backoff.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Debian keeps libpq's header in /usr/include/postgresql; the target millrace::postgres_store
// adds that directory, and a plain compile on Debian finds it by the longer name.
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

#include "millrace/core/detail/planted.hpp"
#include "millrace/core/error.hpp"
#include "millrace/store/concepts.hpp"
#include "millrace/store/detail/sql_common.hpp"
#include "millrace/store/detail/sql_pg_conn.hpp"
#include "millrace/store/job.hpp"

namespace millrace {

/// Options of postgres_store.
struct postgres_options {
    /// The PostgreSQL schema that holds the tables (an identifier: [a-z_][a-z0-9_]*, at most 63).
    std::string schema = "millrace";
    /// Connections in the pool (>= 1): the most calls of this store in flight at once.
    std::size_t pool_size = 8;
    /// How long a lost connection is retried, with backoff, before a call throws storage_error.
    std::chrono::milliseconds reconnect_timeout{10000};
};

/// A task_store on PostgreSQL, shared by processes on any number of machines. Thread-safe.
/// Throws std::invalid_argument for a malformed connection string, schema name or pool size,
/// and storage_error (SQL state and message) when the server refuses or a statement fails.
class postgres_store {
public:
    /// The newest migration this header applies.
    static constexpr int schema_version = 1;

    /// Connects the pool and migrates the schema once (advisory lock); storage_error on failure,
    /// std::invalid_argument on a bad connection string or schema name.
    explicit postgres_store(std::string conninfo, postgres_options opt = {})
        : opt_(std::move(opt)),
          s_(opt_.schema),
          pool_(validate(conninfo, opt_), opt_.pool_size, opt_.reconnect_timeout) {
        migrate();
    }

    /// The schema that holds the tables.
    [[nodiscard]] const std::string& schema() const noexcept { return opt_.schema; }

    /// task_store::enqueue in one transaction: not inserted again while a live job has the same queue and
    /// dedup key.
    enqueue_result enqueue(job_record rec) {
        detail::sql_check_record(rec, "postgres_store::enqueue");
        auto c = pool_.get();
        return insert(*c, rec);
    }

    /// task_store::enqueue_batch: every record in one transaction, one result each.
    std::vector<enqueue_result> enqueue_batch(std::span<const job_record> recs) {
        for (const auto& r : recs)
            detail::sql_check_record(r, "postgres_store::enqueue_batch");
        auto c = pool_.get();
        return in_transaction(*c, [&] {
            std::vector<enqueue_result> out;
            out.reserve(recs.size());
            for (const auto& r : recs)
                out.push_back(insert(*c, r));
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
        std::vector<claimed_job> out;
        if (max == 0) return out;
        auto c = pool_.get();
        // Due scheduled jobs become ready (idempotent, so its own statement).
        c->run("promote", sql("UPDATE $S.jobs SET state=1 WHERE queue=$1 AND state=0 AND run_at<=$2"),
               detail::pg_params().add(std::string(queue)).add(detail::sql_time(now)));
        const std::string pick_types = types.empty() ? "" : " AND type = ANY($6::text[])";
        const std::string q = sql(
            "UPDATE $S.jobs j SET state=2, attempts=j.attempts+1, token=nextval('$S.tokens'), lease_until=$4,"
            " updated_at=$2, worker=$5 FROM (SELECT id FROM $S.jobs WHERE queue=$1 AND state=1" +
            pick_types +
            " ORDER BY priority DESC, run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) p WHERE j.id=p.id "
            "RETURNING " +
            columns("j."));
        detail::pg_params p;
        p.add(std::string(queue)).add(detail::sql_time(now)).add(detail::sql_limit(max));
        p.add(detail::sql_time(lease_until)).add(std::string(worker));
        if (!types.empty()) p.add(detail::pg_params::text_array(types));
        auto r = c->run(types.empty() ? "claim" : "claim_types", q, p);
        out.reserve(static_cast<std::size_t>(r.rows()));
        for (int i = 0; i < r.rows(); ++i) {
            job_record rec = read_record(r, i);
            const lease_token t = rec.token;
            out.push_back({std::move(rec), t});
        }
        std::sort(out.begin(), out.end(), [](const claimed_job& a, const claimed_job& b) {
            if (a.record.priority != b.record.priority) return a.record.priority > b.record.priority;
            if (a.record.run_at != b.record.run_at) return a.record.run_at < b.record.run_at;
            return a.record.id < b.record.id;
        });
        return out;
    }

    /// task_store::complete: false, changing nothing, once `token` is not the job's.
    bool complete(job_id id, lease_token token, job_time now) {
        const lease_ref one{id, token};
        return complete_many(std::span(&one, 1), now).front();
    }

    /// task_store::complete_many: one result per item, each token-checked, in one transaction.
    std::vector<bool> complete_many(std::span<const lease_ref> items, job_time now) {
        std::vector<bool> out(items.size(), false);
        if (items.empty()) return out;
        // The token check in SQL is what refuses a late worker whose lease was taken over.
        std::string q = sql(
            "UPDATE $S.jobs j SET state=3, updated_at=$3 FROM unnest($1::bigint[], $2::bigint[]) u(id, token)"
            " WHERE j.id=u.id AND j.state=2 AND j.token=u.token RETURNING j.id, j.token");
        if constexpr (detail::planted("sql_skip_token_check"))
            q =
                sql("UPDATE $S.jobs j SET state=3, updated_at=$3 FROM unnest($1::bigint[], $2::bigint[]) "
                    "u(id, token)"
                    " WHERE j.id=u.id AND j.state=2 RETURNING j.id, u.token");
        const auto first = first_occurrences(items);
        auto c = pool_.get();
        auto r = c->run(
            "complete_many", q,
            detail::pg_params()
                .add(ids(items, first))
                .add(detail::pg_params::array<std::size_t>(
                    first, [&](std::size_t i) { return std::to_string(detail::sql_u64(items[i].token)); }))
                .add(detail::sql_time(now)));
        mark(r, items, first, out);
        return out;
    }

    /// task_store::fail: retry at a time or dead; false, changing nothing, once `token` is not the job's.
    bool fail(job_id id, lease_token token, fail_outcome outcome, std::string_view error_text, job_time now) {
        const failure one{id, token, outcome, std::string(error_text)};
        return fail_many(std::span(&one, 1), now).front();
    }

    /// task_store::fail_many: one result per item, each token-checked, in one transaction.
    std::vector<bool> fail_many(std::span<const failure> items, job_time now) {
        std::vector<bool> out(items.size(), false);
        if (items.empty()) return out;
        const auto first = first_occurrences(items);
        std::vector<std::string> errors;
        errors.reserve(first.size());
        for (auto i : first)
            errors.push_back(items[i].error);
        auto c = pool_.get();
        auto r = c->run(
            "fail_many",
            sql("UPDATE $S.jobs j SET last_error=u.err, updated_at=$6,"
                " state=CASE WHEN u.dead OR j.attempts>=j.max_attempts THEN 4 WHEN u.retry>$6 THEN 0 ELSE 1 "
                "END,"
                " run_at=CASE WHEN u.dead OR j.attempts>=j.max_attempts THEN j.run_at ELSE u.retry END"
                " FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::bigint[], $5::text[])"
                " u(id, token, dead, retry, err) WHERE j.id=u.id AND j.state=2 AND j.token=u.token"
                " RETURNING j.id, j.token"),
            detail::pg_params()
                .add(ids(items, first))
                .add(detail::pg_params::array<std::size_t>(
                    first, [&](std::size_t i) { return std::to_string(detail::sql_u64(items[i].token)); }))
                .add(detail::pg_params::array<std::size_t>(
                    first, [&](std::size_t i) { return std::string(items[i].outcome.is_dead ? "t" : "f"); }))
                .add(detail::pg_params::array<std::size_t>(first,
                                                           [&](std::size_t i) {
                                                               return std::to_string(detail::sql_time(
                                                                   items[i].outcome.retry_time));
                                                           }))
                .add(detail::pg_params::text_array(errors))
                .add(detail::sql_time(now)));
        mark(r, items, first, out);
        return out;
    }

    /// task_store::release: the job goes back to ready without using an attempt; refused once `token` is
    /// not the job's.
    bool release(job_id id, lease_token token, job_time now) {
        auto c = pool_.get();
        return c->run(
                    "release",
                    sql("UPDATE $S.jobs SET attempts=attempts-1, updated_at=$3,"
                        " state=CASE WHEN run_at>$3 THEN 0 ELSE 1 END WHERE id=$1 AND state=2 AND token=$2"),
                    detail::pg_params()
                        .add(detail::sql_u64(id))
                        .add(detail::sql_u64(token))
                        .add(detail::sql_time(now)))
                   .affected() == 1;
    }

    /// task_store::extend_lease: the heartbeat; refused once `token` is not the job's.
    bool extend_lease(job_id id, lease_token token, job_time until) {
        auto c = pool_.get();
        return c->run("extend", sql("UPDATE $S.jobs SET lease_until=$3 WHERE id=$1 AND state=2 AND token=$2"),
                      detail::pg_params()
                          .add(detail::sql_u64(id))
                          .add(detail::sql_u64(token))
                          .add(detail::sql_time(until)))
                   .affected() == 1;
    }

    /// task_store::requeue_expired: running jobs whose lease ended go back to ready, or dead with no
    /// attempt left; returns how many.
    std::size_t requeue_expired(job_time now) {
        auto c = pool_.get();
        return c
            ->run("requeue",
                  sql("UPDATE $S.jobs SET updated_at=$1,"
                      " state=CASE WHEN attempts>=max_attempts THEN 4 ELSE 1 END,"
                      " last_error=CASE WHEN attempts>=max_attempts THEN 'lease expired' ELSE last_error END"
                      " WHERE state=2 AND lease_until<=$1"),
                  detail::pg_params().add(detail::sql_time(now)))
            .affected();
    }

    /// task_store::cancel: a job not finished becomes cancelled.
    bool cancel(job_id id, job_time now) {
        auto c = pool_.get();
        return c->run("cancel",
                      sql("UPDATE $S.jobs SET state=5, updated_at=$2 WHERE id=$1 AND state IN (0,1,2)"),
                      detail::pg_params().add(detail::sql_u64(id)).add(detail::sql_time(now)))
                   .affected() == 1;
    }

    /// task_store::next_run_at: the earliest run_at of a ready or scheduled job of the queue.
    std::optional<job_time> next_run_at(std::string_view queue) {
        auto c = pool_.get();
        auto r = c->run("next_run", sql("SELECT MIN(run_at) FROM $S.jobs WHERE queue=$1 AND state IN (0,1)"),
                        detail::pg_params().add(std::string(queue)));
        if (r.rows() == 0 || r.null(0, 0)) return std::nullopt;
        return detail::sql_time(r.i64(0, 0));
    }

    /// task_store::stats: counts per state and per job type.
    store_stats stats(std::string_view queue) {
        auto c = pool_.get();
        auto r = c->run("stats",
                        sql("SELECT type, state, COUNT(*) FROM $S.jobs WHERE queue=$1 GROUP BY type, state"),
                        detail::pg_params().add(std::string(queue)));
        store_stats st;
        for (int i = 0; i < r.rows(); ++i) {
            const auto state = static_cast<job_state>(r.i64(i, 1));
            const auto n = static_cast<std::uint64_t>(r.i64(i, 2));
            st[state] += n;
            st.by_type[std::string(r.text(i, 0))][state] += n;
        }
        return st;
    }

    /// task_store::list: up to `limit` jobs of the queue in `state`.
    std::vector<job_record> list(std::string_view queue, job_state state, std::size_t limit) {
        auto c = pool_.get();
        auto r = c->run(
            "list",
            sql("SELECT " + columns("") + " FROM $S.jobs WHERE queue=$1 AND state=$2 ORDER BY id LIMIT $3"),
            detail::pg_params()
                .add(std::string(queue))
                .add(detail::sql_state(state))
                .add(detail::sql_limit(limit)));
        std::vector<job_record> out;
        out.reserve(static_cast<std::size_t>(r.rows()));
        for (int i = 0; i < r.rows(); ++i)
            out.push_back(read_record(r, i));
        return out;
    }

    /// task_store::find: the job's record, or nullopt.
    std::optional<job_record> find(job_id id) {
        auto c = pool_.get();
        auto r = c->run("find", sql("SELECT " + columns("") + " FROM $S.jobs WHERE id=$1"),
                        detail::pg_params().add(detail::sql_u64(id)));
        if (r.rows() == 0) return std::nullopt;
        return read_record(r, 0);
    }

    /// task_store::retry_dead: a dead job becomes ready again; false when it is not dead or another live
    /// job holds its dedup key.
    bool retry_dead(job_id id, job_time now) {
        auto c = pool_.get();
        try {
            return c->run("retry_dead",
                          sql("UPDATE $S.jobs j SET state=1, attempts=0, run_at=$2, updated_at=$2 WHERE "
                              "j.id=$1 AND"
                              " j.state=4 AND (j.dedup_key='' OR NOT EXISTS (SELECT 1 FROM $S.jobs o WHERE"
                              " o.queue=j.queue AND o.dedup_key=j.dedup_key AND o.state IN (0,1,2) AND "
                              "o.id<>j.id))"),
                          detail::pg_params().add(detail::sql_u64(id)).add(detail::sql_time(now)))
                       .affected() == 1;
        } catch (const storage_error& e) {
            // A live holder of the key committed concurrently: the unique index refused.
            if (e.reason().starts_with("SQLSTATE 23505")) return false;
            throw;
        }
    }

    /// task_store::purge: deletes finished jobs (`state` succeeded, cancelled or dead) last changed before
    /// `older_than`.
    std::size_t purge(job_state state, job_time older_than) {
        detail::sql_check_purge_state(state, "postgres_store::purge");
        auto c = pool_.get();
        return c
            ->run("purge", sql("DELETE FROM $S.jobs WHERE state=$1 AND updated_at<$2"),
                  detail::pg_params().add(detail::sql_state(state)).add(detail::sql_time(older_than)))
            .affected();
    }

    /// Inserts or replaces the named schedule.
    bool upsert_schedule(schedule_record r) {
        detail::sql_check_schedule(r, "postgres_store::upsert_schedule");
        auto c = pool_.get();
        auto res = c->run(
            "upsert_schedule",
            sql("INSERT INTO $S.schedules(name, queue, type, payload, recurrence, next_run, missed, paused)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (name) DO UPDATE SET queue=EXCLUDED.queue,"
                " type=EXCLUDED.type, payload=EXCLUDED.payload, recurrence=EXCLUDED.recurrence,"
                " next_run=EXCLUDED.next_run, missed=EXCLUDED.missed, paused=EXCLUDED.paused"
                " RETURNING (xmax = 0)"),
            detail::pg_params()
                .add(r.name)
                .add(r.queue)
                .add(r.type)
                .add_bytes(r.payload)
                .add(r.recurrence)
                .add(detail::sql_time(r.next_run))
                .add(static_cast<std::int64_t>(r.missed))
                .add(std::string(r.paused ? "t" : "f")));
        return res.rows() == 1 && res.text(0, 0) == "t";
    }

    /// Every schedule, by name.
    std::vector<schedule_record> list_schedules() {
        auto c = pool_.get();
        auto r = c->run(
            "list_schedules",
            sql("SELECT name, queue, type, payload, recurrence, next_run, missed, paused FROM $S.schedules"
                " ORDER BY name COLLATE \"C\""),
            detail::pg_params());
        std::vector<schedule_record> out;
        for (int i = 0; i < r.rows(); ++i) {
            schedule_record s;
            s.name = r.text(i, 0);
            s.queue = r.text(i, 1);
            s.type = r.text(i, 2);
            s.payload = r.bytes(i, 3);
            s.recurrence = r.text(i, 4);
            s.next_run = detail::sql_time(r.i64(i, 5));
            s.missed = static_cast<missed_firing>(r.i64(i, 6));
            s.paused = r.text(i, 7) == "t";
            out.push_back(std::move(s));
        }
        return out;
    }

    /// Removes the named schedule; false when there was none.
    bool remove_schedule(std::string_view name) {
        auto c = pool_.get();
        return c->run("remove_schedule", sql("DELETE FROM $S.schedules WHERE name=$1"),
                      detail::pg_params().add(std::string(name)))
                   .affected() == 1;
    }

    /// Compare-and-set of the schedule's next firing: true for exactly one caller whose `expected_next`
    /// matches.
    bool advance_schedule(std::string_view name, job_time expected_next, job_time new_next) {
        // One conditional UPDATE: the row lock makes the compare and the set one step.
        std::string q = sql("UPDATE $S.schedules SET next_run=$3 WHERE name=$1 AND next_run=$2");
        if constexpr (detail::planted("sql_advance_schedule_not_atomic"))
            q = sql("UPDATE $S.schedules SET next_run=$3 WHERE name=$1 AND (next_run=$2 OR $2=$2)");
        auto c = pool_.get();
        return c->run("advance_schedule", q,
                      detail::pg_params()
                          .add(std::string(name))
                          .add(detail::sql_time(expected_next))
                          .add(detail::sql_time(new_next)))
                   .affected() == 1;
    }

private:
    static std::string validate(const std::string& conninfo, const postgres_options& o) {
        if (o.pool_size == 0) throw std::invalid_argument("postgres_store: pool_size must be >= 1");
        if (o.schema.empty() || o.schema.size() > 63)
            throw std::invalid_argument("postgres_store: schema name must have 1 to 63 characters");
        for (std::size_t i = 0; i < o.schema.size(); ++i) {
            const char ch = o.schema[i];
            const bool ok = (ch >= 'a' && ch <= 'z') || ch == '_' || (i > 0 && ch >= '0' && ch <= '9');
            if (!ok)
                throw std::invalid_argument("postgres_store: schema name '" + o.schema +
                                            "' is not a lower-case identifier ([a-z_][a-z0-9_]*)");
        }
        if (o.reconnect_timeout.count() < 0)
            throw std::invalid_argument("postgres_store: negative reconnect_timeout");
        char* err = nullptr;
        PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &err);
        if (parsed == nullptr) {
            std::string msg = err != nullptr ? err : "out of memory";
            PQfreemem(err);
            throw std::invalid_argument("postgres_store: bad connection string: " + msg);
        }
        PQconninfoFree(parsed);
        return conninfo;
    }

    // `text` with $S replaced by the schema name (validated: safe to splice).
    std::string sql(std::string text) const {
        for (std::size_t at = text.find("$S"); at != std::string::npos; at = text.find("$S", at + s_.size()))
            text.replace(at, 2, s_);
        return text;
    }

    static std::string columns(const std::string& p) {
        std::string out;
        for (const char* c : {"id", "queue", "type", "payload", "priority", "run_at", "attempts",
                              "max_attempts", "dedup_key", "partition_key", "state", "created_at",
                              "updated_at", "lease_until", "token", "worker", "last_error"}) {
            if (!out.empty()) out += ", ";
            out += p + c;
        }
        return out;
    }

    static job_record read_record(const detail::pg_result& r, int i) {
        job_record j;
        j.id = static_cast<job_id>(r.i64(i, 0));
        j.queue = r.text(i, 1);
        j.type = r.text(i, 2);
        j.payload = r.bytes(i, 3);
        j.priority = static_cast<std::int32_t>(r.i64(i, 4));
        j.run_at = detail::sql_time(r.i64(i, 5));
        j.attempts = static_cast<std::uint32_t>(r.i64(i, 6));
        j.max_attempts = static_cast<std::uint32_t>(r.i64(i, 7));
        j.dedup_key = r.text(i, 8);
        j.partition_key = r.text(i, 9);
        j.state = static_cast<job_state>(r.i64(i, 10));
        j.created_at = detail::sql_time(r.i64(i, 11));
        j.updated_at = detail::sql_time(r.i64(i, 12));
        j.lease_until = detail::sql_time(r.i64(i, 13));
        j.token = static_cast<lease_token>(r.i64(i, 14));
        j.worker = r.text(i, 15);
        j.last_error = r.text(i, 16);
        return j;
    }

    // Indexes of the first item of each (id, token) pair: a repeated item is refused, and
    // each job is matched by at most one row of the batch.
    template <class Item>
    static std::vector<std::size_t> first_occurrences(std::span<const Item> items) {
        std::set<std::pair<job_id, lease_token>> seen;
        std::vector<std::size_t> first;
        for (std::size_t i = 0; i < items.size(); ++i)
            if (seen.insert({items[i].id, items[i].token}).second) first.push_back(i);
        return first;
    }
    template <class Item>
    static std::string ids(std::span<const Item> items, const std::vector<std::size_t>& first) {
        return detail::pg_params::array<std::size_t>(
            first, [&](std::size_t i) { return std::to_string(detail::sql_u64(items[i].id)); });
    }
    template <class Item>
    static void mark(const detail::pg_result& r, std::span<const Item> items,
                     const std::vector<std::size_t>& first, std::vector<bool>& out) {
        std::set<std::pair<job_id, lease_token>> done;
        for (int i = 0; i < r.rows(); ++i)
            done.insert({static_cast<job_id>(r.i64(i, 0)), static_cast<lease_token>(r.i64(i, 1))});
        for (auto i : first)
            out[i] = done.contains({items[i].id, items[i].token});
    }

    template <class Fn>
    static auto in_transaction(detail::pg_conn& c, Fn&& fn) -> decltype(fn()) {
        c.exec("BEGIN");
        try {
            auto result = fn();
            c.exec("COMMIT");
            return result;
        } catch (...) {
            if (c.ok()) PQclear(PQexec(c.raw(), "ROLLBACK"));
            throw;
        }
    }

    enqueue_result insert(detail::pg_conn& c, const job_record& r) {
        // ON CONFLICT on the partial unique index: a live holder of the key wins; if it
        // finishes between the insert and the look-up, the insert is tried again.
        for (;;) {
            auto ins = c.run(
                "insert",
                sql("INSERT INTO $S.jobs(queue, type, payload, priority, run_at, attempts, max_attempts, "
                    "dedup_key,"
                    " partition_key, state, created_at, updated_at, lease_until, token, worker, last_error)"
                    " VALUES ($1,$2,$3,$4,$5,0,$6,$7,$8,$9,$10,$10,0,0,'','')"
                    " ON CONFLICT (queue, dedup_key) WHERE dedup_key<>'' AND state IN (0,1,2) DO NOTHING "
                    "RETURNING id"),
                detail::pg_params()
                    .add(r.queue)
                    .add(r.type)
                    .add_bytes(r.payload)
                    .add(std::int64_t{r.priority})
                    .add(detail::sql_time(r.run_at))
                    .add(std::int64_t{r.max_attempts})
                    .add(r.dedup_key)
                    .add(r.partition_key)
                    .add(detail::sql_state(r.run_at > r.created_at ? job_state::scheduled : job_state::ready))
                    .add(detail::sql_time(r.created_at)));
            if (ins.rows() == 1) return {static_cast<job_id>(ins.i64(0, 0)), true};
            auto held =
                c.run("dedup_holder",
                      sql("SELECT id FROM $S.jobs WHERE queue=$1 AND dedup_key=$2 AND state IN (0,1,2)"),
                      detail::pg_params().add(r.queue).add(r.dedup_key));
            if (held.rows() == 1) return {static_cast<job_id>(held.i64(0, 0)), false};
        }
    }

    void migrate() {
        auto c = pool_.get();
        // Numbered migrations, each applied once: the advisory lock (keyed by the schema
        // name) makes processes that start together wait for the first one's migration.
        in_transaction(*c, [&] {
            c->exec(sql("SELECT pg_advisory_xact_lock(hashtext('millrace.migrate.$S'))"));
            c->exec(sql("CREATE SCHEMA IF NOT EXISTS $S"));
            c->exec(sql(
                "CREATE TABLE IF NOT EXISTS $S.migrations(version integer PRIMARY KEY, applied_at timestamptz"
                " NOT NULL DEFAULT now())"));
            auto v = c->exec(sql("SELECT COALESCE(MAX(version), 0) FROM $S.migrations"));
            const auto have = v.i64(0, 0);
            if (have > schema_version)
                throw storage_error("postgres", storage_error::npos,
                                    "schema " + s_ + " is at migration " + std::to_string(have) +
                                        ", newer than this build's " + std::to_string(schema_version));
            if (have < 1) {
                c->exec(
                    sql("CREATE TABLE $S.jobs(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, queue text "
                        "NOT NULL,"
                        " type text NOT NULL, payload bytea NOT NULL, priority integer NOT NULL, run_at "
                        "bigint NOT NULL,"
                        " attempts bigint NOT NULL, max_attempts bigint NOT NULL, dedup_key text NOT NULL,"
                        " partition_key text NOT NULL, state smallint NOT NULL, created_at bigint NOT NULL,"
                        " updated_at bigint NOT NULL, lease_until bigint NOT NULL, token bigint NOT NULL,"
                        " worker text NOT NULL, last_error text NOT NULL)"));
                // The claim order exactly (priority DESC, run_at, id) over ready jobs only.
                c->exec(sql(
                    "CREATE INDEX jobs_claim ON $S.jobs(queue, priority DESC, run_at, id) WHERE state=1"));
                c->exec(sql("CREATE INDEX jobs_scheduled ON $S.jobs(queue, run_at) WHERE state=0"));
                c->exec(sql("CREATE INDEX jobs_lease ON $S.jobs(lease_until) WHERE state=2"));
                c->exec(sql("CREATE INDEX jobs_queue_state ON $S.jobs(queue, state, id)"));
                c->exec(sql("CREATE INDEX jobs_retention ON $S.jobs(state, updated_at) WHERE state>=3"));
                c->exec(
                    sql("CREATE UNIQUE INDEX jobs_dedup ON $S.jobs(queue, dedup_key)"
                        " WHERE dedup_key<>'' AND state IN (0,1,2)"));
                c->exec(sql("CREATE SEQUENCE $S.tokens AS bigint START 1"));
                c->exec(
                    sql("CREATE TABLE $S.schedules(name text PRIMARY KEY, queue text NOT NULL, type text NOT "
                        "NULL,"
                        " payload bytea NOT NULL, recurrence text NOT NULL, next_run bigint NOT NULL,"
                        " missed smallint NOT NULL, paused boolean NOT NULL)"));
                c->exec(sql("INSERT INTO $S.migrations(version) VALUES (1)"));
            }
            return 0;
        });
    }

    postgres_options opt_;
    std::string s_;
    detail::pg_pool pool_;
};

static_assert(task_store<postgres_store>);

}  // namespace millrace
