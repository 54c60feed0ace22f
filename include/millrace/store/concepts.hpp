// millrace/store/concepts.hpp: millrace::task_store, the storage policy of durable jobs.
//
// Modelled on the claim that job systems on PostgreSQL use (`SELECT … FOR UPDATE SKIP
// LOCKED` in River, Oban, graphile-worker, pgconductor): a claim hands each due job to
// exactly one claimer under a lease with a fresh token, and every later call about that
// attempt must present the token. docs/storage.md has the full contract as a table; in short
// (S a store, all times passed in, none read inside):
//
//   s.enqueue(job_record)              -> enqueue_result{id, inserted}; not inserted while a
//                                         live job of the same queue has the same dedup key
//   s.enqueue_batch(span<const job_record>) -> vector<enqueue_result>, one per record, in order
//   s.claim(queue, max, now, lease_until, worker) -> vector<claimed_job>, at most max, by
//                                         priority desc (higher is claimed first), then
//                                         run_at, then id; scheduled jobs are due when
//                                         run_at <= now; attempts counted here
//   s.claim(queue, max, now, lease_until, worker, types) -> the same over the jobs whose
//                                         type is in `types` (empty: every type); the
//                                         others stay ready for a claimer that has them
//   s.complete(id, token, now)         -> bool: running with this token -> succeeded
//   s.complete_many(span<const lease_ref>, now) -> vector<bool>, one per item, each exactly
//                                         as complete (durable stores: one sync)
//   s.fail_many(span<const failure>, now) -> vector<bool>, one per item, each as fail
//   s.release(id, token, now)          -> bool: running with this token -> ready (scheduled
//                                         when run_at > now), the attempt given back
//   s.fail(id, token, fail_outcome, error, now) -> bool: -> scheduled/ready at retry time, or
//                                         dead (asked, or no attempt left)
//   s.extend_lease(id, token, until)   -> bool: lease_until = until
//   s.requeue_expired(now)             -> size_t: running jobs with lease_until <= now go
//                                         back to ready, or dead when no attempt is left
//   s.cancel(id, now)                  -> bool: scheduled/ready/running -> cancelled (a
//                                         running job's token stops being accepted)
//   s.next_run_at(queue)               -> optional<job_time>: earliest run_at of the queue's
//                                         scheduled and ready jobs
//   s.stats(queue)                     -> store_stats (count per state, in all and per type)
//   s.list(queue, state, limit)        -> vector<job_record>, by id, at most limit
//   s.find(id)                         -> optional<job_record>
//   s.retry_dead(id, now)              -> bool: dead -> ready, attempts reset
//   s.purge(state, older_than)         -> size_t: removes terminal jobs with updated_at < older_than
//   s.upsert_schedule(schedule_record) -> bool: inserted (true) or replaced by name
//   s.list_schedules()                 -> vector<schedule_record>, by name
//   s.remove_schedule(name)            -> bool
//   s.advance_schedule(name, expected_next, new_next) -> bool: compare-and-set of
//                                         next_run; exactly one caller wins a firing
//
// Optional (millrace::notifying_store): s.wait_for_jobs(queue, deadline) -> bool, true when
// a job of the queue may have become claimable, false at the deadline.
//
// complete, fail and extend_lease return false and change nothing when the token is no
// longer the job's: the lease expired and the job was requeued (and perhaps claimed again),
// or it was cancelled, or it already finished. That is what keeps a late worker from
// completing a job another worker now owns (Hangfire #1960, River #1302).
//
// complete, fail, cancel and retry_dead take the caller's `now` (beyond the DESIGN.md
// listing) because they stamp updated_at, which purge's retention compares: the store never
// reads a clock.
//
// The concept is the conjunction of one small concept per operation, so a store that lacks
// one fails with a note naming it, e.g. "the concept 'millrace::task_store_ops::complete<S>'
// evaluated to false".
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "millrace/store/job.hpp"

namespace millrace {

namespace task_store_ops {

template <class S>
concept enqueue = requires(S& s, job_record r) {
    { s.enqueue(std::move(r)) } -> std::same_as<enqueue_result>;
};

template <class S>
concept enqueue_batch = requires(S& s, std::span<const job_record> rs) {
    { s.enqueue_batch(rs) } -> std::same_as<std::vector<enqueue_result>>;
};

template <class S>
concept claim = requires(S& s, std::string_view q, std::size_t max, job_time now, job_time until,
                         std::string_view worker) {
    { s.claim(q, max, now, until, worker) } -> std::same_as<std::vector<claimed_job>>;
};

template <class S>
concept claim_types = requires(S& s, std::string_view q, std::size_t max, job_time now, job_time until,
                               std::string_view worker, std::span<const std::string> types) {
    { s.claim(q, max, now, until, worker, types) } -> std::same_as<std::vector<claimed_job>>;
};

template <class S>
concept complete = requires(S& s, job_id id, lease_token t, job_time now) {
    { s.complete(id, t, now) } -> std::same_as<bool>;
};

template <class S>
concept complete_many = requires(S& s, std::span<const lease_ref> items, job_time now) {
    { s.complete_many(items, now) } -> std::same_as<std::vector<bool>>;
};

template <class S>
concept fail_many = requires(S& s, std::span<const failure> items, job_time now) {
    { s.fail_many(items, now) } -> std::same_as<std::vector<bool>>;
};

template <class S>
concept release = requires(S& s, job_id id, lease_token t, job_time now) {
    { s.release(id, t, now) } -> std::same_as<bool>;
};

template <class S>
concept fail = requires(S& s, job_id id, lease_token t, fail_outcome o, std::string_view err, job_time now) {
    { s.fail(id, t, o, err, now) } -> std::same_as<bool>;
};

template <class S>
concept extend_lease = requires(S& s, job_id id, lease_token t, job_time until) {
    { s.extend_lease(id, t, until) } -> std::same_as<bool>;
};

template <class S>
concept requeue_expired = requires(S& s, job_time now) {
    { s.requeue_expired(now) } -> std::same_as<std::size_t>;
};

template <class S>
concept cancel = requires(S& s, job_id id, job_time now) {
    { s.cancel(id, now) } -> std::same_as<bool>;
};

template <class S>
concept next_run_at = requires(S& s, std::string_view q) {
    { s.next_run_at(q) } -> std::same_as<std::optional<job_time>>;
};

template <class S>
concept stats = requires(S& s, std::string_view q) {
    { s.stats(q) } -> std::same_as<store_stats>;
};

template <class S>
concept list = requires(S& s, std::string_view q, job_state st, std::size_t limit) {
    { s.list(q, st, limit) } -> std::same_as<std::vector<job_record>>;
};

template <class S>
concept find = requires(S& s, job_id id) {
    { s.find(id) } -> std::same_as<std::optional<job_record>>;
};

template <class S>
concept retry_dead = requires(S& s, job_id id, job_time now) {
    { s.retry_dead(id, now) } -> std::same_as<bool>;
};

template <class S>
concept purge = requires(S& s, job_state st, job_time older_than) {
    { s.purge(st, older_than) } -> std::same_as<std::size_t>;
};

template <class S>
concept schedules = requires(S& s, schedule_record r, std::string_view name, job_time t) {
    { s.upsert_schedule(std::move(r)) } -> std::same_as<bool>;
    { s.list_schedules() } -> std::same_as<std::vector<schedule_record>>;
    { s.remove_schedule(name) } -> std::same_as<bool>;
    { s.advance_schedule(name, t, t) } -> std::same_as<bool>;
};

}  // namespace task_store_ops

/// A storage policy for durable jobs. Adapters: memory_store (reference, in memory) and
/// journal_store (durable). Check a new adapter with the conformance suite in
/// tests/store/conformance/.
template <class S>
concept task_store = task_store_ops::enqueue<S> && task_store_ops::enqueue_batch<S> &&
    task_store_ops::claim<S> && task_store_ops::claim_types<S> && task_store_ops::complete<S> &&
    task_store_ops::complete_many<S> && task_store_ops::fail<S> && task_store_ops::fail_many<S> &&
    task_store_ops::release<S> && task_store_ops::extend_lease<S> && task_store_ops::requeue_expired<S> &&
    task_store_ops::cancel<S> && task_store_ops::next_run_at<S> && task_store_ops::stats<S> &&
    task_store_ops::list<S> && task_store_ops::find<S> && task_store_ops::retry_dead<S> &&
    task_store_ops::purge<S> && task_store_ops::schedules<S>;

/// The deadline of wait_for_jobs: a local wait, so the monotonic clock.
using wait_deadline = std::chrono::steady_clock::time_point;

/// A task_store that can block until a job of a queue may have become claimable (an enqueue,
/// release, retry or requeue in this process), so claimers need not poll. Stores that cannot
/// know (a shared SQL table written by other processes) do not model it.
template <class S>
concept notifying_store = task_store<S> && requires(S& s, std::string_view q, wait_deadline d) {
    { s.wait_for_jobs(q, d) } -> std::same_as<bool>;
};

}  // namespace millrace
