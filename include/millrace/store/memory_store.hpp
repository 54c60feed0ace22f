// millrace/store/memory_store.hpp: the reference millrace::task_store, in memory.
//
// Guarantees: every operation of the task_store contract (docs/storage.md), linearizable
// (each call runs under the lock of the shard it touches, and a job lives in exactly one
// shard); thread-safe; nothing survives the process (journal_store is the durable adapter).
// Models millrace::notifying_store: wait_for_jobs wakes on this store's enqueues, releases,
// retries and requeues.
//
// Algorithm: the queues are spread over a power-of-two number of shards by a hash of the
// queue name; each shard is a detail::job_index (sorted runs + heaps with lazy deletion:
// claim O(log n) per job, O(1) when keys arrive in order; next_run_at O(priority levels))
// behind its own std::mutex, on its own cache lines. Ids and lease tokens are strided:
// shard i assigns i+1, i+1+S, i+1+2S, ... (S shards), so an id names its shard, tokens are
// unique store-wide, and complete / fail / extend_lease / cancel / find / retry_dead lock
// that shard alone: claimers and workers of different queues do not contend (unless their
// queues hash to the same shard). requeue_expired and purge visit every shard, one lock at a time, so they
// are linearizable per shard (per job), not as one snapshot of the whole store.
//
// complete_many / fail_many lock the shard of each item in turn (one lock per run of items of
// the same shard); each item is linearizable on its own, the batch is not one snapshot.
// Schedules live in one table behind their own mutex: advance_schedule is a compare-and-set
// under it.
//
// Memory ordering: all shared state is guarded by the shard mutexes and the schedule mutex
// (lock = acquire, unlock = release); there are no atomics.
//
// Throws: enqueue / enqueue_batch std::invalid_argument for an empty queue or max_attempts 0
// (a batch is checked whole before any record is inserted); purge std::invalid_argument for
// a live state; the constructor std::invalid_argument for 0 or more than 65536 shards;
// enqueue / enqueue_batch std::length_error when a shard would hold more than 2^32 - 1
// jobs; upsert_schedule std::invalid_argument for an empty name or queue; std::bad_alloc anywhere memory is
// needed. Each change of a job is all or nothing (see job_index): after any of these the store is as before
// the job's change.
#pragma once

#include <bit>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "millrace/core/cache.hpp"
#include "millrace/store/concepts.hpp"
#include "millrace/store/detail/job_index.hpp"
#include "millrace/store/detail/schedule_table.hpp"
#include "millrace/store/job.hpp"

namespace millrace {

/// The in-memory task_store (and notifying_store): sharded by queue, one mutex per shard.
class memory_store {
public:
    /// The shard count of a default-constructed store.
    static constexpr std::size_t default_shards = 16;
    /// The largest shard count the constructor accepts.
    static constexpr std::size_t max_shards = 65536;

    /// `shards` is rounded up to a power of two. Throws std::invalid_argument when 0 or
    /// above max_shards.
    explicit memory_store(std::size_t shards = default_shards) {
        if (shards == 0 || shards > max_shards)
            throw std::invalid_argument("memory_store: shards must be in [1, 65536], got " +
                                        std::to_string(shards));
        const std::size_t n = std::bit_ceil(shards);
        mask_ = n - 1;
        shards_.reserve(n);
        for (std::size_t i = 0; i < n; ++i)
            shards_.push_back(std::make_unique<shard>(i + 1, n));
    }

    memory_store(const memory_store&) = delete;
    memory_store& operator=(const memory_store&) = delete;

    /// Stores `rec`; a live job with the same queue and dedup key is not inserted twice.
    [[nodiscard]] enqueue_result enqueue(job_record rec) {
        shard& s = shard_for(rec.queue);  // job_index::enqueue validates
        std::unique_lock lock(s.m);
        const enqueue_result r = s.idx.enqueue(std::move(rec));
        if (r.inserted) wake(s, lock);
        return r;
    }

    /// enqueue() of each record, in order, one result each.
    [[nodiscard]] std::vector<enqueue_result> enqueue_batch(std::span<const job_record> recs) {
        for (const auto& r : recs)
            detail::job_index::validate_new(r);
        std::vector<enqueue_result> out;
        out.reserve(recs.size());
        std::size_t i = 0;
        while (i < recs.size()) {  // one lock per run of records bound for the same shard
            shard& s = shard_for(recs[i].queue);
            std::unique_lock lock(s.m);
            do {
                out.push_back(s.idx.enqueue_valid(recs[i]));  // validated above
                ++i;
            } while (i < recs.size() && &shard_for(recs[i].queue) == &s);
            wake(s, lock);
        }
        return out;
    }

    /// Leases up to `max` due jobs of `queue` to `worker` until `lease_until`.
    [[nodiscard]] std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now,
                                                 job_time lease_until, std::string_view worker) {
        std::vector<claimed_job> out;
        claim_into(queue, max, now, lease_until, worker, out);
        return out;
    }

    /// claim of the jobs whose type is in `types` (empty: every type).
    [[nodiscard]] std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now,
                                                 job_time lease_until, std::string_view worker,
                                                 std::span<const std::string> types) {
        std::vector<claimed_job> out;
        claim_into(queue, max, now, lease_until, worker, out, types);
        return out;
    }

    /// claim, appending to `out` (reuse its capacity across calls); returns how many.
    std::size_t claim_into(std::string_view queue, std::size_t max, job_time now, job_time lease_until,
                           std::string_view worker, std::vector<claimed_job>& out,
                           std::span<const std::string> types = {}) {
        shard& s = shard_for(queue);
        std::lock_guard lock(s.m);
        return s.idx.claim(queue, max, now, lease_until, worker, types, out);
    }

    /// Marks a running job done; false when `token` is not its current lease.
    [[nodiscard]] bool complete(job_id id, lease_token token, job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::lock_guard lock(s->m);
        return s->idx.complete(id, token, now);
    }

    /// complete for each item, in order; one result per item.
    [[nodiscard]] std::vector<bool> complete_many(std::span<const lease_ref> items, job_time now) {
        std::vector<bool> out(items.size());
        for_each_shard_run(items, [&](shard& s, std::size_t i, std::unique_lock<std::mutex>&) {
            out[i] = s.idx.complete(items[i].id, items[i].token, now);
        });
        return out;
    }

    /// Ends a running attempt: retry at a time or dead; false when `token` is not its current lease.
    [[nodiscard]] bool fail(job_id id, lease_token token, fail_outcome outcome, std::string_view error,
                            job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::unique_lock lock(s->m);
        const bool ok = s->idx.fail(id, token, outcome, error, now);
        if (ok && !outcome.is_dead) wake(*s, lock);
        return ok;
    }

    /// fail for each item, in order; one result per item.
    [[nodiscard]] std::vector<bool> fail_many(std::span<const failure> items, job_time now) {
        std::vector<bool> out(items.size());
        for_each_shard_run(items, [&](shard& s, std::size_t i, std::unique_lock<std::mutex>& lock) {
            const failure& f = items[i];
            out[i] = s.idx.fail(f.id, f.token, f.outcome, f.error, now);
            if (out[i] && !f.outcome.is_dead) wake(s, lock, /*unlock=*/false);
        });
        return out;
    }

    /// running with this token -> ready (or scheduled until run_at), attempt given back.
    [[nodiscard]] bool release(job_id id, lease_token token, job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::unique_lock lock(s->m);
        const bool ok = s->idx.release(id, token, now);
        if (ok) wake(*s, lock);
        return ok;
    }

    /// Extends a running job's lease to `until`; false when `token` is not its current lease.
    [[nodiscard]] bool extend_lease(job_id id, lease_token token, job_time until) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::lock_guard lock(s->m);
        return s->idx.extend_lease(id, token, until);
    }

    /// Running jobs whose lease ended (lease_until <= now) go back to ready, or dead with no attempt
    /// left; returns how many.
    std::size_t requeue_expired(job_time now) {
        std::size_t n = 0;
        for (auto& s : shards_) {
            std::unique_lock lock(s->m);
            const std::size_t moved = s->idx.requeue_expired(now);
            n += moved;
            if (moved != 0) wake(*s, lock);
        }
        return n;
    }

    /// Cancels a scheduled, ready or running job (its lease token is refused from then on); false
    /// for a terminal or unknown job.
    [[nodiscard]] bool cancel(job_id id, job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::lock_guard lock(s->m);
        return s->idx.cancel(id, now);
    }

    /// The earliest run_at among the scheduled and ready jobs of `queue`; nullopt when there are none.
    [[nodiscard]] std::optional<job_time> next_run_at(std::string_view queue) {
        shard& s = shard_for(queue);
        std::lock_guard lock(s.m);
        return s.idx.next_run_at(queue);
    }

    /// Jobs of `queue` in each state.
    [[nodiscard]] store_stats stats(std::string_view queue) {
        shard& s = shard_for(queue);
        std::lock_guard lock(s.m);
        return s.idx.stats(queue);
    }

    /// Up to `limit` jobs of `queue` in `state`.
    [[nodiscard]] std::vector<job_record> list(std::string_view queue, job_state state, std::size_t limit) {
        shard& s = shard_for(queue);
        std::lock_guard lock(s.m);
        return s.idx.list(queue, state, limit);
    }

    /// The job with id `id`, if stored.
    [[nodiscard]] std::optional<job_record> find(job_id id) {
        shard* s = shard_of(id);
        if (s == nullptr) return std::nullopt;
        std::lock_guard lock(s->m);
        const job_record* r = s->idx.find(id);
        return r == nullptr ? std::nullopt : std::optional<job_record>(*r);
    }

    /// Makes a dead job ready again; false when it is not dead or another live job holds its dedup key.
    [[nodiscard]] bool retry_dead(job_id id, job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::unique_lock lock(s->m);
        const bool ok = s->idx.retry_dead(id, now);
        if (ok) wake(*s, lock);
        return ok;
    }

    /// Removes the jobs of every queue in terminal `state` last changed before `older_than`;
    /// returns how many.
    std::size_t purge(job_state state, job_time older_than) {
        std::size_t n = 0;  // the first shard's job_index::purge rejects a live state
        for (auto& s : shards_) {
            std::lock_guard lock(s->m);
            n += s->idx.purge(state, older_than);
        }
        return n;
    }

    /// Inserts or replaces the schedule named r.name; true when inserted.
    bool upsert_schedule(schedule_record r) {
        std::lock_guard lock(sched_m_);
        return schedules_.upsert(std::move(r));
    }
    /// Every schedule, by name.
    [[nodiscard]] std::vector<schedule_record> list_schedules() {
        std::lock_guard lock(sched_m_);
        return schedules_.list();
    }
    /// False when no schedule has that name.
    bool remove_schedule(std::string_view name) {
        std::lock_guard lock(sched_m_);
        return schedules_.remove(name);
    }
    /// The compare-and-set of a firing: next_run == expected_next -> new_next, true.
    [[nodiscard]] bool advance_schedule(std::string_view name, job_time expected_next, job_time new_next) {
        std::lock_guard lock(sched_m_);
        return schedules_.advance(name, expected_next, new_next);
    }

    /// Blocks until a job of `queue` may have become claimable (true: at once when the queue
    /// holds a ready job, or on an enqueue, release, retry or requeue in its shard) or the
    /// deadline passes (false).
    [[nodiscard]] bool wait_for_jobs(std::string_view queue, wait_deadline deadline) {
        shard& s = shard_for(queue);
        std::unique_lock lock(s.m);
        if (s.idx.count(queue, job_state::ready) != 0) return true;
        const std::uint64_t seen = s.generation;
        ++s.waiters;
        const bool woken = s.cv.wait_until(lock, deadline, [&] { return s.generation != seen; });
        --s.waiters;
        return woken;
    }

    /// The number of shards (a power of two).
    [[nodiscard]] std::size_t shard_count() const noexcept { return mask_ + 1; }

private:
    struct alignas(detail::cache_line) shard {
        shard(job_id first, std::size_t stride) : idx(first, stride) {}
        std::mutex m;
        std::condition_variable cv;  // wait_for_jobs
        // Guarded by m:
        detail::job_index idx;
        std::uint64_t generation = 0;  // bumped by every change that may make a job claimable
        std::size_t waiters = 0;       // threads in wait_for_jobs
    };

    // A job may have become claimable in `s` (held by `lock`): wake its waiters, if any,
    // after unlocking (unless the caller goes on under the lock).
    static void wake(shard& s, std::unique_lock<std::mutex>& lock, bool unlock = true) {
        if (s.waiters == 0) return;
        ++s.generation;
        if (unlock) lock.unlock();
        s.cv.notify_all();
    }

    // f(shard, item index, lock) for every item, one lock per run of items of the same shard;
    // items whose id names no shard (0) are skipped (their result stays false).
    template <class Item, class F>
    void for_each_shard_run(std::span<const Item> items, F&& f) {
        std::size_t i = 0;
        while (i < items.size()) {
            shard* s = shard_of(items[i].id);
            if (s == nullptr) {
                ++i;
                continue;
            }
            std::unique_lock lock(s->m);
            do {
                f(*s, i, lock);
                ++i;
            } while (i < items.size() && shard_of(items[i].id) == s);
        }
    }

    shard& shard_for(std::string_view queue) noexcept {
        return *shards_[std::hash<std::string_view>{}(queue)&mask_];
    }
    shard* shard_of(job_id id) noexcept { return id == 0 ? nullptr : shards_[(id - 1) & mask_].get(); }

    std::size_t mask_ = 0;
    std::vector<std::unique_ptr<shard>> shards_;
    std::mutex sched_m_;
    // Guarded by sched_m_:
    detail::schedule_table schedules_;
};

static_assert(task_store<memory_store>);
static_assert(notifying_store<memory_store>);

}  // namespace millrace
