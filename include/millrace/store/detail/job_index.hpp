// millrace/store/detail/job_index.hpp: the single-threaded job table with its indexes and
// state machine, shared by every in-process adapter (memory_store wraps it with locks,
// journal_store logs the changes it reports and replays them).
//
// Guarantees (single-threaded: the caller serializes all calls, e.g. with a mutex):
//   - every operation of millrace::task_store with exactly the semantics of
//     docs/storage.md (the adapters add locking, persistence and nothing else);
//   - each change of a job is fully applied before it is reported to the caller's sink as
//     (job_change, record after the change) — for `purged`, the record removed. A journal
//     that logs these records and replays them with restore()/erase() rebuilds the same
//     table. `promoted` (scheduled -> ready because run_at passed) may be left unlogged:
//     a replayed scheduled job whose run_at is past is promoted by the next claim anyway;
//   - a sink that throws leaves the index consistent (the reported change is applied; the
//     operation's later changes, if any, are not made);
//   - exceptions: std::invalid_argument (a record enqueue / restore cannot accept, purge of
//     a live state), std::logic_error (restore of an id this index would assign twice: an
//     id already in use), std::length_error (more than 2^32 - 1 job slots), std::bad_alloc.
//     Each leaves the index exactly as it was before the job being changed (every
//     allocation of a change is made before its first mutation: strings are built in
//     temporaries and swapped in, the target lane and room for one key are made first, the
//     claimed copy is built before the claim), so a change is all or nothing. An operation
//     that moves several jobs (claim, requeue_expired, purge, the promotions of claim)
//     keeps the moves made before the throw;
//   - no clock is read: every time is an argument.
//
// Algorithm: the records live in a slab of entries (slots reused through a free list); a
// hash table maps id -> slot. Every ordering is a `key_queue` (key_queue.hpp): keys (time,
// id) in a sorted run for keys arriving in order plus a binary heap for the others.
// Per queue: one ready key_queue per priority level holding a ready job (std::map, highest
// first; a lane is dropped when its last ready job leaves, a queue when it holds no job), ordered by
// (run_at, id), so the claim order is priority desc, run_at, id; one `sched` key_queue by
// run_at for promotion of due scheduled jobs. Index-wide: `running` by lease_until for
// requeue_expired, and one per terminal state by updated_at for purge. Deletion is lazy:
// each slot carries a sequence number bumped on every state or position change and on
// release, keys carry (slot, seq, id), and a key whose seq or id no longer matches its
// slot's is stale (the id check keeps a wrapped-around 32-bit seq from reviving a key),
// dropped when it reaches a front; a key_queue is rebuilt from its valid keys when it holds
// more than twice as many keys as live jobs (plus a constant), so stale keys cost O(1)
// amortized and memory stays O(live); a finished job's running key is dropped at once when
// it is the front one (jobs mostly finish in claim order). Hence claim costs O(log n) per job claimed (O(1) +
// one map step per priority level visited when keys arrive in order), enqueue / complete /
// fail / extend_lease / cancel O(log n) worst case, requeue_expired and purge O(log n) per
// job moved, next_run_at O(priority levels) amortized, stats O(1), list O(n) (admin only).
// Dedup: per queue, a hash map dedup key -> id of the live job holding it; released on the
// transition to a terminal state, taken again by retry_dead (which refuses while taken).
// Types: a claim filtered by type pops the keys of other types and pushes them back after
// (O(log n) per job passed over; they keep their place); each queue counts its jobs per
// state and per type (each entry points at its type's counts), so stats stays O(types).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "millrace/core/detail/planted.hpp"
#include "millrace/store/detail/id_map.hpp"
#include "millrace/store/detail/key_queue.hpp"
#include "millrace/store/job.hpp"

namespace millrace::detail {

/// What an operation did to one job; reported with the record after the change.
enum class job_change : std::uint8_t {
    enqueued,          ///< inserted (scheduled or ready)
    promoted,          ///< scheduled -> ready, run_at reached (derived; may be left unlogged)
    claimed,           ///< -> running: attempts, token, lease_until, worker, updated_at set
    completed,         ///< running -> succeeded
    retry_scheduled,   ///< running -> scheduled or ready by fail(retry_at)
    failed_dead,       ///< running -> dead by fail (asked, or no attempt left)
    lease_extended,    ///< running, lease_until moved
    expired_requeued,  ///< running -> ready by requeue_expired
    expired_dead,      ///< running -> dead by requeue_expired (no attempt left)
    cancelled,         ///< scheduled / ready / running -> cancelled
    revived,           ///< dead -> ready by retry_dead
    purged,            ///< removed by purge (the record as it was)
    released,          ///< running -> ready or scheduled by release (attempt given back)
};

[[nodiscard]] constexpr std::string_view to_string(job_change c) noexcept {
    switch (c) {
        case job_change::enqueued:
            return "enqueued";
        case job_change::promoted:
            return "promoted";
        case job_change::claimed:
            return "claimed";
        case job_change::completed:
            return "completed";
        case job_change::retry_scheduled:
            return "retry_scheduled";
        case job_change::failed_dead:
            return "failed_dead";
        case job_change::lease_extended:
            return "lease_extended";
        case job_change::expired_requeued:
            return "expired_requeued";
        case job_change::expired_dead:
            return "expired_dead";
        case job_change::cancelled:
            return "cancelled";
        case job_change::revived:
            return "revived";
        case job_change::purged:
            return "purged";
        case job_change::released:
            return "released";
    }
    return "unknown";
}

/// The sink of an adapter that logs nothing.
struct null_change_sink {
    void operator()(job_change, const job_record&) const noexcept {}
};

struct job_index_test_access;  // defined by tests only

class job_index {
    struct queue_state;
    using lane_map = std::map<std::int32_t, key_queue, std::greater<>>;  // by priority, highest first

public:
    /// Ids (and lease tokens) assigned are first_id, first_id + id_stride, ... (a sharded
    /// adapter gives each shard its own residue, so an id names its shard and tokens are
    /// unique store-wide). Throws std::invalid_argument when first_id or id_stride is 0.
    explicit job_index(job_id first_id = 1, job_id id_stride = 1)
        : first_id_(first_id),
          stride_(id_stride),
          next_id_(first_id),
          next_token_(first_id),
          slot_of_(id_stride) {
        if (first_id == 0) throw std::invalid_argument("job_index: first_id must not be 0");
        if (id_stride == 0) throw std::invalid_argument("job_index: id_stride must not be 0");
    }

    job_index(const job_index&) = delete;
    job_index& operator=(const job_index&) = delete;

    /// Throws std::invalid_argument for a record enqueue cannot accept: an empty queue name
    /// or max_attempts == 0.
    static void validate_new(const job_record& r) {
        if (r.queue.empty()) throw std::invalid_argument("enqueue: job_record.queue is empty");
        if (r.max_attempts == 0) throw std::invalid_argument("enqueue: job_record.max_attempts is 0");
    }

    /// Inserts a job (see job_record for the fields the store sets), or returns the live job
    /// holding the same queue + dedup key with inserted = false. Validates with validate_new.
    template <class Sink = null_change_sink>
    enqueue_result enqueue(job_record rec, Sink&& sink = Sink{}) {
        validate_new(rec);
        return enqueue_valid(std::move(rec), sink);
    }

    /// enqueue for a record that already passed validate_new (a batch checked whole first).
    template <class Sink = null_change_sink>
    enqueue_result enqueue_valid(job_record rec, Sink&& sink = Sink{}) {
        queue_state& q = queue_for(rec.queue);
        if (!rec.dedup_key.empty()) {
            if (auto it = q.dedup.find(rec.dedup_key); it != q.dedup.end()) return {it->second, false};
        }
        const job_id id = next_id_;
        rec.id = id;
        rec.state = rec.run_at > rec.created_at ? job_state::scheduled : job_state::ready;
        rec.attempts = 0;
        rec.updated_at = rec.created_at;
        rec.lease_until = {};
        rec.token = 0;
        rec.worker.clear();
        rec.last_error.clear();
        // Every allocation first (the type's counts, room for the key, the slot, the dedup
        // entry); then no throw.
        entry* e = nullptr;
        state_counts* tc = nullptr;
        try {
            tc = &type_counts(q, rec.type);
            prepare(q, rec.state, rec.priority);
            e = &allocate(id);
            if (!rec.dedup_key.empty()) {
                try {
                    q.dedup.emplace(rec.dedup_key, id);
                } catch (...) {
                    release(*e);
                    throw;
                }
            }
        } catch (...) {
            drop_unused(q, rec.priority);
            throw;
        }
        next_id_ += stride_;
        e->rec = std::move(rec);
        e->q = &q;
        e->tc = tc;
        enter(*e);
        sink(job_change::enqueued, std::as_const(e->rec));
        return {id, true};
    }

    /// Appends up to `max` claimed jobs of `queue` to `out`, in claim order; returns how many.
    /// Scheduled jobs with run_at <= now are promoted to ready first.
    template <class Sink = null_change_sink>
    std::size_t claim(std::string_view queue, std::size_t max, job_time now, job_time lease_until,
                      std::string_view worker, std::vector<claimed_job>& out, Sink&& sink = Sink{}) {
        return claim(queue, max, now, lease_until, worker, {}, out, sink);
    }

    /// claim over the jobs whose type is in `types` (empty: every type). Jobs of other types
    /// are passed over and stay ready in their place: O(log n) per job passed over.
    template <class Sink = null_change_sink>
    std::size_t claim(std::string_view queue, std::size_t max, job_time now, job_time lease_until,
                      std::string_view worker, std::span<const std::string> types,
                      std::vector<claimed_job>& out, Sink&& sink = Sink{}) {
        queue_state* q = find_queue(queue);
        if (q == nullptr || max == 0) return 0;
        promote_due(*q, now, sink);
        passed_over_.clear();
        std::size_t n = 0;
        auto lane = q->ready.begin();
        try {
            n = claim_lanes(*q, lane, max, now, lease_until, worker, types, out, sink);
        } catch (...) {
            put_back_passed_over();
            throw;
        }
        put_back_passed_over();
        return n;
    }

private:
    static bool accepts(std::span<const std::string> types, std::string_view type) noexcept {
        if (types.empty()) return true;
        for (const auto& t : types)
            if (t == type) return true;
        return false;
    }
    // Keys passed over by a type-filtered claim go back to their lanes (their jobs did not
    // move, so the keys are still valid). Room was made before each was popped.
    void put_back_passed_over() noexcept {
        for (auto& [l, k] : passed_over_)
            l->push(k);
        passed_over_.clear();
    }

    template <class Sink>
    std::size_t claim_lanes(queue_state& qs, lane_map::iterator lane, std::size_t max, job_time now,
                            job_time lease_until, std::string_view worker, std::span<const std::string> types,
                            std::vector<claimed_job>& out, Sink& sink) {
        queue_state* q = &qs;
        std::size_t n = 0;
        std::size_t passed_here = 0;                 // keys of this lane in passed_over_
        while (n < max && lane != q->ready.end()) {  // every lane in the map holds a live key
            key_queue& l = lane->second;
            l.drop_stale(validator());
            if (l.empty()) {  // every ready job of the lane passed over
                ++lane;
                passed_here = 0;
                continue;
            }
            entry& e = slab_[l.top().slot];
            job_record& r = e.rec;
            if (!accepts(types, r.type)) {
                passed_over_.reserve(passed_over_.size() + 1);
                l.reserve_pushes(++passed_here);  // put_back_passed_over pushes without allocating
                passed_over_.push_back({&l, l.top()});
                l.pop();
                continue;
            }
            // The lane goes with its last ready job (apply_move): step past it first.
            const auto next_lane = l.live() == 1 ? std::next(lane) : lane;
            // Every allocation first: the copy handed out, the worker name, room in `out` and
            // in the running order. Then the job changes without a throw.
            if (out.size() == out.capacity())
                out.reserve(out.size() + static_cast<std::size_t>(
                                             std::min<std::uint64_t>(max - n, q->counts[job_state::ready])));
            claimed_job c{r, 0};
            c.record.worker.assign(worker);
            std::string w(worker);
            running_.reserve_push();
            const lease_token token = next_token_;
            l.pop();  // may be the lane's last key: the lane goes in apply_move
            apply_move(e, job_state::running, [&]() noexcept {
                ++r.attempts;
                r.token = token;
                next_token_ += stride_;
                r.lease_until = lease_until;
                r.updated_at = now;
                r.worker.swap(w);
            });
            c.record.state = r.state;
            c.record.attempts = r.attempts;
            c.record.token = token;
            c.record.lease_until = lease_until;
            c.record.updated_at = now;
            c.token = token;
            sink(job_change::claimed, std::as_const(r));
            out.push_back(std::move(c));  // within the capacity reserved above
            ++n;
            if (next_lane != lane) passed_here = 0;
            lane = next_lane;
        }
        return n;
    }

public:
    /// running with this token -> ready (scheduled when run_at > now) with the attempt the
    /// claim counted given back. False, nothing changed, otherwise.
    template <class Sink = null_change_sink>
    bool release(job_id id, lease_token token, job_time now, Sink&& sink = Sink{}) {
        entry* e = owned(id, token);
        if (e == nullptr) return false;
        job_record& r = e->rec;
        const job_state next = r.run_at > now ? job_state::scheduled : job_state::ready;
        move_state(*e, next, [&]() noexcept {
            --r.attempts;  // the claim counted it
            if constexpr (planted("store_release_counts_attempt")) ++r.attempts;
            r.updated_at = now;
        });
        sink(job_change::released, std::as_const(r));
        return true;
    }

    /// running with this token -> succeeded. False, nothing changed, otherwise.
    template <class Sink = null_change_sink>
    bool complete(job_id id, lease_token token, job_time now, Sink&& sink = Sink{}) {
        entry* e = owned(id, token);
        if (e == nullptr) return false;
        move_state(*e, job_state::succeeded, [&]() noexcept { e->rec.updated_at = now; });
        sink(job_change::completed, std::as_const(e->rec));
        return true;
    }

    /// running with this token -> dead (asked, or attempts >= max_attempts), else scheduled
    /// at outcome.retry_time (ready if that is <= now). Records `error` as last_error.
    template <class Sink = null_change_sink>
    bool fail(job_id id, lease_token token, fail_outcome outcome, std::string_view error, job_time now,
              Sink&& sink = Sink{}) {
        entry* e = owned(id, token);
        if (e == nullptr) return false;
        job_record& r = e->rec;
        const bool dead = outcome.is_dead || r.attempts >= r.max_attempts;
        const job_state next = dead                       ? job_state::dead
                               : outcome.retry_time > now ? job_state::scheduled
                                                          : job_state::ready;
        std::string err(error);  // allocated before the job changes
        move_state(*e, next, [&]() noexcept {
            r.last_error.swap(err);
            r.updated_at = now;
            if (!dead) r.run_at = outcome.retry_time;
        });
        sink(dead ? job_change::failed_dead : job_change::retry_scheduled, std::as_const(r));
        return true;
    }

    /// running with this token: lease_until = until.
    template <class Sink = null_change_sink>
    bool extend_lease(job_id id, lease_token token, job_time until, Sink&& sink = Sink{}) {
        entry* e = owned(id, token);
        if (e == nullptr) return false;
        move_state(*e, job_state::running, [&]() noexcept { e->rec.lease_until = until; });
        sink(job_change::lease_extended, std::as_const(e->rec));
        return true;
    }

    /// Running jobs whose lease_until <= now: back to ready (run_at kept), or dead with
    /// last_error "lease expired" when attempts >= max_attempts. Returns how many moved.
    template <class Sink = null_change_sink>
    std::size_t requeue_expired(job_time now, Sink&& sink = Sink{}) {
        std::size_t n = 0;
        for (;;) {
            running_.drop_stale(validator());
            if (running_.empty() || running_.top().t > now) return n;
            entry& e = slab_[running_.top().slot];
            job_record& r = e.rec;
            if constexpr (planted("store_requeue_forgets_attempt"))
                --r.attempts;  // expired attempt not counted
            const bool dead = r.attempts >= r.max_attempts;
            std::string err(dead ? "lease expired" : "");
            // The key stays until the move is prepared; leave() drops it as the front one.
            move_state(e, dead ? job_state::dead : job_state::ready, [&]() noexcept {
                r.updated_at = now;
                if (dead) r.last_error.swap(err);
            });
            sink(dead ? job_change::expired_dead : job_change::expired_requeued, std::as_const(r));
            ++n;
        }
    }

    /// scheduled / ready / running -> cancelled (a running job's token is refused from now).
    template <class Sink = null_change_sink>
    bool cancel(job_id id, job_time now, Sink&& sink = Sink{}) {
        entry* e = find_entry(id);
        if (e == nullptr || !is_live(e->rec.state)) return false;
        move_state(*e, job_state::cancelled, [&]() noexcept { e->rec.updated_at = now; });
        sink(job_change::cancelled, std::as_const(e->rec));
        return true;
    }

    /// dead -> ready with attempts = 0 and run_at = updated_at = now. False when the job is
    /// not dead, or its dedup key is held by another live job.
    template <class Sink = null_change_sink>
    bool retry_dead(job_id id, job_time now, Sink&& sink = Sink{}) {
        entry* e = find_entry(id);
        if (e == nullptr || e->rec.state != job_state::dead) return false;
        if (!e->rec.dedup_key.empty() && e->q->dedup.count(e->rec.dedup_key) != 0) return false;
        move_state(*e, job_state::ready, [&]() noexcept {
            e->rec.attempts = 0;
            e->rec.run_at = now;
            e->rec.updated_at = now;
        });
        sink(job_change::revived, std::as_const(e->rec));
        return true;
    }

    /// Removes the jobs in terminal `state` with updated_at < older_than; returns how many.
    /// Throws std::invalid_argument for a live state.
    template <class Sink = null_change_sink>
    std::size_t purge(job_state state, job_time older_than, Sink&& sink = Sink{}) {
        if (!is_terminal(state))
            throw std::invalid_argument("purge: only succeeded, dead or cancelled jobs can be purged");
        key_queue& kq = terminal_[terminal_slot(state)];
        std::size_t n = 0;
        for (;;) {
            kq.drop_stale(validator());
            if (kq.empty() || !(kq.top().t < older_than)) return n;
            entry& e = slab_[kq.top().slot];
            kq.pop();
            queue_state& q = *e.q;
            const std::int32_t priority = e.rec.priority;
            unlink(e);
            const job_record removed = std::move(e.rec);
            release(e);
            drop_unused(q, priority);
            sink(job_change::purged, removed);
            ++n;
        }
    }

    /// Earliest run_at among the queue's scheduled and ready jobs; nullopt when none.
    [[nodiscard]] std::optional<job_time> next_run_at(std::string_view queue) {
        queue_state* q = find_queue(queue);
        if (q == nullptr) return std::nullopt;
        std::optional<job_time> t;
        q->sched.drop_stale(validator());
        if (!q->sched.empty()) t = q->sched.top().t;
        for (auto& [priority, l] : q->ready) {
            l.drop_stale(validator());
            if (!l.empty() && (!t || l.top().t < *t)) t = l.top().t;
        }
        return t;
    }

    /// The queue's number of jobs in state `st`. O(1).
    [[nodiscard]] std::uint64_t count(std::string_view queue, job_state st) const noexcept {
        const queue_state* q = find_queue(queue);
        return q == nullptr ? 0 : q->counts.count(st);
    }

    /// Counts per state of the queue, in all and per type (types with a job only).
    [[nodiscard]] store_stats stats(std::string_view queue) const {
        const queue_state* q = find_queue(queue);
        store_stats out;
        if (q == nullptr) return out;
        static_cast<state_counts&>(out) = q->counts;
        for (const auto& [type, c] : q->by_type)
            if (c.total() != 0) out.by_type.emplace(type, c);
        return out;
    }

    /// The queue's jobs in `state`, by id ascending, at most `limit`. O(jobs in the index).
    [[nodiscard]] std::vector<job_record> list(std::string_view queue, job_state state,
                                               std::size_t limit) const {
        const queue_state* q = find_queue(queue);
        if (q == nullptr || limit == 0) return {};
        std::vector<const job_record*> hits;
        slot_of_.for_each([&](job_id, std::uint32_t slot) {
            const entry& e = cslab_[slot];
            if (e.q == q && e.rec.state == state) hits.push_back(&e.rec);
        });
        const auto by_id = [](const job_record* a, const job_record* b) { return a->id < b->id; };
        const std::size_t n = std::min(limit, hits.size());
        std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(n), hits.end(), by_id);
        std::vector<job_record> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i)
            out.push_back(*hits[i]);
        return out;
    }

    [[nodiscard]] const job_record* find(job_id id) const noexcept {
        const entry* e = find_entry(id);
        return e == nullptr ? nullptr : &e->rec;
    }

    // ---- replay and snapshots (journal_store) -------------------------------------------

    /// Inserts or replaces a job exactly as given (any state), indexing it by its state and
    /// taking its dedup key when live; next_id() and next_token() move past its id and token
    /// (to the next number of this index's residue class).
    /// Throws std::invalid_argument for id 0, an empty queue or max_attempts 0.
    void restore(job_record rec) {
        if (rec.id == 0) throw std::invalid_argument("restore: job_record.id is 0");
        validate_new(rec);
        queue_state& q = queue_for(rec.queue);
        entry* e = find_entry(rec.id);
        const bool fresh = e == nullptr;
        // Whether the record replaced already holds the same dedup key in the same queue.
        bool holds_same_key = false;
        if (!fresh && e->q == &q && is_live(e->rec.state) && !rec.dedup_key.empty() &&
            e->rec.dedup_key == rec.dedup_key) {
            auto it = q.dedup.find(rec.dedup_key);
            holds_same_key = it != q.dedup.end() && it->second == rec.id;
        }
        const bool take = is_live(rec.state) && !rec.dedup_key.empty() && !holds_same_key;
        // Every allocation first; then no throw.
        state_counts* tc = nullptr;
        try {
            tc = &type_counts(q, rec.type);
            prepare(q, rec.state, rec.priority);
            if (fresh) e = &allocate(rec.id);
            if (take) {
                try {
                    q.dedup.insert_or_assign(rec.dedup_key, rec.id);
                } catch (...) {
                    if (fresh) release(*e);
                    throw;
                }
            }
        } catch (...) {
            drop_unused(q, rec.priority);
            throw;
        }
        queue_state* old_q = nullptr;
        std::int32_t old_priority = 0;
        if (!fresh) {
            old_q = e->q;
            old_priority = e->rec.priority;
            const bool keep_key = holds_same_key && is_live(rec.state);
            if (!keep_key && is_live(e->rec.state) && !e->rec.dedup_key.empty()) drop_key(*e);
            leave(*e, e->rec.state, /*drop_empty_lane=*/false);  // the new lane may be the old one
        }
        if (rec.id >= next_id_) next_id_ = past(rec.id);
        if (rec.token >= next_token_) next_token_ = past(rec.token);
        e->rec = std::move(rec);
        e->q = &q;
        e->tc = tc;
        enter(*e);
        if (old_q != nullptr) drop_unused(*old_q, old_priority);
    }

    /// After a replay that may have lost records: live jobs that share a queue and dedup
    /// key all lose but the one with the highest id (the later enqueue), which holds the key;
    /// the others go cancelled with a last_error naming the winner (updated_at kept). Returns
    /// the cancelled records. O(jobs log jobs).
    template <class Sink = null_change_sink>
    std::vector<job_record> cancel_duplicate_keys(Sink&& sink = Sink{}) {
        std::map<std::pair<const queue_state*, std::string_view>, std::vector<entry*>> holders;
        slot_of_.for_each([&](job_id, std::uint32_t slot) {
            entry& e = slab_[slot];
            if (is_live(e.rec.state) && !e.rec.dedup_key.empty())
                holders[{e.q, e.rec.dedup_key}].push_back(&e);
        });
        std::vector<job_record> dropped;
        for (auto& [key, es] : holders) {
            if (es.size() < 2) continue;
            std::sort(es.begin(), es.end(),
                      [](const entry* a, const entry* b) { return a->rec.id < b->rec.id; });
            const job_id winner = es.back()->rec.id;
            es.back()->q->dedup.insert_or_assign(es.back()->rec.dedup_key, winner);
            for (std::size_t i = 0; i + 1 < es.size(); ++i) {
                entry& e = *es[i];
                std::string why =
                    "dropped on recovery: job " + std::to_string(winner) + " holds the same dedup key";
                move_state(e, job_state::cancelled, [&]() noexcept { e.rec.last_error.swap(why); });
                sink(job_change::cancelled, std::as_const(e.rec));
                dropped.push_back(e.rec);
            }
        }
        return dropped;
    }

    /// Removes a job whatever its state; false when absent.
    bool erase(job_id id) noexcept {
        entry* e = find_entry(id);
        if (e == nullptr) return false;
        queue_state& q = *e->q;
        const std::int32_t priority = e->rec.priority;
        unlink(*e);
        release(*e);
        drop_unused(q, priority);
        return true;
    }

    /// Calls f(const job_record&) for every job, in no particular order.
    template <class F>
    void for_each(F&& f) const {
        slot_of_.for_each([&](job_id, std::uint32_t slot) { f(std::as_const(cslab_[slot].rec)); });
    }

    [[nodiscard]] std::size_t size() const noexcept { return slot_of_.size(); }
    [[nodiscard]] job_id next_id() const noexcept { return next_id_; }
    [[nodiscard]] lease_token next_token() const noexcept { return next_token_; }
    /// For snapshot loading: ids and tokens never go backwards.
    void advance_next_id(job_id id) noexcept {
        if (id > next_id_) next_id_ = id;
    }
    void advance_next_token(lease_token t) noexcept {
        if (t > next_token_) next_token_ = t;
    }

private:
    friend struct job_index_test_access;

    using queue_map = std::map<std::string, std::unique_ptr<queue_state>, std::less<>>;
    struct queue_state {
        state_counts counts;
        std::map<std::string, state_counts, std::less<>> by_type;  // entries live as long as the queue
        lane_map ready;                                            // live lanes only
        key_queue sched;
        std::unordered_map<std::string, job_id> dedup;
        queue_map::iterator self;  // its own entry of queues_, to erase it when unused
    };

    struct entry {
        std::uint32_t seq = 0;  // bumped on every state / position change and on release
        std::uint32_t slot = 0;
        queue_state* q = nullptr;
        job_record rec;  // rec.id next to seq: valid() reads one cache line
        state_counts* tc =
            nullptr;  // its type's counts in q->by_type (a stable map node); after rec, off valid()'s line
    };

    // The first number of this index's residue class above n.
    std::uint64_t past(std::uint64_t n) const noexcept {
        return n < first_id_ ? first_id_ : first_id_ + ((n - first_id_) / stride_ + 1) * stride_;
    }

    static constexpr std::size_t terminal_slot(job_state s) noexcept {
        return static_cast<std::size_t>(s) - static_cast<std::size_t>(job_state::succeeded);
    }

    queue_state& queue_for(const std::string& name) {
        auto it = queues_.find(name);
        if (it == queues_.end()) {
            it = queues_.emplace(name, std::make_unique<queue_state>()).first;
            it->second->self = it;
        }
        return *it->second;
    }
    static state_counts& type_counts(queue_state& q, std::string_view type) {
        auto it = q.by_type.find(type);
        if (it == q.by_type.end()) it = q.by_type.emplace(std::string(type), state_counts{}).first;
        return it->second;
    }
    queue_state* find_queue(std::string_view name) noexcept {
        auto it = queues_.find(name);
        return it == queues_.end() ? nullptr : it->second.get();
    }
    const queue_state* find_queue(std::string_view name) const noexcept {
        auto it = queues_.find(name);
        return it == queues_.end() ? nullptr : it->second.get();
    }

    // Drops the lane of `priority` when no live job is keyed in it, then the queue when it
    // holds no job and no dedup key: memory and claim / next_run_at cost follow live jobs,
    // not every priority or queue name ever used.
    void drop_unused(queue_state& q, std::int32_t priority) noexcept {
        if (auto it = q.ready.find(priority); it != q.ready.end() && it->second.live() == 0)
            q.ready.erase(it);
        if (q.counts.total() == 0 && q.dedup.empty()) queues_.erase(q.self);
    }

    entry* find_entry(job_id id) noexcept {
        const std::uint32_t slot = slot_of_.find(id);
        return slot == id_map::npos ? nullptr : &slab_[slot];
    }
    const entry* find_entry(job_id id) const noexcept {
        const std::uint32_t slot = slot_of_.find(id);
        return slot == id_map::npos ? nullptr : &cslab_[slot];
    }
    // A key is valid while its slot still holds its job (ids are never reused, so a slot
    // reused by another job fails this even when the 32-bit seq has wrapped around to the
    // key's) and the job has not moved since (seq).
    bool valid(const job_key& k) const noexcept {
        const entry& e = cslab_[k.slot];
        return e.seq == k.seq && e.rec.id == k.id;
    }
    struct key_valid {
        const job_index* self;
        bool operator()(const job_key& k) const noexcept { return self->valid(k); }
    };
    key_valid validator() const noexcept { return {this}; }

    // A fresh slot for `id` (its rec.id set). Strong guarantee.
    entry& allocate(job_id id) {
        if (slot_of_.find(id) != id_map::npos)
            throw std::logic_error("job_index: id already in use (restored past next_id?)");
        std::uint32_t slot;
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
        } else {
            if (slab_size_ >= std::numeric_limits<std::uint32_t>::max())
                throw std::length_error("job_index: too many jobs");
            if (slab_size_ == chunks_.size() * chunk_size)
                chunks_.push_back(std::make_unique<entry[]>(chunk_size));
            if (free_.capacity() < slab_size_ + 1)
                free_.reserve(2 * (slab_size_ + 1));  // release never allocates
            slot = static_cast<std::uint32_t>(slab_size_++);
            slab_[slot].slot = slot;
        }
        try {
            slot_of_.insert(id, slot);
        } catch (...) {
            free_.push_back(slot);
            throw;
        }
        slab_[slot].rec.id = id;
        return slab_[slot];
    }
    void release(entry& e) noexcept {
        slot_of_.erase(e.rec.id);
        ++e.seq;
        e.rec = job_record{};
        e.q = nullptr;
        e.tc = nullptr;
        free_.push_back(e.slot);  // capacity reserved by allocate
    }

    // The job if it is running under `token`: the one check behind complete, fail and
    // extend_lease that refuses a late worker.
    entry* owned(job_id id, lease_token token) noexcept {
        entry* e = find_entry(id);
        if (e == nullptr) return nullptr;
        const job_record& r = e->rec;
        if constexpr (planted("store_skip_token_check")) token = r.token;  // any token accepted
        if (r.state != job_state::running || r.token != token) return nullptr;
        return e;
    }

    std::uint64_t& total(job_state s) noexcept { return totals_[s]; }

    void drop_key(entry& e) noexcept {
        auto it = e.q->dedup.find(e.rec.dedup_key);
        if (it != e.q->dedup.end() && it->second == e.rec.id) e.q->dedup.erase(it);
    }

    // The allocations entering state `to` may need: room for one key in its ordering (and,
    // for ready, the lane itself). Changes no job; a lane created here and left without a
    // live job by a later throw is dropped by drop_unused.
    void prepare(queue_state& q, job_state to, std::int32_t priority) {
        switch (to) {
            case job_state::scheduled:
                q.sched.reserve_push();
                break;
            case job_state::ready:
                q.ready.try_emplace(priority).first->second.reserve_push();
                break;
            case job_state::running:
                running_.reserve_push();
                break;
            case job_state::succeeded:
            case job_state::dead:
            case job_state::cancelled:
                terminal_[terminal_slot(to)].reserve_push();
                break;
        }
    }

    // Leaves state `s`: counts, lane liveness (an emptied lane is dropped unless the caller
    // re-enters it); its keys become stale through ++seq.
    void leave(entry& e, job_state s, bool drop_empty_lane = true) noexcept {
        queue_state& q = *e.q;
        --q.counts[s];
        --(*e.tc)[s];
        --total(s);
        if (s == job_state::ready) {
            auto it = q.ready.find(e.rec.priority);
            it->second.dec_live();
            if (drop_empty_lane && it->second.live() == 0) q.ready.erase(it);
        }
        if (s == job_state::running && !running_.empty()) {
            // Jobs mostly finish in the order they were claimed: drop the key now when it is
            // the front one, instead of leaving it stale for a later rebuild to sweep.
            const job_key& front = running_.top();
            if (front.slot == e.slot && front.seq == e.seq) running_.pop();
        }
        ++e.seq;
    }
    // Enters its current state: counts and a fresh key (room made by prepare()).
    void enter(entry& e) noexcept {
        const std::uint32_t slot = e.slot;
        const job_state s = e.rec.state;
        queue_state& q = *e.q;
        ++q.counts[s];
        ++(*e.tc)[s];
        ++total(s);
        const job_record& r = e.rec;
        switch (s) {
            case job_state::scheduled:
                push(q.sched, {r.run_at, r.id, slot, e.seq}, q.counts[s]);
                break;
            case job_state::ready: {
                key_queue& l = q.ready.find(r.priority)->second;  // made by prepare()
                l.inc_live();
                push(l, {r.run_at, r.id, slot, e.seq}, l.live());
                break;
            }
            case job_state::running:
                push(running_, {r.lease_until, r.id, slot, e.seq}, total(s));
                break;
            case job_state::succeeded:
            case job_state::dead:
            case job_state::cancelled:
                push(terminal_[terminal_slot(s)], {r.updated_at, r.id, slot, e.seq}, total(s));
                break;
        }
    }

    // Removes the entry from the counts and the dedup map; its keys become stale.
    void unlink(entry& e) noexcept {
        if (is_live(e.rec.state) && !e.rec.dedup_key.empty()) drop_key(e);
        leave(e, e.rec.state);
    }

    // State transition in two phases: prepare_move allocates what the move needs (it may
    // throw, and then nothing has changed), apply_move makes it without a throw.
    void prepare_move(entry& e, job_state to) {
        job_record& r = e.rec;
        queue_state& q = *e.q;
        try {
            prepare(q, to, r.priority);
            if (!r.dedup_key.empty() && !is_live(r.state) && is_live(to))
                q.dedup.insert_or_assign(r.dedup_key, r.id);
        } catch (...) {
            drop_unused(q, r.priority);  // a lane prepare() made for nothing
            throw;
        }
    }
    template <class Update>
    void apply_move(entry& e, job_state to, Update&& update) noexcept {
        static_assert(noexcept(update()), "a job's change must not throw: allocate before");
        const job_state from = e.rec.state;
        if (!e.rec.dedup_key.empty() && is_live(from) && !is_live(to)) drop_key(e);
        leave(e, from);
        update();
        e.rec.state = to;
        enter(e);
    }
    template <class Update>
    void move_state(entry& e, job_state to, Update&& update) {
        prepare_move(e, to);
        apply_move(e, to, update);
    }

    // Pushes a key; first rebuilds the queue from its valid keys when stale keys dominate.
    void push(key_queue& kq, const job_key& k, std::uint64_t live) noexcept {
        if (kq.size() > 2 * live + 64) kq.compact(validator());
        kq.push(k);
    }

    template <class Sink>
    void promote_due(queue_state& q, job_time now, Sink& sink) {
        for (;;) {
            q.sched.drop_stale(validator());
            if (q.sched.empty() || q.sched.top().t > now) return;
            entry& e = slab_[q.sched.top().slot];
            prepare_move(e, job_state::ready);
            q.sched.pop();
            apply_move(e, job_state::ready, []() noexcept {});
            sink(job_change::promoted, std::as_const(e.rec));
        }
    }

    job_id first_id_;
    job_id stride_;
    job_id next_id_;
    lease_token next_token_;
    // The slab: chunks of entries (stable addresses), slots reused via free_.
    static constexpr std::size_t chunk_bits = 8, chunk_size = std::size_t{1} << chunk_bits;
    struct slab_view {
        job_index* self;
        entry& operator[](std::uint32_t slot) const noexcept {
            return self->chunks_[slot >> chunk_bits][slot & (chunk_size - 1)];
        }
    };
    struct const_slab_view {
        const job_index* self;
        const entry& operator[](std::uint32_t slot) const noexcept {
            return self->chunks_[slot >> chunk_bits][slot & (chunk_size - 1)];
        }
    };
    std::vector<std::unique_ptr<entry[]>> chunks_;
    std::size_t slab_size_ = 0;
    slab_view slab_{this};
    const_slab_view cslab_{this};
    std::vector<std::uint32_t> free_;
    id_map slot_of_;  // id -> slot
    queue_map queues_;
    key_queue running_;                  // by lease_until
    std::array<key_queue, 3> terminal_;  // by updated_at, per terminal state
    state_counts totals_;
    std::vector<std::pair<key_queue*, job_key>> passed_over_;  // by a type-filtered claim
};

}  // namespace millrace::detail
