// millrace/store/journal_store.hpp: the durable millrace::task_store with no dependency
// beyond POSIX — an append-only journal of checksummed records with group commit,
// compaction and crash recovery.
//
// Guarantees:
//   - Every task_store operation (and notifying_store's wait_for_jobs) with exactly
//     memory_store's semantics: the index, the state machine and the claim logic are
//     detail::job_index, shared, not copied.
//   - Durability (journal_options::mode, docs/storage.md "The journal store"):
//       group_commit (default): a mutating call returns after the fdatasync covering its
//         record has returned; concurrent callers share one fdatasync;
//       every_commit: each mutating call writes and syncs its own record (calls serialized);
//       none: a mutating call returns once its record is handed to the OS (pwrite): it
//         survives a killed process but a power cut loses calls since the last sync (any of
//         them: recovery keeps the longest intact prefix and always opens without repair).
//     A call's changes are one record, checked whole by CRC-32C: after a power cut a call
//     that returned is there, and one that did not is there entirely or not at all.
//     A call that changes nothing (refused complete, deduplicated enqueue) still waits until
//     everything it could have observed is durable. Reads (find, stats, list, next_run_at)
//     see the in-memory state, which may include changes still waiting for their sync.
//   - Recovery on open: torn tail (only ever unsynced bytes: a sync mark after close() and
//     at the end of a compacted segment proves what precedes it synced) copied aside to
//     `<segment>.torn-<offset>`, truncated and reported; a bad record in the middle throws
//     storage_error (file, offset, reason) unless journal_options::repair, which keeps every
//     good record, reports what it dropped and compacts. See detail/journal_recovery.hpp and
//     docs/journal.md.
//   - Compaction when dead bytes exceed the threshold (or compact()): live state rewritten
//     into a new base segment, switched in by rename + directory fsync; a crash at any
//     point leaves the old or the new state.
//   - One process at a time: flock on the directory; a second opener gets storage_error.
//
// Algorithm: one job_index and one schedule_table behind one mutex. A mutating call runs
// the index operation under the mutex with a sink that encodes each reported change
// (job_change, record after the change) as an `upsert` entry holding the whole record, or an
// `erase` entry for a purge (schedules: `schedule_put` / `schedule_erase`, see
// journal_codec.hpp), into one record appended to the log's pending buffer — still under the
// mutex, so the log order is the order of the changes. It then leaves the mutex and waits for
// group commit (journal_log.hpp). Replay applies each record's entries in order; whole-record
// entries make replay order-independent per job and per schedule, and repair safe. A call
// whose changes exceed journal_options::max_record_bytes and are independent per job (claim,
// requeue_expired, purge, complete_many, fail_many) is written as several records, and
// commits the last. advance_schedule is a compare-and-set under the mutex, durable before it
// returns. On open, live jobs sharing a queue and dedup key (possible only after a repair)
// keep the later one (dropped_duplicates()). wait_for_jobs waits on a condition variable of
// the same mutex, notified when a job may have become claimable.
//
// Thread-safety: every member may be called concurrently. Memory ordering: there are no
// atomics; the index is guarded by the store's mutex and the log's state by the log's
// mutex (always taken in that order), so every hand-over is a mutex release/acquire.
//
// Throws: the constructor storage_error (I/O, corruption, directory locked) and
// std::invalid_argument (an empty directory name, max_record_bytes 0 or over 256 MiB);
// enqueue / enqueue_batch std::invalid_argument for an empty queue or max_attempts 0, or
// when the call's record (all of a batch) would exceed max_record_bytes (a batch is checked
// whole first, before the index changes); upsert_schedule std::invalid_argument for an empty
// name or queue, or a schedule over max_record_bytes; purge std::invalid_argument for a
// live state; a call whose one job's change alone exceeds max_record_bytes std::length_error
// (then the store is poisoned like after an I/O error); every mutating call storage_error
// when a write or sync fails — then, and after, the store refuses writes until reopened
// (its memory may hold changes that are not on disk).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "millrace/core/detail/planted.hpp"
#include "millrace/core/error.hpp"
#include "millrace/store/concepts.hpp"
#include "millrace/store/detail/job_index.hpp"
#include "millrace/store/detail/journal_codec.hpp"
#include "millrace/store/detail/journal_format.hpp"
#include "millrace/store/detail/journal_io.hpp"
#include "millrace/store/detail/journal_log.hpp"
#include "millrace/store/detail/schedule_table.hpp"
#include "millrace/store/job.hpp"

namespace millrace {

/// How a journal_store syncs, repairs and compacts.
struct journal_options {
    /// When a write is synced before the call returns (group_commit: shared fdatasync).
    durability mode = durability::group_commit;
    /// Open a corrupt journal by dropping bad records (reported in recovery_report()).
    bool repair = false;
    /// The longest a group-commit leader waits for more callers (never longer than the last
    /// measured fdatasync). It waits only for callers that have announced themselves and not
    /// yet appended, so a lone caller never waits.
    std::chrono::microseconds max_commit_delay{1000};
    /// Automatic compaction when dead bytes > compact_min_bytes and
    /// dead bytes > compact_dead_ratio * live bytes. compact() runs it on demand.
    bool auto_compact = true;
    /// Dead bytes below this never trigger automatic compaction.
    std::uint64_t compact_min_bytes = std::uint64_t{64} << 20;
    /// Automatic compaction needs dead bytes above this times the live bytes.
    double compact_dead_ratio = 1.0;
    /// The largest record a call writes, in (0, 256 MiB]. enqueue and enqueue_batch refuse a
    /// call over it (a batch stays all or nothing); claim, requeue_expired, purge,
    /// complete_many and fail_many split their changes over several records instead (each
    /// job's change stays whole, and the call returns once the last is durable).
    std::size_t max_record_bytes = detail::journal::max_payload;
};

/// A durable task_store: an append-only journal of checksummed records with group commit.
template <journal_io Io = posix_io>
class basic_journal_store {
public:
    /// Opens (creating if needed) the journal in directory `dir` and replays it.
    /// Throws storage_error (another opener holds it, I/O failure, corruption without
    /// repair) and std::invalid_argument (empty dir, max_commit_delay < 0).
    explicit basic_journal_store(std::string dir, journal_options opts = {}, Io io = Io{})
        : opts_(check(std::move(opts), dir)),
          log_(std::move(dir), opts_.mode, opts_.repair, opts_.max_commit_delay, std::move(io)) {
        log_.open([this](std::uint8_t type, const unsigned char* p, std::size_t n) { replay(type, p, n); });
        // Only a repaired journal can hold two live jobs with one queue and dedup key (the
        // record that ended the earlier one was dropped): the later one keeps the key.
        if constexpr (!detail::planted("store_repair_keeps_duplicate_keys"))
            dropped_duplicates_ = index_.cancel_duplicate_keys();
        live_bytes_estimate_update();
        if (log_.needs_rewrite() || !dropped_duplicates_.empty()) compact();
    }

    basic_journal_store(const basic_journal_store&) = delete;
    basic_journal_store& operator=(const basic_journal_store&) = delete;

    /// Flushes and syncs what is pending (every mode) and releases the directory.
    ~basic_journal_store() = default;

    /// Stores `rec` durably (task_store contract); a live duplicate dedup key is not inserted twice.
    [[nodiscard]] enqueue_result enqueue(job_record rec) {
        detail::job_index::validate_new(rec);
        check_record_size(detail::journal::encoded_job_size(rec));
        return mutate(detail::journal::rt_enqueue, [&](auto& sink) {
            const enqueue_result r = index_.enqueue(std::move(rec), sink);
            if (r.inserted) note_claimable();
            return r;
        });
    }

    /// All of the batch is one record and one sync: after a crash all or none of it.
    [[nodiscard]] std::vector<enqueue_result> enqueue_batch(std::span<const job_record> recs) {
        std::size_t total = 0;
        for (const auto& r : recs) {
            detail::job_index::validate_new(r);
            total += detail::journal::encoded_job_size(r);
            check_record_size(total);
        }
        return mutate(detail::journal::rt_enqueue_batch, [&](auto& sink) {
            std::vector<enqueue_result> out;
            out.reserve(recs.size());
            for (const auto& r : recs)
                out.push_back(index_.enqueue(r, sink));
            note_claimable();
            return out;
        });
    }

    /// Leases up to `max` due jobs of `queue` to `worker` until `lease_until` (task_store contract).
    [[nodiscard]] std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now,
                                                 job_time lease_until, std::string_view worker) {
        return claim(queue, max, now, lease_until, worker, {});
    }

    /// claim of the jobs whose type is in `types` (empty: every type).
    [[nodiscard]] std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now,
                                                 job_time lease_until, std::string_view worker,
                                                 std::span<const std::string> types) {
        return mutate(detail::journal::rt_claim, [&](auto& sink) {
            std::vector<claimed_job> out;
            index_.claim(queue, max, now, lease_until, worker, types, out, sink);
            return out;
        });
    }

    /// Marks a running job done; false when `token` is not its current lease.
    [[nodiscard]] bool complete(job_id id, lease_token token, job_time now) {
        return mutate(detail::journal::rt_complete,
                      [&](auto& sink) { return index_.complete(id, token, now, sink); });
    }

    /// complete for each item, in order: one record, so one sync for the whole batch.
    [[nodiscard]] std::vector<bool> complete_many(std::span<const lease_ref> items, job_time now) {
        return mutate(detail::journal::rt_complete_many, [&](auto& sink) {
            std::vector<bool> out(items.size());
            for (std::size_t i = 0; i < items.size(); ++i)
                out[i] = index_.complete(items[i].id, items[i].token, now, sink);
            return out;
        });
    }

    /// Ends a running attempt: retry at a time or dead; false when `token` is not its current lease.
    [[nodiscard]] bool fail(job_id id, lease_token token, fail_outcome outcome, std::string_view error,
                            job_time now) {
        return mutate(detail::journal::rt_fail, [&](auto& sink) {
            const bool ok = index_.fail(id, token, outcome, error, now, sink);
            if (ok && !outcome.is_dead) note_claimable();
            return ok;
        });
    }

    /// fail for each item, in order: one record, so one sync for the whole batch.
    [[nodiscard]] std::vector<bool> fail_many(std::span<const failure> items, job_time now) {
        return mutate(detail::journal::rt_fail_many, [&](auto& sink) {
            std::vector<bool> out(items.size());
            for (std::size_t i = 0; i < items.size(); ++i) {
                const failure& f = items[i];
                out[i] = index_.fail(f.id, f.token, f.outcome, f.error, now, sink);
                if (out[i] && !f.outcome.is_dead) note_claimable();
            }
            return out;
        });
    }

    /// running with this token -> ready (or scheduled until run_at), attempt given back.
    [[nodiscard]] bool release(job_id id, lease_token token, job_time now) {
        return mutate(detail::journal::rt_release, [&](auto& sink) {
            const bool ok = index_.release(id, token, now, sink);
            if (ok) note_claimable();
            return ok;
        });
    }

    /// Extends a running job's lease to `until`; false when `token` is not its current lease.
    [[nodiscard]] bool extend_lease(job_id id, lease_token token, job_time until) {
        return mutate(detail::journal::rt_extend_lease,
                      [&](auto& sink) { return index_.extend_lease(id, token, until, sink); });
    }

    /// Running jobs whose lease ended (lease_until <= now) go back to ready, or dead with no attempt
    /// left; returns how many.
    std::size_t requeue_expired(job_time now) {
        return mutate(detail::journal::rt_requeue_expired, [&](auto& sink) {
            const std::size_t n = index_.requeue_expired(now, sink);
            if (n != 0) note_claimable();
            return n;
        });
    }

    /// Cancels a scheduled, ready or running job (its lease token is refused from then on); false
    /// for a terminal or unknown job.
    [[nodiscard]] bool cancel(job_id id, job_time now) {
        return mutate(detail::journal::rt_cancel, [&](auto& sink) { return index_.cancel(id, now, sink); });
    }

    /// Makes a dead job ready again; false when it is not dead or another live job holds its dedup key.
    [[nodiscard]] bool retry_dead(job_id id, job_time now) {
        return mutate(detail::journal::rt_retry_dead, [&](auto& sink) {
            const bool ok = index_.retry_dead(id, now, sink);
            if (ok) note_claimable();
            return ok;
        });
    }

    /// Removes the jobs of every queue in terminal `state` last changed before `older_than`;
    /// returns how many.
    std::size_t purge(job_state state, job_time older_than) {
        if (!is_terminal(state))
            throw std::invalid_argument("purge: only succeeded, dead or cancelled jobs can be purged");
        return mutate(detail::journal::rt_purge,
                      [&](auto& sink) { return index_.purge(state, older_than, sink); });
    }

    /// The earliest run_at among the scheduled and ready jobs of `queue`; nullopt when there are none.
    [[nodiscard]] std::optional<job_time> next_run_at(std::string_view queue) {
        std::lock_guard lk(m_);
        return index_.next_run_at(queue);
    }

    /// Jobs of `queue` in each state.
    [[nodiscard]] store_stats stats(std::string_view queue) {
        std::lock_guard lk(m_);
        return index_.stats(queue);
    }

    /// Up to `limit` jobs of `queue` in `state`.
    [[nodiscard]] std::vector<job_record> list(std::string_view queue, job_state state, std::size_t limit) {
        std::lock_guard lk(m_);
        return index_.list(queue, state, limit);
    }

    /// The job with id `id`, if stored.
    [[nodiscard]] std::optional<job_record> find(job_id id) {
        std::lock_guard lk(m_);
        const job_record* r = index_.find(id);
        return r == nullptr ? std::nullopt : std::optional<job_record>(*r);
    }

    /// Inserts or replaces the schedule named r.name; true when inserted. Durable on return.
    bool upsert_schedule(schedule_record r) {
        detail::schedule_table::validate(r);
        check_record_size(64 + r.name.size() + r.queue.size() + r.type.size() + r.payload.size() +
                          r.recurrence.size());
        return mutate(detail::journal::rt_schedule, [&](auto&) {
            put_schedule_entry(r);  // before the table changes: a throw here changes nothing
            index_changed_ = true;
            return schedules_.upsert(std::move(r));
        });
    }

    /// Every schedule, by name.
    [[nodiscard]] std::vector<schedule_record> list_schedules() {
        std::lock_guard lk(m_);
        return schedules_.list();
    }

    /// False when no schedule has that name. Durable on return.
    bool remove_schedule(std::string_view name) {
        return mutate(detail::journal::rt_schedule, [&](auto&) {
            if (schedules_.find(name) == nullptr) return false;
            entry_starts_.push_back(scratch_.size());
            detail::journal::payload_writer w{scratch_};
            w.u8(detail::journal::entry_schedule_erase);
            detail::journal::put(w, name);
            ++changes_;
            index_changed_ = true;
            return schedules_.remove(name);
        });
    }

    /// The compare-and-set of a firing: next_run == expected_next -> new_next, true, durable
    /// on return (so a reopened store refuses the same firing); false, nothing changed, else.
    [[nodiscard]] bool advance_schedule(std::string_view name, job_time expected_next, job_time new_next) {
        return mutate(detail::journal::rt_schedule, [&](auto&) {
            if (!schedules_.advance(name, expected_next, new_next)) return false;
            index_changed_ = true;  // the table changed: its entry must reach the log
            put_schedule_entry(*schedules_.find(name));
            return true;
        });
    }

    /// Blocks until a job of `queue` may have become claimable (true: at once when the queue
    /// holds a ready job, or on an enqueue, release, retry or requeue by this store) or the
    /// deadline passes (false).
    [[nodiscard]] bool wait_for_jobs(std::string_view queue, wait_deadline deadline) {
        std::unique_lock lk(m_);
        if (index_.count(queue, job_state::ready) != 0) return true;
        const std::uint64_t seen = generation_;
        ++waiters_;
        const bool woken = cv_.wait_until(lk, deadline, [&] { return generation_ != seen; });
        --waiters_;
        return woken;
    }

    /// Jobs cancelled on open because a later live job held the same queue and dedup key
    /// (only after repair dropped the record that ended the earlier one), as cancelled.
    [[nodiscard]] const std::vector<job_record>& dropped_duplicates() const noexcept {
        return dropped_duplicates_;
    }

    /// Rewrites every job into a new base segment and switches to it (see the header).
    /// Blocks mutating calls while it runs. Throws storage_error.
    void compact() {
        std::lock_guard lk(m_);
        compact_locked();
    }

    /// What the open found and did: torn tail, repaired ranges, removed files.
    [[nodiscard]] const journal_recovery_report& recovery_report() const noexcept { return log_.report(); }
    /// Syncs, records per sync, sync time, bytes, compactions since open.
    [[nodiscard]] journal_log_stats log_stats() const { return log_.stats(); }
    /// Jobs in the index (every state).
    [[nodiscard]] std::size_t size() {
        std::lock_guard lk(m_);
        return index_.size();
    }
    /// The options it was opened with.
    [[nodiscard]] const journal_options& options() const noexcept { return opts_; }

private:
    static journal_options check(journal_options o, const std::string& dir) {
        if (dir.empty()) throw std::invalid_argument("journal_store: empty directory name");
        if (o.max_record_bytes == 0 || o.max_record_bytes > detail::journal::max_payload)
            throw std::invalid_argument("journal_store: max_record_bytes must be in (0, 256 MiB]");
        if (o.max_commit_delay.count() < 0)
            throw std::invalid_argument("journal_store: max_commit_delay < 0");
        if (!(o.compact_dead_ratio >= 0))
            throw std::invalid_argument("journal_store: compact_dead_ratio < 0");
        return o;
    }

    // One operation's changes are one record: refused before the index changes when known.
    void check_record_size(std::size_t n) const {
        if (n > opts_.max_record_bytes)
            throw std::invalid_argument(
                "journal_store: the call's changes would exceed the record limit (max_record_bytes)");
    }
    // The calls whose changes may span several records: each job's change is valid alone.
    static bool splittable(std::uint8_t type) noexcept {
        namespace j = detail::journal;
        if constexpr (detail::planted("store_record_split_off")) return false;  // huge sweeps poison
        return type == j::rt_requeue_expired || type == j::rt_purge || type == j::rt_claim ||
               type == j::rt_complete_many || type == j::rt_fail_many;
    }
    // A job may have become claimable: wake wait_for_jobs (under m_).
    void note_claimable() noexcept {
        if (waiters_ == 0) return;
        ++generation_;
        cv_.notify_all();
    }
    void put_schedule_entry(const schedule_record& r) {
        entry_starts_.push_back(scratch_.size());
        detail::journal::payload_writer w{scratch_};
        detail::journal::encode_schedule(w, r);
        ++changes_;
    }
    // Collects the changes of one operation as record entries.
    struct change_sink {
        basic_journal_store* self;
        void operator()(detail::job_change c, const job_record& r) const {
            self->index_changed_ = true;  // before anything here can throw
            self->entry_starts_.push_back(self->scratch_.size());
            detail::journal::payload_writer w{self->scratch_};
            if (c == detail::job_change::purged) {
                w.u8(detail::journal::entry_erase);
                w.u64(r.id);
            } else {
                const std::size_t before = self->scratch_.size();
                detail::journal::encode_job(w, r);
                self->upsert_bytes_ += self->scratch_.size() - before;
                self->upserts_++;
            }
            self->changes_++;
        }
    };

    template <class Op>
    auto mutate(std::uint8_t type, Op&& op) {
        // Announced before the store's lock, so a group-commit leader syncing now knows this
        // record is coming and may wait for it; a lone caller never makes a leader wait.
        auto coming = log_.announce();
        std::unique_lock lk(m_);
        log_.throw_if_failed();  // before the index changes: memory never runs ahead of a dead log
        scratch_.clear();
        entry_starts_.clear();
        changes_ = 0;
        index_changed_ = false;
        change_sink s{this};
        std::optional<decltype(op(s))> result;
        std::uint64_t lsn = 0;
        try {
            result.emplace(op(s));
            if (changes_ == 0) {
                lsn = log_.last_lsn();
            } else if (scratch_.size() <= opts_.max_record_bytes) {
                lsn = append_entries(type, 0, scratch_.size());
            } else if (splittable(type)) {
                lsn = append_split(type);
            } else {
                throw std::length_error(
                    "journal_store: the call's changes exceed the record limit (max_record_bytes)");
            }
        } catch (const std::exception& e) {
            // The index changed but its record is not in the log: memory would run ahead
            // of the disk (a later claim could hand out a job that is not durable). Poison.
            if (index_changed_) log_.poison(std::string("unrecorded change: ") + e.what());
            throw;
        } catch (...) {
            if (index_changed_) log_.poison("unrecorded change: unknown exception");
            throw;
        }
        coming.arrived();  // appended (or nothing to append): no leader waits for this call
        // Automatic compaction runs after the call's record is durable and never fails the
        // call: a failure before the rename leaves the log usable; one after it poisons the
        // log, so the next call reports it.
        if (opts_.mode == durability::every_commit) {
            log_.commit(lsn);
            if (changes_ != 0) try_auto_compact_locked();
            return std::move(*result);
        }
        const bool changed = changes_ != 0;
        lk.unlock();
        log_.commit(lsn);
        if (changed && opts_.auto_compact) {
            try {
                if (compaction_due()) {
                    lk.lock();
                    try_auto_compact_locked();
                }
            } catch (...) {  // compaction_due only reads; nothing to report
            }
        }
        return std::move(*result);
    }

    std::uint64_t append_entries(std::uint8_t type, std::size_t from, std::size_t to) {
        return log_.append(type, [&](detail::journal::payload_writer& w) {
            w.out.insert(w.out.end(), scratch_.begin() + static_cast<std::ptrdiff_t>(from),
                         scratch_.begin() + static_cast<std::ptrdiff_t>(to));
        });
    }
    // The entries of scratch_ over as few records as fit max_record_bytes each; the call's
    // commit waits for the last, so they are still acknowledged together.
    std::uint64_t append_split(std::uint8_t type) {
        std::size_t from = 0;
        for (std::size_t i = 0; i < entry_starts_.size(); ++i) {
            const std::size_t end = i + 1 < entry_starts_.size() ? entry_starts_[i + 1] : scratch_.size();
            if (end - entry_starts_[i] > opts_.max_record_bytes)
                throw std::length_error("journal_store: one job's change exceeds the record limit");
            if (end - from > opts_.max_record_bytes) {
                (void)append_entries(type, from, entry_starts_[i]);  // the last one's LSN covers it
                from = entry_starts_[i];
            }
        }
        return append_entries(type, from, scratch_.size());
    }

    [[nodiscard]] std::uint64_t live_bytes_estimate() const noexcept {
        const double avg =
            upserts_ == 0 ? 0.0 : static_cast<double>(upsert_bytes_) / static_cast<double>(upserts_);
        return static_cast<std::uint64_t>(avg * static_cast<double>(jobs_estimate_));
    }
    void live_bytes_estimate_update() noexcept { jobs_estimate_ = index_.size(); }

    [[nodiscard]] bool compaction_due() {
        if (!opts_.auto_compact) return false;
        const std::uint64_t seg = log_.segment_bytes();
        if (seg < opts_.compact_min_bytes) return false;  // cheap test first
        std::lock_guard lk(m_);
        return dead_over_threshold(seg);
    }
    [[nodiscard]] bool dead_over_threshold(std::uint64_t seg) {
        live_bytes_estimate_update();
        const std::uint64_t live = live_bytes_estimate();
        const std::uint64_t dead = seg > live ? seg - live : 0;
        return dead > opts_.compact_min_bytes &&
               static_cast<double>(dead) > opts_.compact_dead_ratio * static_cast<double>(live);
    }
    void try_auto_compact_locked() noexcept {
        try {
            maybe_compact_locked();
        } catch (...) {
            auto_compact_failures_++;
        }
    }
    void maybe_compact_locked() {
        if (opts_.auto_compact && dead_over_threshold(log_.segment_bytes())) compact_locked();
    }

    void compact_locked() {
        namespace j = detail::journal;
        log_.compact_locked([this](auto&& emit) {
            emit(std::uint8_t{j::rt_counters}, [this](j::payload_writer& w) {
                w.u64(index_.next_id());
                w.u64(index_.next_token());
            });
            std::vector<const job_record*> chunk;
            chunk.reserve(256);
            auto flush = [&] {
                if (chunk.empty()) return;
                emit(std::uint8_t{j::rt_snapshot}, [&](j::payload_writer& w) {
                    for (const job_record* r : chunk)
                        j::encode_job(w, *r);
                });
                chunk.clear();
            };
            index_.for_each([&](const job_record& r) {
                chunk.push_back(&r);
                if (chunk.size() == 256) flush();
            });
            flush();
            const std::vector<schedule_record> all = schedules_.list();
            for (std::size_t i = 0; i < all.size(); i += 256) {
                emit(std::uint8_t{j::rt_snapshot}, [&](j::payload_writer& w) {
                    for (std::size_t k = i; k < all.size() && k < i + 256; ++k)
                        j::encode_schedule(w, all[k]);
                });
            }
        });
        // After a compaction the segment holds only live state: restart the estimate.
        upsert_bytes_ = log_.last_snapshot_bytes();
        upserts_ = index_.size();
    }

    // Replay of one record: decode all entries first, so that a bad one changes nothing.
    void replay(std::uint8_t type, const unsigned char* p, std::size_t n) {
        namespace j = detail::journal;
        if (type == 0 || type > j::rt_last)
            throw j::journal_decode_error("unknown record type " + std::to_string(type));
        j::payload_reader rd{p, n};
        if (type == j::rt_counters) {
            const std::uint64_t id = rd.u64();
            const std::uint64_t token = rd.u64();
            if (!rd.done()) throw j::journal_decode_error("trailing bytes after counters");
            index_.advance_next_id(id);
            index_.advance_next_token(token);
            return;
        }
        replay_jobs_.clear();
        replay_erase_.clear();
        replay_schedules_.clear();
        replay_names_.clear();
        replay_order_.clear();
        while (!rd.done()) {
            const std::uint8_t tag = rd.u8();
            if (tag == j::entry_upsert) {
                replay_jobs_.emplace_back();
                j::decode_job(rd, replay_jobs_.back());
            } else if (tag == j::entry_erase) {
                replay_erase_.push_back(rd.u64());
            } else if (tag == j::entry_schedule_put) {
                replay_schedules_.emplace_back();
                j::decode_schedule(rd, replay_schedules_.back());
            } else if (tag == j::entry_schedule_erase) {
                replay_names_.push_back(rd.str());
            } else {
                throw j::journal_decode_error("unknown entry tag " + std::to_string(tag));
            }
            replay_order_.push_back(tag);
        }
        if (replay_order_.empty()) throw j::journal_decode_error("record without entries");
        std::size_t ju = 0, je = 0, js = 0, jn = 0;
        for (const std::uint8_t tag : replay_order_) {
            if (tag == j::entry_upsert) {
                index_.restore(std::move(replay_jobs_[ju++]));
            } else if (tag == j::entry_erase) {
                (void)index_.erase(replay_erase_[je++]);
            } else if (tag == j::entry_schedule_put) {
                (void)schedules_.upsert(std::move(replay_schedules_[js++]));
            } else {
                (void)schedules_.remove(replay_names_[jn++]);
            }
        }
        upserts_ += ju;
        upsert_bytes_ += n;  // an estimate of the live size per job, refined by later writes
    }

    journal_options opts_;
    detail::journal::log<Io> log_;
    std::mutex m_;
    std::condition_variable cv_;  // wait_for_jobs
    // Guarded by m_:
    detail::job_index index_;
    detail::schedule_table schedules_;
    detail::journal::bytes scratch_;         // the current operation's entries
    std::vector<std::size_t> entry_starts_;  // where each entry of scratch_ begins
    std::size_t changes_ = 0;
    bool index_changed_ = false;               // the current operation changed the index (sink entered)
    std::uint64_t auto_compact_failures_ = 0;  // automatic compactions that threw
    std::uint64_t generation_ = 0;             // bumped when a job may have become claimable
    std::size_t waiters_ = 0;                  // threads in wait_for_jobs
    std::vector<job_record> dropped_duplicates_;
    std::uint64_t upsert_bytes_ = 0;  // for the live-bytes estimate
    std::uint64_t upserts_ = 0;
    std::size_t jobs_estimate_ = 0;
    std::vector<job_record> replay_jobs_;
    std::vector<std::uint64_t> replay_erase_;
    std::vector<schedule_record> replay_schedules_;
    std::vector<std::string> replay_names_;
    std::vector<std::uint8_t> replay_order_;  // the entry kinds, in record order
};

/// The durable store on the POSIX file system.
using journal_store = basic_journal_store<posix_io>;

static_assert(task_store<journal_store>);
static_assert(notifying_store<journal_store>);

}  // namespace millrace
