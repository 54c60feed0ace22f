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
//   - std::bad_alloc (the only exception besides the documented std::invalid_argument and
//     std::logic_error) leaves the table memory-safe, but a job being moved at that moment
//     may be missing from one ordering (not claimable / not requeued) until restored;
//   - no clock is read: every time is an argument.
//
// Algorithm: the records live in a slab of entries (slots reused through a free list); a
// hash table maps id -> slot. Every ordering is a `key_queue`: keys (time, id) kept as a
// sorted run (a deque, appended to while keys arrive in order — the common case: run_at,
// lease_until and updated_at mostly grow with time and ids grow) plus a binary min-heap for
// the keys that arrive out of order; its top is the smaller of the two fronts. Pushing in
// order and popping are O(1), the rest O(log n). Sources: the binary heap (Williams, CACM
// 1964) with lazy deletion, as in textbook Dijkstra implementations; setting the in-order
// run apart exploits presortedness the way adaptive sorts do with natural runs
// (Estivill-Castro & Wood, ACM Computing Surveys 1992).
// Per queue: one ready key_queue per priority level (std::map, highest first) ordered by
// (run_at, id), so the claim order is priority desc, run_at, id; one `sched` key_queue by
// run_at for promotion of due scheduled jobs. Index-wide: `running` by lease_until for
// requeue_expired, and one per terminal state by updated_at for purge. Deletion is lazy:
// each slot carries a sequence number bumped on every state or position change and on
// release, keys carry (slot, seq), and a key whose seq no longer matches its slot's is stale,
// dropped when it reaches a front; a key_queue is rebuilt from its valid keys when it holds
// more than twice as many keys as live jobs (plus a constant), so stale keys cost O(1)
// amortized and memory stays O(live); a finished job's running key is dropped at once when
// it is the front one (jobs mostly finish in claim order). Hence claim costs O(log n) per job claimed (O(1) +
// one map step per priority level visited when keys arrive in order), enqueue / complete /
// fail / extend_lease / cancel O(log n) worst case, requeue_expired and purge O(log n) per
// job moved, next_run_at O(priority levels) amortized, stats O(1), list O(n) (admin only).
// Dedup: per queue, a hash map dedup key -> id of the live job holding it; released on the
// transition to a terminal state, taken again by retry_dead (which refuses while taken).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "millrace/store/detail/id_map.hpp"
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

/// A min-queue of (time, id) keys with lazy deletion: a sorted run for keys that arrive in
/// order, a binary heap for the others (see the header comment).
struct job_key {
    job_time t;
    job_id id;
    std::uint32_t slot;
    std::uint32_t seq;
};
static_assert(sizeof(job_key) == 24);

class key_queue {
public:
    [[nodiscard]] bool empty() const noexcept { return run_.empty() && heap_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return run_.size() + heap_.size(); }

    void push(const job_key& k) {
        if (run_.empty() || !before(k, run_.back())) {
            run_.push_back(k);
        } else {
            heap_.push_back(k);
            std::push_heap(heap_.begin(), heap_.end(), after{});
        }
    }
    /// Requires !empty().
    [[nodiscard]] const job_key& top() const noexcept { return from_heap() ? heap_.front() : run_.front(); }
    /// Requires !empty().
    void pop() noexcept {
        if (from_heap()) {
            std::pop_heap(heap_.begin(), heap_.end(), after{});
            heap_.pop_back();
        } else {
            run_.pop_front();
        }
    }
    template <class Valid>
    void drop_stale(Valid&& valid) {
        while (!empty() && !valid(top())) pop();
    }
    template <class Valid>
    void compact(Valid&& valid) {
        std::erase_if(run_, [&](const job_key& k) { return !valid(k); });  // stays sorted
        std::erase_if(heap_, [&](const job_key& k) { return !valid(k); });
        std::make_heap(heap_.begin(), heap_.end(), after{});
    }

    std::uint64_t live = 0;  // maintained by job_index where no count gives it

private:
    static bool before(const job_key& a, const job_key& b) noexcept {
        return a.t < b.t || (a.t == b.t && a.id < b.id);
    }
    struct after {
        bool operator()(const job_key& a, const job_key& b) const noexcept { return before(b, a); }
    };
    bool from_heap() const noexcept {
        if (heap_.empty()) return false;
        return run_.empty() || before(heap_.front(), run_.front());
    }

    std::deque<job_key> run_;
    std::vector<job_key> heap_;
};

class job_index {
public:
    /// Ids (and lease tokens) assigned are first_id, first_id + id_stride, ... (a sharded
    /// adapter gives each shard its own residue, so an id names its shard and tokens are
    /// unique store-wide). Throws std::invalid_argument when first_id or id_stride is 0.
    explicit job_index(job_id first_id = 1, job_id id_stride = 1)
        : first_id_(first_id), stride_(id_stride), next_id_(first_id), next_token_(first_id), slot_of_(id_stride) {
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
        entry& e = allocate(id);
        next_id_ += stride_;
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
        out.reserve(out.size() + static_cast<std::size_t>(std::min<std::uint64_t>(max, q->counts[job_state::ready])));
        std::size_t n = 0;
        for (auto& [priority, l] : q->ready) {
            while (n < max) {
                l.drop_stale(validator());
                if (l.empty()) break;
                entry& e = slab_[l.top().slot];
                l.pop();
                job_record& r = e.rec;
                move_state(e, job_state::running, [&] {
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
            if (n == max) break;
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
        for (;;) {
            running_.drop_stale(validator());
            if (running_.empty() || running_.top().t > now) return n;
            entry& e = slab_[running_.top().slot];
            running_.pop();
            job_record& r = e.rec;
#ifdef MILLRACE_PLANT_BUG_store_requeue_forgets_attempt
            --r.attempts;  // planted: the expired attempt is not counted
#endif
            const bool dead = r.attempts >= r.max_attempts;
            move_state(e, dead ? job_state::dead : job_state::ready, [&] {
                r.updated_at = now;
                if (dead) r.last_error = "lease expired";
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
        move_state(*e, job_state::cancelled, [&] { e->rec.updated_at = now; });
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
        move_state(*e, job_state::ready, [&] {
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
        if (!is_terminal(state)) throw std::invalid_argument("purge: only succeeded, dead or cancelled jobs can be purged");
        key_queue& kq = terminal_[terminal_slot(state)];
        std::size_t n = 0;
        for (;;) {
            kq.drop_stale(validator());
            if (kq.empty() || !(kq.top().t < older_than)) return n;
            entry& e = slab_[kq.top().slot];
            kq.pop();
            unlink(e);
            const job_record removed = std::move(e.rec);
            release(e);
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

    [[nodiscard]] store_stats stats(std::string_view queue) const {
        const queue_state* q = find_queue(queue);
        return q == nullptr ? store_stats{} : q->counts;
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
        for (std::size_t i = 0; i < n; ++i) out.push_back(*hits[i]);
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
        if (e != nullptr) {
            unlink(*e);
        } else {
            e = &allocate(rec.id);
        }
        if (rec.id >= next_id_) next_id_ = past(rec.id);
        if (rec.token >= next_token_) next_token_ = past(rec.token);
        e->rec = std::move(rec);
        e->q = &q;
        link(*e);
    }

    /// Removes a job whatever its state; false when absent.
    bool erase(job_id id) {
        entry* e = find_entry(id);
        if (e == nullptr) return false;
        unlink(*e);
        release(*e);
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
    void reserve(std::size_t jobs) { slot_of_.reserve(jobs); }

private:
    struct queue_state {
        store_stats counts;
        std::map<std::int32_t, key_queue, std::greater<>> ready;  // by priority, highest first
        key_queue sched;
        std::unordered_map<std::string, job_id> dedup;
    };

    struct entry {
        job_record rec;
        queue_state* q = nullptr;
        std::uint32_t seq = 0;  // bumped on every state / position change and on release
        std::uint32_t slot = 0;
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

    entry* find_entry(job_id id) noexcept {
        const std::uint32_t slot = slot_of_.find(id);
        return slot == id_map::npos ? nullptr : &slab_[slot];
    }
    const entry* find_entry(job_id id) const noexcept {
        const std::uint32_t slot = slot_of_.find(id);
        return slot == id_map::npos ? nullptr : &cslab_[slot];
    }
    bool valid(const job_key& k) const noexcept { return cslab_[k.slot].seq == k.seq; }
    struct key_valid {
        const job_index* self;
        bool operator()(const job_key& k) const noexcept { return self->valid(k); }
    };
    key_valid validator() const noexcept { return {this}; }

    // A fresh slot for `id`.
    entry& allocate(job_id id) {
        if (slot_of_.find(id) != id_map::npos) throw std::logic_error("job_index: id already in use (restored past next_id?)");
        std::uint32_t slot;
        if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
        } else {
            if (slab_size_ >= std::numeric_limits<std::uint32_t>::max()) throw std::length_error("job_index: too many jobs");
            if (slab_size_ == chunks_.size() * chunk_size) chunks_.push_back(std::make_unique<entry[]>(chunk_size));
            if (free_.capacity() < slab_size_ + 1) free_.reserve(2 * (slab_size_ + 1));  // release never allocates
            slot = static_cast<std::uint32_t>(slab_size_++);
            slab_[slot].slot = slot;
        }
        try {
            slot_of_.insert(id, slot);
        } catch (...) {
            free_.push_back(slot);
            throw;
        }
        return slab_[slot];
    }
    void release(entry& e) noexcept {
        slot_of_.erase(e.rec.id);
        ++e.seq;
        e.rec = job_record{};
        e.q = nullptr;
        free_.push_back(e.slot);  // capacity reserved by allocate
    }

    // The job if it is running under `token`: the one check behind complete, fail and
    // extend_lease that refuses a late worker.
    entry* owned(job_id id, lease_token token) noexcept {
        entry* e = find_entry(id);
        if (e == nullptr) return nullptr;
        const job_record& r = e->rec;
#ifdef MILLRACE_PLANT_BUG_store_skip_token_check
        (void)token;
        if (r.state != job_state::running) return nullptr;  // planted: any token accepted
#else
        if (r.state != job_state::running || r.token != token) return nullptr;
#endif
        return e;
    }

    std::uint64_t& total(job_state s) noexcept { return totals_[s]; }

    key_queue& lane(queue_state& q, std::int32_t priority) { return q.ready[priority]; }

    void take_key(entry& e) {
        if (!e.rec.dedup_key.empty()) e.q->dedup[e.rec.dedup_key] = e.rec.id;
    }
    void drop_key(entry& e) noexcept {
        auto it = e.q->dedup.find(e.rec.dedup_key);
        if (it != e.q->dedup.end() && it->second == e.rec.id) e.q->dedup.erase(it);
    }

    // Leaves state `s`: counts, lane liveness; its keys become stale through ++seq.
    void leave(entry& e, job_state s) noexcept {
        --e.q->counts[s];
        --total(s);
        if (s == job_state::ready) --e.q->ready.find(e.rec.priority)->second.live;
        if (s == job_state::running && !running_.empty()) {
            // Jobs mostly finish in the order they were claimed: drop the key now when it is
            // the front one, instead of leaving it stale for a later rebuild to sweep.
            const job_key& front = running_.top();
            if (front.slot == e.slot && front.seq == e.seq) running_.pop();
        }
        ++e.seq;
    }
    // Enters its current state: counts and fresh keys.
    void enter(entry& e) {
        const std::uint32_t slot = e.slot;
        const job_state s = e.rec.state;
        ++e.q->counts[s];
        ++total(s);
        const job_record& r = e.rec;
        queue_state& q = *e.q;
        switch (s) {
            case job_state::scheduled: push(q.sched, {r.run_at, r.id, slot, e.seq}, q.counts[s]); break;
            case job_state::ready: {
                key_queue& l = lane(q, r.priority);
                ++l.live;
                push(l, {r.run_at, r.id, slot, e.seq}, l.live);
                break;
            }
            case job_state::running: push(running_, {r.lease_until, r.id, slot, e.seq}, total(s)); break;
            case job_state::succeeded:
            case job_state::dead:
            case job_state::cancelled:
                push(terminal_[terminal_slot(s)], {r.updated_at, r.id, slot, e.seq}, total(s));
                break;
        }
    }

    // Adds the entry, in its current state, to the counts, the dedup map and its queues.
    void link(entry& e) {
        if (is_live(e.rec.state)) take_key(e);
        enter(e);
    }
    // Removes the entry from the counts and the dedup map; its keys become stale.
    void unlink(entry& e) noexcept {
        if (is_live(e.rec.state) && !e.rec.dedup_key.empty()) drop_key(e);
        leave(e, e.rec.state);
    }

    // State transition: counts, dedup hand-over only when liveness changes, fresh keys.
    template <class Update>
    void move_state(entry& e, job_state to, Update&& update) {
        const job_state from = e.rec.state;
        if (!e.rec.dedup_key.empty()) {
            if (is_live(from) && !is_live(to)) {
                drop_key(e);
            } else if (!is_live(from) && is_live(to)) {
                take_key(e);
            }
        }
        leave(e, from);
        update();
        e.rec.state = to;
        enter(e);
    }

    // Pushes a key; first rebuilds the queue from its valid keys when stale keys dominate.
    void push(key_queue& kq, const job_key& k, std::uint64_t live) {
        if (kq.size() > 2 * live + 64) kq.compact(validator());
        kq.push(k);
    }

    template <class Sink>
    void promote_due(queue_state& q, job_time now, Sink& sink) {
        for (;;) {
            q.sched.drop_stale(validator());
            if (q.sched.empty() || q.sched.top().t > now) return;
            const job_key k = q.sched.top();
            q.sched.pop();
            entry& e = slab_[k.slot];
            move_state(e, job_state::ready, [] {});
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
    id_map slot_of_;                                    // id -> slot
    std::map<std::string, std::unique_ptr<queue_state>, std::less<>> queues_;
    key_queue running_;                                 // by lease_until
    std::array<key_queue, 3> terminal_;                 // by updated_at, per terminal state
    store_stats totals_;
};

}  // namespace millrace::detail
