// tests/store/journal/golden/golden_workload.hpp: the workload that writes the golden
// journals under tests/store/journal/golden/ and the text dump that the compatibility test
// compares: every job field, one line per job, by id.
//
// The workload touches every record type the store writes (enqueue, batch, claim, complete,
// fail with retry and to dead, extend_lease, requeue_expired, cancel, retry_dead, purge, a
// compaction's snapshot and counters) and leaves two segments: a compacted base written in
// group_commit and a durability::none segment after it. When new entry kinds land, extend
// the workload (never change what it did before), run `journal_make_golden
// tests/store/journal/golden/format-<major>` for the current format (a new directory when
// the format's major version changes), and keep the old directories: every version must
// keep opening them with the same jobs. format-1 was written by the last build of format 1.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "millrace/store/journal_store.hpp"

namespace millrace::test::golden {

inline job_time t(std::int64_t s) {
    return job_time{std::chrono::seconds(s)};
}

inline job_record job(std::string queue, std::int32_t priority, std::string payload, std::string dedup = {}) {
    job_record r;
    r.queue = std::move(queue);
    r.type = "golden.job";
    for (char c : payload)
        r.payload.push_back(static_cast<std::byte>(c));
    r.priority = priority;
    r.run_at = t(100);
    r.created_at = t(100);
    r.updated_at = t(100);
    r.max_attempts = 2;
    r.dedup_key = std::move(dedup);
    r.partition_key = "p-" + r.queue;
    return r;
}

// posix_io without preallocation (the golden files stay a few KB); also builds against the
// headers of format 1, whose posix_io had no preallocation.
template <class Io = posix_io>
Io golden_io() {
    Io io;
    if constexpr (requires { io.preallocate; }) io.preallocate = 0;
    return io;
}

/// Writes the golden journal into `dir` (which must not exist yet).
inline void write(const std::string& dir) {
    journal_options o;
    o.auto_compact = false;
    {
        basic_journal_store<posix_io> s(dir, o, golden_io());
        for (int i = 0; i < 6; ++i)
            (void)s.enqueue(job("mail", i % 3, "mail-" + std::to_string(i)));
        (void)s.enqueue(job("mail", 0, "deduplicated", "welcome-42"));
        (void)s.enqueue(job("mail", 0, "deduplicated again", "welcome-42"));
        std::vector<job_record> batch;
        for (int i = 0; i < 4; ++i)
            batch.push_back(job("reports", 1, "report-" + std::to_string(i)));
        (void)s.enqueue_batch(batch);
        auto c = s.claim("mail", 3, t(200), t(260), "worker-a");
        (void)s.complete(c.at(0).id(), c.at(0).token, t(210));
        (void)s.fail(c.at(1).id(), c.at(1).token, fail_outcome::retry_at(t(400)), "timeout", t(211));
        (void)s.extend_lease(c.at(2).id(), c.at(2).token, t(300));
        auto r = s.claim("reports", 2, t(200), t(220), "worker-b");
        (void)s.fail(r.at(0).id(), r.at(0).token, fail_outcome::dead(), "bad input", t(205));
        (void)s.requeue_expired(t(230));  // r[1]'s lease expired
        (void)s.cancel(s.enqueue(job("mail", 5, "cancelled")).id, t(240));
        s.compact();
        (void)s.retry_dead(r.at(0).id(), t(250));
        (void)s.enqueue(job("default", -1, std::string("\0binary\xff", 8)));
        auto d = s.claim("mail", 1, t(500), t(560), "worker-c");
        (void)s.complete(d.at(0).id(), d.at(0).token, t(510));
        (void)s.purge(job_state::succeeded, t(215));  // the first completed job only
    }
    o.mode = durability::none;  // a second segment, flagged unsynced
    basic_journal_store<posix_io> s(dir, o, golden_io());
    (void)s.enqueue(job("default", 0, "after the switch"));
}

inline std::string hex(const std::vector<std::byte>& b) {
    std::string s;
    char x[3];
    for (std::byte c : b) {
        std::snprintf(x, sizeof x, "%02x", static_cast<unsigned>(c));
        s += x;
    }
    return s;
}

/// Every job of the store, one line each, by id (ids 1..max_id).
template <class Store>
std::string dump(Store& s, job_id max_id = 200) {
    std::string out;
    const auto ns = [](job_time tp) {
        return std::to_string(
            std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count());
    };
    for (job_id id = 1; id <= max_id; ++id) {
        const auto r = s.find(id);
        if (!r) continue;
        out += std::to_string(r->id) + " " + r->queue + " " + r->type + " " + hex(r->payload) +
               " prio=" + std::to_string(r->priority) + " run_at=" + ns(r->run_at) +
               " attempts=" + std::to_string(r->attempts) + "/" + std::to_string(r->max_attempts) +
               " dedup=" + r->dedup_key + " part=" + r->partition_key +
               " state=" + std::string(to_string(r->state)) + " created=" + ns(r->created_at) +
               " updated=" + ns(r->updated_at) + " lease=" + ns(r->lease_until) +
               " token=" + std::to_string(r->token) + " worker=" + r->worker + " error=" + r->last_error +
               "\n";
    }
    return out;
}

}  // namespace millrace::test::golden
