// millrace/store/memory_store.hpp: the reference millrace::task_store, in memory.
//
// Guarantees: every operation of the task_store contract (docs/storage.md), linearizable
// (each call runs under the lock of the shard it touches, and a job lives in exactly one
// shard); thread-safe; nothing survives the process (journal_store, issue 10, is to be the
// durable adapter).
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
// Memory ordering: all shared state is guarded by the shard mutexes (lock = acquire, unlock =
// release); there are no atomics.
//
// Throws: enqueue / enqueue_batch std::invalid_argument for an empty queue or max_attempts 0
// (a batch is checked whole before any record is inserted); purge std::invalid_argument for
// a live state; the constructor std::invalid_argument for 0 or more than 65536 shards;
// enqueue / enqueue_batch std::length_error when a shard would hold more than 2^32 - 1
// jobs; std::bad_alloc anywhere memory is needed. Each change of a job is all or nothing
// (see job_index): after any of these the store is as before the job's change.
#pragma once

#include <bit>
#include <cstddef>
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
#include "millrace/store/job.hpp"

namespace millrace {

class memory_store {
public:
    static constexpr std::size_t default_shards = 16;

    static constexpr std::size_t max_shards = 65536;

    /// `shards` is rounded up to a power of two. Throws std::invalid_argument when 0 or
    /// above max_shards.
    explicit memory_store(std::size_t shards = default_shards) {
        if (shards == 0 || shards > max_shards)
            throw std::invalid_argument("memory_store: shards must be in [1, 65536], got " + std::to_string(shards));
        const std::size_t n = std::bit_ceil(shards);
        mask_ = n - 1;
        shards_.reserve(n);
        for (std::size_t i = 0; i < n; ++i) shards_.push_back(std::make_unique<shard>(i + 1, n));
    }

    memory_store(const memory_store&) = delete;
    memory_store& operator=(const memory_store&) = delete;

    [[nodiscard]] enqueue_result enqueue(job_record rec) {
        shard& s = shard_for(rec.queue);  // job_index::enqueue validates
        std::lock_guard lock(s.m);
        return s.idx.enqueue(std::move(rec));
    }

    [[nodiscard]] std::vector<enqueue_result> enqueue_batch(std::span<const job_record> recs) {
        for (const auto& r : recs) detail::job_index::validate_new(r);
        std::vector<enqueue_result> out;
        out.reserve(recs.size());
        std::size_t i = 0;
        while (i < recs.size()) {  // one lock per run of records bound for the same shard
            shard& s = shard_for(recs[i].queue);
            std::lock_guard lock(s.m);
            do {
                out.push_back(s.idx.enqueue_valid(recs[i]));  // validated above
                ++i;
            } while (i < recs.size() && &shard_for(recs[i].queue) == &s);
        }
        return out;
    }

    [[nodiscard]] std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now,
                                                 job_time lease_until, std::string_view worker) {
        std::vector<claimed_job> out;
        claim_into(queue, max, now, lease_until, worker, out);
        return out;
    }

    /// claim, appending to `out` (reuse its capacity across calls); returns how many.
    std::size_t claim_into(std::string_view queue, std::size_t max, job_time now, job_time lease_until,
                           std::string_view worker, std::vector<claimed_job>& out) {
        shard& s = shard_for(queue);
        std::lock_guard lock(s.m);
        return s.idx.claim(queue, max, now, lease_until, worker, out);
    }

    [[nodiscard]] bool complete(job_id id, lease_token token, job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::lock_guard lock(s->m);
        return s->idx.complete(id, token, now);
    }

    [[nodiscard]] bool fail(job_id id, lease_token token, fail_outcome outcome, std::string_view error,
                            job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::lock_guard lock(s->m);
        return s->idx.fail(id, token, outcome, error, now);
    }

    [[nodiscard]] bool extend_lease(job_id id, lease_token token, job_time until) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::lock_guard lock(s->m);
        return s->idx.extend_lease(id, token, until);
    }

    std::size_t requeue_expired(job_time now) {
        std::size_t n = 0;
        for (auto& s : shards_) {
            std::lock_guard lock(s->m);
            n += s->idx.requeue_expired(now);
        }
        return n;
    }

    [[nodiscard]] bool cancel(job_id id, job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::lock_guard lock(s->m);
        return s->idx.cancel(id, now);
    }

    [[nodiscard]] std::optional<job_time> next_run_at(std::string_view queue) {
        shard& s = shard_for(queue);
        std::lock_guard lock(s.m);
        return s.idx.next_run_at(queue);
    }

    [[nodiscard]] store_stats stats(std::string_view queue) {
        shard& s = shard_for(queue);
        std::lock_guard lock(s.m);
        return s.idx.stats(queue);
    }

    [[nodiscard]] std::vector<job_record> list(std::string_view queue, job_state state, std::size_t limit) {
        shard& s = shard_for(queue);
        std::lock_guard lock(s.m);
        return s.idx.list(queue, state, limit);
    }

    [[nodiscard]] std::optional<job_record> find(job_id id) {
        shard* s = shard_of(id);
        if (s == nullptr) return std::nullopt;
        std::lock_guard lock(s->m);
        const job_record* r = s->idx.find(id);
        return r == nullptr ? std::nullopt : std::optional<job_record>(*r);
    }

    [[nodiscard]] bool retry_dead(job_id id, job_time now) {
        shard* s = shard_of(id);
        if (s == nullptr) return false;
        std::lock_guard lock(s->m);
        return s->idx.retry_dead(id, now);
    }

    std::size_t purge(job_state state, job_time older_than) {
        std::size_t n = 0;  // the first shard's job_index::purge rejects a live state
        for (auto& s : shards_) {
            std::lock_guard lock(s->m);
            n += s->idx.purge(state, older_than);
        }
        return n;
    }

    [[nodiscard]] std::size_t shard_count() const noexcept { return mask_ + 1; }

private:
    struct alignas(detail::cache_line) shard {
        shard(job_id first, std::size_t stride) : idx(first, stride) {}
        std::mutex m;
        detail::job_index idx;
    };

    shard& shard_for(std::string_view queue) noexcept {
        return *shards_[std::hash<std::string_view>{}(queue)&mask_];
    }
    shard* shard_of(job_id id) noexcept { return id == 0 ? nullptr : shards_[(id - 1) & mask_].get(); }

    std::size_t mask_ = 0;
    std::vector<std::unique_ptr<shard>> shards_;
};

static_assert(task_store<memory_store>);

}  // namespace millrace
