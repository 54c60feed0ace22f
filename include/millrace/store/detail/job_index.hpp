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
//   - no clock is read: every time is an argument.
//
// Algorithm: a hash table id -> entry owns the records. Per queue, three binary heaps with
// lazy deletion: `ready` ordered by (priority desc, run_at, id) — the claim order;
// `ready_time` and `sched` by (run_at, id) — next_run_at and promotion of due scheduled jobs.
// Index-wide heaps: `running` by (lease_until, id) for requeue_expired, and one per terminal
// state by (updated_at, id) for purge. Each entry carries a sequence number bumped on every
// state or position change; a heap key whose sequence no longer matches is stale and is
// dropped when it reaches the top, and a heap is rebuilt from its live keys when it holds
// more than twice as many keys as live jobs (plus a constant), so stale keys cost O(1)
// amortized and memory stays O(live). Hence claim costs O(log n) per job claimed,
// enqueue / complete / fail / extend_lease / cancel O(log n), requeue_expired and purge
// O(log n) per job moved, next_run_at O(1) amortized, stats O(1), list O(n) (admin only).
// Dedup: per queue, a hash map dedup key -> id of the live job holding it; released on the
// transition to a terminal state, taken again by retry_dead (which refuses while taken).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

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
};

[[nodiscard]] constexpr std::string_view to_string(job_change c) noexcept {
    switch (c) {
        case job_change::enqueued: return "enqueued";
        case job_change::promoted: return "promoted";
        case job_change::claimed: return "claimed";
        case job_change::completed: return "completed";
        case job_change::retry_scheduled: return "retry_scheduled";
        case job_change::failed_dead: return "failed_dead";
        case job_change::lease_extended: return "lease_extended";
        case job_change::expired_requeued: return "expired_requeued";
        case job_change::expired_dead: return "expired_dead";
        case job_change::cancelled: return "cancelled";
        case job_change::revived: return "revived";
        case job_change::purged: return "purged";
    }
    return "unknown";
}

/// The sink of an adapter that logs nothing.
struct null_change_sink {
    void operator()(job_change, const job_record&) const noexcept {}
};

class job_index {
public:
    /// Ids (and lease tokens) assigned are first_id, first_id + id_stride, ... (a sharded
    /// adapter gives each shard its own residue, so an id names its shard and tokens are
    /// unique store-wide). Throws std::invalid_argument when first_id or id_stride is 0.
    explicit job_index(job_id first_id = 1, job_id id_stride = 1)
        : first_id_(first_id), stride_(id_stride), next_id_(first_id), next_token_(first_id) {
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
    /// holding the same queue + dedup key with inserted = false.
    template <class Sink = null_change_sink>
    enqueue_result enqueue(job_record rec, Sink&& sink = Sink{}) {
        validate_new(rec);
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
        auto [it, fresh] = jobs_.try_emplace(id);
        if (!fresh) throw std::logic_error("job_index: id already in use (restore past next_id?)");
        next_id_ += stride_;
        entry& e = it->second;
        e.rec = std::move(rec);
        e.q = &q;
        link(e);
        sink(job_change::enqueued, std::as_const(e.rec));
        return {id, true};
    }

    /// Appends up to `max` claimed jobs of `queue` to `out`, in claim order; returns how many.
    /// Scheduled jobs with run_at <= now are promoted to ready first.
    template <class Sink = null_change_sink>
    std::size_t claim(std::string_view queue, std::size_t max, job_time now, job_time lease_until,
                      std::string_view worker, std::vector<claimed_job>& out, Sink&& sink = Sink{}) {
        queue_state* q = find_queue(queue);
        if (q == nullptr || max == 0) return 0;
        promote_due(*q, now, sink);
        std::size_t n = 0;
        while (n < max && !q->ready.empty()) {
            const ready_key k = q->ready.front();
            std::pop_heap(q->ready.begin(), q->ready.end(), ready_after{});
            q->ready.pop_back();
            entry* e = live_entry(k.id, k.seq);
            if (e == nullptr) continue;
            job_record& r = e->rec;
            move_state(*e, job_state::running, [&] {
                ++r.attempts;
                r.token = next_token_;
                next_token_ += stride_;
                r.lease_until = lease_until;
                r.updated_at = now;
                r.worker.assign(worker);
            });
            sink(job_change::claimed, std::as_const(r));
            out.push_back(claimed_job{r, r.token});
            ++n;
        }
        return n;
    }

    /// running with this token -> succeeded. False, nothing changed, otherwise.
    template <class Sink = null_change_sink>
    bool complete(job_id id, lease_token token, job_time now, Sink&& sink = Sink{}) {
        entry* e = owned(id, token);
        if (e == nullptr) return false;
        move_state(*e, job_state::succeeded, [&] { e->rec.updated_at = now; });
        sink(job_change::completed, std::as_const(e->rec));
        return true;
    }

    /// running with this token -> dead (asked, or attempts >= max_attempts), else scheduled
    /// at outcome.retry_time (ready if that is <= now). Records `error` as last_error.
    template <class Sink = null_change_sink>
    bool fail(job_id id, lease_token token, fail_outcome outcome, std::string_view error,
              job_time now, Sink&& sink = Sink{}) {
        entry* e = owned(id, token);
        if (e == nullptr) return false;
        job_record& r = e->rec;
        const bool dead = outcome.is_dead || r.attempts >= r.max_attempts;
        const job_state next = dead                         ? job_state::dead
                               : outcome.retry_time > now ? job_state::scheduled
                                                          : job_state::ready;
        move_state(*e, next, [&] {
            r.last_error.assign(error);
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
        move_state(*e, job_state::running, [&] { e->rec.lease_until = until; });
        sink(job_change::lease_extended, std::as_const(e->rec));
        return true;
    }

    /// Running jobs whose lease_until <= now: back to ready (run_at kept), or dead with
    /// last_error "lease expired" when attempts >= max_attempts. Returns how many moved.
    template <class Sink = null_change_sink>
    std::size_t requeue_expired(job_time now, Sink&& sink = Sink{}) {
        std::size_t n = 0;
        while (!running_.empty()) {
            const time_key k = running_.front();
            if (live_entry(k.id, k.seq) != nullptr && k.t > now) break;
            std::pop_heap(running_.begin(), running_.end(), time_after{});
            running_.pop_back();
            entry* e = live_entry(k.id, k.seq);
            if (e == nullptr) continue;
            job_record& r = e->rec;
#ifdef MILLRACE_PLANT_BUG_store_requeue_forgets_attempt
            --r.attempts;  // planted: the expired attempt is not counted
#endif
            const bool dead = r.attempts >= r.max_attempts;
            move_state(*e, dead ? job_state::dead : job_state::ready, [&] {
                r.updated_at = now;
                if (dead) r.last_error = "lease expired";
            });
            sink(dead ? job_change::expired_dead : job_change::expired_requeued, std::as_const(r));
            ++n;
        }
        return n;
    }

    /// scheduled / ready / running -> cancelled (a running job's token is refused from now).
    template <class Sink = null_change_sink>
    bool cancel(job_id id, job_time now, Sink&& sink = Sink{}) {
        auto it = jobs_.find(id);
        if (it == jobs_.end() || !is_live(it->second.rec.state)) return false;
        entry& e = it->second;
        move_state(e, job_state::cancelled, [&] { e.rec.updated_at = now; });
        sink(job_change::cancelled, std::as_const(e.rec));
        return true;
    }

    /// dead -> ready with attempts = 0 and run_at = updated_at = now. False when the job is
    /// not dead, or its dedup key is held by another live job.
    template <class Sink = null_change_sink>
    bool retry_dead(job_id id, job_time now, Sink&& sink = Sink{}) {
        auto it = jobs_.find(id);
        if (it == jobs_.end() || it->second.rec.state != job_state::dead) return false;
        entry& e = it->second;
        if (!e.rec.dedup_key.empty() && e.q->dedup.count(e.rec.dedup_key) != 0) return false;
        move_state(e, job_state::ready, [&] {
            e.rec.attempts = 0;
            e.rec.run_at = now;
            e.rec.updated_at = now;
        });
        sink(job_change::revived, std::as_const(e.rec));
        return true;
    }

    /// Removes the jobs in terminal `state` with updated_at < older_than; returns how many.
    /// Throws std::invalid_argument for a live state.
    template <class Sink = null_change_sink>
    std::size_t purge(job_state state, job_time older_than, Sink&& sink = Sink{}) {
        if (!is_terminal(state)) throw std::invalid_argument("purge: only succeeded, dead or cancelled jobs can be purged");
        auto& heap = terminal_[terminal_slot(state)];
        std::size_t n = 0;
        while (!heap.empty()) {
            const time_key k = heap.front();
            if (live_entry(k.id, k.seq) != nullptr && !(k.t < older_than)) break;
            std::pop_heap(heap.begin(), heap.end(), time_after{});
            heap.pop_back();
            auto it = jobs_.find(k.id);
            if (it == jobs_.end() || it->second.seq != k.seq) continue;
            unlink(it->second);
            sink(job_change::purged, std::as_const(it->second.rec));
            jobs_.erase(it);
            ++n;
        }
        return n;
    }

    /// Earliest run_at among the queue's scheduled and ready jobs; nullopt when none.
    [[nodiscard]] std::optional<job_time> next_run_at(std::string_view queue) {
        queue_state* q = find_queue(queue);
        if (q == nullptr) return std::nullopt;
        drop_stale(q->sched);
        drop_stale(q->ready_time);
        std::optional<job_time> t;
        if (!q->sched.empty()) t = q->sched.front().t;
        if (!q->ready_time.empty() && (!t || q->ready_time.front().t < *t)) t = q->ready_time.front().t;
        return t;
    }

    [[nodiscard]] store_stats stats(std::string_view queue) const {
        const queue_state* q = find_queue(queue);
        return q == nullptr ? store_stats{} : q->counts;
    }

    /// The queue's jobs in `state`, by id ascending, at most `limit`. O(jobs in the index).
    [[nodiscard]] std::vector<job_record> list(std::string_view queue, job_state state,
                                               std::size_t limit) const {
        std::vector<const job_record*> hits;
        const queue_state* q = find_queue(queue);
        if (q == nullptr || limit == 0) return {};
        for (const auto& [id, e] : jobs_)
            if (e.q == q && e.rec.state == state) hits.push_back(&e.rec);
        const auto by_id = [](const job_record* a, const job_record* b) { return a->id < b->id; };
        const std::size_t n = std::min(limit, hits.size());
        std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(n), hits.end(), by_id);
        std::vector<job_record> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; ++i) out.push_back(*hits[i]);
        return out;
    }

    [[nodiscard]] const job_record* find(job_id id) const noexcept {
        auto it = jobs_.find(id);
        return it == jobs_.end() ? nullptr : &it->second.rec;
    }

    // ---- replay and snapshots (journal_store) -------------------------------------------

    /// Inserts or replaces a job exactly as given (any state), indexing it by its state and
    /// taking its dedup key when live; next_id() and next_token() move past its id and token
    /// (to the next number of this index's residue class).
    /// Throws std::invalid_argument for id 0, an empty queue or max_attempts 0.
    void restore(job_record rec) {
        if (rec.id == 0) throw std::invalid_argument("restore: job_record.id is 0");
        validate_new(rec);
        if (rec.id >= next_id_) next_id_ = past(rec.id);
        if (rec.token >= next_token_) next_token_ = past(rec.token);
        auto [it, fresh] = jobs_.try_emplace(rec.id);
        entry& e = it->second;
        if (!fresh) unlink(e);
        e.rec = std::move(rec);
        e.q = &queue_for(e.rec.queue);
        link(e);
    }

    /// Removes a job whatever its state; false when absent.
    bool erase(job_id id) {
        auto it = jobs_.find(id);
        if (it == jobs_.end()) return false;
        unlink(it->second);
        jobs_.erase(it);
        return true;
    }

    /// Calls f(const job_record&) for every job, in no particular order.
    template <class F>
    void for_each(F&& f) const {
        for (const auto& [id, e] : jobs_) f(std::as_const(e.rec));
    }

    [[nodiscard]] std::size_t size() const noexcept { return jobs_.size(); }
    [[nodiscard]] job_id next_id() const noexcept { return next_id_; }
    [[nodiscard]] lease_token next_token() const noexcept { return next_token_; }
    /// For snapshot loading: ids and tokens never go backwards.
    void advance_next_id(job_id id) noexcept {
        if (id > next_id_) next_id_ = id;
    }
    void advance_next_token(lease_token t) noexcept {
        if (t > next_token_) next_token_ = t;
    }
    void reserve(std::size_t jobs) { jobs_.reserve(jobs); }

private:
    struct ready_key {
        std::int32_t priority;
        std::uint32_t seq;
        job_time run_at;
        job_id id;
    };
    // a "after" b in claim order: lower priority, later run_at, larger id (max-heap comparator).
    struct ready_after {
        bool operator()(const ready_key& a, const ready_key& b) const noexcept {
            if (a.priority != b.priority) return a.priority < b.priority;
            if (a.run_at != b.run_at) return a.run_at > b.run_at;
            return a.id > b.id;
        }
    };
    struct time_key {
        job_time t;
        job_id id;
        std::uint32_t seq;
    };
    struct time_after {
        bool operator()(const time_key& a, const time_key& b) const noexcept {
            if (a.t != b.t) return a.t > b.t;
            return a.id > b.id;
        }
    };

    struct queue_state {
        store_stats counts;
        std::vector<ready_key> ready;       // heap, ready_after
        std::vector<time_key> ready_time;   // heap, time_after, by run_at
        std::vector<time_key> sched;        // heap, time_after, by run_at
        std::unordered_map<std::string, job_id> dedup;
    };

    struct entry {
        job_record rec;
        queue_state* q = nullptr;
        std::uint32_t seq = 0;  // bumped on every state / position change; heap keys must match
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
        if (it == queues_.end()) it = queues_.emplace(name, std::make_unique<queue_state>()).first;
        return *it->second;
    }
    queue_state* find_queue(std::string_view name) noexcept {
        auto it = queues_.find(name);
        return it == queues_.end() ? nullptr : it->second.get();
    }
    const queue_state* find_queue(std::string_view name) const noexcept {
        auto it = queues_.find(name);
        return it == queues_.end() ? nullptr : it->second.get();
    }

    entry* live_entry(job_id id, std::uint32_t seq) noexcept {
        auto it = jobs_.find(id);
        return it == jobs_.end() || it->second.seq != seq ? nullptr : &it->second;
    }

    // The job if it is running under `token`: the one check behind complete, fail and
    // extend_lease that refuses a late worker.
    entry* owned(job_id id, lease_token token) noexcept {
        auto it = jobs_.find(id);
        if (it == jobs_.end()) return nullptr;
        const job_record& r = it->second.rec;
#ifdef MILLRACE_PLANT_BUG_store_skip_token_check
        (void)token;
        if (r.state != job_state::running) return nullptr;  // planted: any token accepted
#else
        if (r.state != job_state::running || r.token != token) return nullptr;
#endif
        return &it->second;
    }

    std::uint64_t& total(job_state s) noexcept { return totals_[s]; }

    // Adds the entry, in its current state, to the counts, the dedup map and its heaps.
    void link(entry& e) {
        const job_state s = e.rec.state;
        ++e.q->counts[s];
        ++total(s);
        if (is_live(s) && !e.rec.dedup_key.empty()) e.q->dedup[e.rec.dedup_key] = e.rec.id;
        push_keys(e);
    }

    // Removes the entry from the counts and the dedup map; its heap keys become stale.
    void unlink(entry& e) noexcept {
        const job_state s = e.rec.state;
        --e.q->counts[s];
        --total(s);
        if (is_live(s) && !e.rec.dedup_key.empty()) {
            auto it = e.q->dedup.find(e.rec.dedup_key);
            if (it != e.q->dedup.end() && it->second == e.rec.id) e.q->dedup.erase(it);
        }
        ++e.seq;
    }

    // State transition: counts, dedup hand-over only when liveness changes, fresh keys.
    template <class Update>
    void move_state(entry& e, job_state to, Update&& update) {
        const job_state from = e.rec.state;
        --e.q->counts[from];
        --total(from);
        if (is_live(from) && !is_live(to) && !e.rec.dedup_key.empty()) {
            auto it = e.q->dedup.find(e.rec.dedup_key);
            if (it != e.q->dedup.end() && it->second == e.rec.id) e.q->dedup.erase(it);
        } else if (!is_live(from) && is_live(to) && !e.rec.dedup_key.empty()) {
            e.q->dedup[e.rec.dedup_key] = e.rec.id;
        }
        ++e.seq;
        update();
        e.rec.state = to;
        ++e.q->counts[to];
        ++total(to);
        push_keys(e);
    }

    void push_keys(entry& e) {
        const job_record& r = e.rec;
        queue_state& q = *e.q;
        switch (r.state) {
            case job_state::scheduled:
                push(q.sched, time_key{r.run_at, r.id, e.seq}, time_after{}, q.counts[job_state::scheduled]);
                break;
            case job_state::ready:
                push(q.ready, ready_key{r.priority, e.seq, r.run_at, r.id}, ready_after{}, q.counts[job_state::ready]);
                push(q.ready_time, time_key{r.run_at, r.id, e.seq}, time_after{}, q.counts[job_state::ready]);
                break;
            case job_state::running:
                push(running_, time_key{r.lease_until, r.id, e.seq}, time_after{}, total(job_state::running));
                break;
            case job_state::succeeded:
            case job_state::dead:
            case job_state::cancelled:
                push(terminal_[terminal_slot(r.state)], time_key{r.updated_at, r.id, e.seq}, time_after{},
                     total(r.state));
                break;
        }
    }

    // Pushes a key; first rebuilds the heap from its valid keys when stale keys dominate.
    template <class Key, class After>
    void push(std::vector<Key>& heap, const Key& k, After after, std::uint64_t live) {
        if (heap.size() > 2 * live + 64) {
            std::erase_if(heap, [this](const Key& x) { return live_entry(x.id, x.seq) == nullptr; });
            std::make_heap(heap.begin(), heap.end(), after);
        }
        heap.push_back(k);
        std::push_heap(heap.begin(), heap.end(), after);
    }

    void drop_stale(std::vector<time_key>& heap) noexcept {
        while (!heap.empty() && live_entry(heap.front().id, heap.front().seq) == nullptr) {
            std::pop_heap(heap.begin(), heap.end(), time_after{});
            heap.pop_back();
        }
    }

    template <class Sink>
    void promote_due(queue_state& q, job_time now, Sink& sink) {
        for (;;) {
            drop_stale(q.sched);
            if (q.sched.empty() || q.sched.front().t > now) return;
            const time_key k = q.sched.front();
            std::pop_heap(q.sched.begin(), q.sched.end(), time_after{});
            q.sched.pop_back();
            entry& e = *live_entry(k.id, k.seq);
            move_state(e, job_state::ready, [] {});
            sink(job_change::promoted, std::as_const(e.rec));
        }
    }

    job_id first_id_;
    job_id stride_;
    job_id next_id_;
    lease_token next_token_;
    std::unordered_map<job_id, entry> jobs_;
    std::map<std::string, std::unique_ptr<queue_state>, std::less<>> queues_;
    std::vector<time_key> running_;                    // heap, time_after, by lease_until
    std::array<std::vector<time_key>, 3> terminal_;    // heaps, time_after, by updated_at
    store_stats totals_;
};

}  // namespace millrace::detail
