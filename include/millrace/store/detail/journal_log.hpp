// millrace/store/detail/journal_log.hpp: the durable, append-only record log under
// journal_store: segment files, group commit, fences after failed writes, preallocation and
// the switch of a compacted segment. It knows records (type + payload bytes,
// journal_format.hpp), not jobs. Recovery on open is journal_recovery.hpp's; the design and
// its reasons are in docs/journal.md.
//
// Group commit (durability::group_commit; Gawlick and Kinkade, "Varieties of Concurrency
// Control in IMS/VS Fast Path", 1985). A caller appends its record to the pending buffer
// under the store's mutex (log order = index order), then commit(lsn) waits outside it. The
// first waiter that finds no write in flight leads: it writes the whole pending buffer with
// one pwrite and one fdatasync, publishes the durable LSN and wakes everyone. Before it
// writes, a leader waits (at most one measured fdatasync, capped by max_commit_delay) only
// while callers that announce()d themselves have not yet appended: a lone caller never
// waits. A caller returns only after the fdatasync covering its record has returned.
// every_commit: the store commits under its own mutex (one record per write and sync).
// none: records are written to the OS, never synced; such a segment carries flag_unsynced.
//
// Failure: an I/O error of a write or sync poisons the log (every unsynced waiter and every
// later call throws storage_error) and the sync is never retried on those bytes: after a
// failed fdatasync the kernel may mark the pages clean unwritten, yet they read back.
// Outside durability::none the failed write is fenced off: the segment is truncated back to
// its last durable offset and synced, or failing that a synced fence file names that offset
// and the next open cuts there before replaying. Failing both, a reopen may show records of
// calls that failed (phantoms), never lose an acknowledged one.
//
// Compaction: with the store's mutex held and no write in flight, the live state is written
// to `segment-<seq+1>.log.tmp` (flag_base, ending in a sync mark), synced, renamed, and the
// directory synced; only then are older segments removed: old or new, never a mix. Pending
// records are covered by the snapshot, so their callers are released when it is durable.
//
// Thread-safety: all members are safe to call concurrently except open() (before use) and
// compact_locked()/append() which the store calls under its own mutex.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "millrace/core/detail/planted.hpp"
#include "millrace/core/error.hpp"
#include "millrace/store/detail/journal_format.hpp"
#include "millrace/store/detail/journal_io.hpp"
#include "millrace/store/detail/journal_recovery.hpp"

namespace millrace {

/// What a mutating call of journal_store waits for before it returns.
enum class durability : std::uint8_t {
    every_commit,  ///< its own record written and fdatasync'ed before it returns
    group_commit,  ///< written and fdatasync'ed, the sync shared with concurrent callers
    none,          ///< written to the OS only: survives a killed process, not a power cut
};

/// Counters of the log since open.
struct journal_log_stats {
    std::uint64_t syncs = 0;           ///< fdatasync calls for commits
    std::uint64_t records_synced = 0;  ///< records those syncs covered
    std::uint64_t bytes_written = 0;
    std::uint64_t sync_ns_total = 0;  ///< time spent in write+fdatasync by commit leaders
    std::uint64_t compactions = 0;
};

namespace detail::journal {

template <journal_io Io>
class log {
public:
    log(std::string dir, durability mode, bool repair, std::chrono::microseconds max_delay, Io io)
        : dir_(std::move(dir)), mode_(mode), repair_(repair), max_delay_(max_delay), io_(std::move(io)) {}

    log(const log&) = delete;
    log& operator=(const log&) = delete;

    ~log() { close(); }

    /// Flushes (write + sync, in every mode) and releases the files and the lock. Never
    /// throws: a failure here loses only what was never acknowledged as durable.
    void close() noexcept {
        std::unique_lock lk(m_);
        while (leader_)
            cv_.wait(lk);
        if (!failed_ && active_ >= 0 && (!pending_.empty() || unsynced_ || unmarked_)) {
            bool synced_close = false;
            const bool had_pending = !pending_.empty();
            try {
                if (!pending_.empty()) io_.pwrite(file_, pending_.data(), pending_.size(), end_);
                io_.datasync(file_);
                synced_close = true;
                end_ += pending_.size();
                pending_.clear();
                durable_lsn_ = appended_lsn_;
                // A sync mark as a write of its own after the final sync: it proves that the
                // last data write was synced, so recovery reads damage to it as corruption,
                // not as a torn tail (which would silently drop acknowledged records).
                bytes mark;
                const std::size_t at = begin_record(mark);
                finish_record(mark, at, sync_mark_type, 0);
                io_.pwrite(file_, mark.data(), mark.size(), end_);
                io_.datasync(file_);
                end_ += mark.size();
                unmarked_ = false;
            } catch (...) {
                failed_ = true;
                // Records still pending were never acknowledged (none mode aside, where
                // nothing is synced and nothing is fenced).
                if (mode_ != durability::none && !synced_close && had_pending) (void)fence(end_);
            }
        }
        if (active_ >= 0) io_.close(file_);
        active_ = -1;
        if (locked_) io_.unlock_dir(lock_);
        locked_ = false;
        cv_.notify_all();
    }

    /// Locks the directory, recovers and replays every record through
    /// apply(type, payload, length), which throws journal_decode_error for a payload it
    /// cannot decode (treated like a bad record) and must not have changed anything then.
    /// `on_base_replayed` is never needed: replay starts from the newest base.
    /// Throws storage_error (directory locked, I/O, corruption without repair).
    template <class Apply>
    void open(Apply&& apply) {
        io_.make_dir(dir_);
        lock_ = io_.lock_dir(dir_);
        locked_ = true;
        try {
            open_locked(apply);
        } catch (...) {
            if (active_ >= 0) io_.close(file_);
            active_ = -1;
            io_.unlock_dir(lock_);
            locked_ = false;
            throw;
        }
    }

    [[nodiscard]] const journal_recovery_report& report() const noexcept { return report_; }
    [[nodiscard]] bool needs_rewrite() const noexcept { return !report_.repaired.empty(); }

    /// Appends one record; call under the store's mutex, in the order of the changes.
    /// `encode(payload_writer&)` writes the payload. Returns the record's LSN for commit().
    template <class Encode>
    std::uint64_t append(std::uint8_t type, Encode&& encode) {
        std::lock_guard lk(m_);
        throw_if_failed_locked();
        const std::size_t at = begin_record(pending_);
        try {
            payload_writer w{pending_};
            encode(w);
            finish_record(pending_, at, type, at);  // pending_ is written as one write
        } catch (...) {
            pending_.resize(at);
            throw;
        }
        ++pending_records_;
        return ++appended_lsn_;
    }

    /// A caller that will append and commit soon says so before it takes the lock that
    /// orders its append; arrived() (or the guard's end) says it has appended or will not.
    /// A group-commit leader spends its gather delay only while such callers are coming,
    /// so a lone caller never waits for company.
    class arrival {
    public:
        explicit arrival(log* l) noexcept : l_(l) {}
        arrival(arrival&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
        arrival(const arrival&) = delete;
        arrival& operator=(const arrival&) = delete;
        arrival& operator=(arrival&&) = delete;
        ~arrival() { arrived(); }
        /// The record is appended (or none will be): a gathering leader stops waiting for it.
        void arrived() noexcept {
            if (l_ != nullptr) std::exchange(l_, nullptr)->leave();
        }

    private:
        log* l_;
    };
    [[nodiscard]] arrival announce() {
        std::lock_guard lk(m_);
        ++coming_;
        return arrival(this);
    }

    /// Returns once the record `lsn` is durable (group_commit, every_commit) or written to
    /// the OS (none). Throws storage_error if the log failed before that.
    void commit(std::uint64_t lsn) {
        std::unique_lock lk(m_);
        ++waiters_;
        struct leave {
            std::size_t& w;
            ~leave() { --w; }
        } guard{waiters_};
        while (durable_lsn_ < lsn) {
            throw_if_failed_locked();
            if (!leader_) {
                lead(lk);
                continue;
            }
            cv_.wait(lk);
        }
    }

    /// Writes the store's live state as a new base segment and switches to it.
    /// Call under the store's mutex. `snapshot(emit)` calls
    /// `emit(type, encode)` for each record. Throws storage_error; a failure before the
    /// rename leaves the log as it was (usable), one at or after the rename poisons it.
    template <class Snapshot>
    void compact_locked(Snapshot&& snapshot) {
        std::unique_lock lk(m_);
        while (leader_)
            cv_.wait(lk);
        throw_if_failed_locked();
        leader_ = true;  // excludes commit leaders while the segment changes
        const std::uint64_t covered = appended_lsn_;
        const std::uint64_t records = pending_records_;
        lk.unlock();
        const std::uint64_t seq = seq_ + 1;
        const std::string final_name = segment_path(seq);
        const std::string tmp_name = final_name + ".tmp";
        typename Io::file nf{};
        bool opened = false;
        bool renaming = false;
        std::uint64_t size = 0;
        try {
            nf = io_.open(tmp_name, true);
            opened = true;
            io_.truncate(nf, 0);
            bytes buf(header_size);
            encode_header(segment_header{format_version, flag_base | mode_flag(), seq}, buf.data());
            auto flush = [&] {
                io_.pwrite(nf, buf.data(), buf.size(), size);
                size += buf.size();
                buf.clear();
            };
            snapshot([&](std::uint8_t type, auto&& encode) {
                const std::size_t at = begin_record(buf);
                payload_writer w{buf};
                encode(w);
                // The whole segment is one write (synced before it is renamed into place).
                finish_record(buf, at, type, size + at - header_size);
                if (buf.size() >= (1u << 20)) flush();
            });
            // The segment ends with a sync mark: all of it is synced before the rename, so
            // a bad record anywhere in it is corruption, never a torn tail.
            const std::size_t at = begin_record(buf);
            finish_record(buf, at, sync_mark_type, 0);
            flush();
            io_.datasync(nf);
            renaming = true;
            io_.rename(tmp_name, final_name);
            io_.sync_dir(dir_);  // from here on the new segment is the state
        } catch (...) {
            if (opened) io_.close(nf);
            if (!renaming) {
                // Before the rename (ENOSPC writing the snapshot is the likely case) the old
                // segment is intact and still active and pending records still pending:
                // drop the .tmp and go on unpoisoned.
                try {
                    io_.remove(tmp_name);
                } catch (...) {  // open() removes a leftover .tmp
                }
            }
            lk.lock();
            leader_ = false;
            // Once the rename was attempted we cannot tell which segment wins: poison.
            if (renaming) {
                failed_ = true;
                failure_ = current_message();
            }
            cv_.notify_all();
            throw;
        }
        const typename Io::file old = file_;
        const std::vector<std::uint64_t> old_seqs = live_seqs_;
        lk.lock();
        file_ = nf;
        seq_ = seq;
        end_ = size;
        allocated_ = size;
        live_seqs_ = {seq};
        pending_.clear();
        pending_records_ = 0;
        unsynced_ = false;
        unmarked_ = false;
        durable_lsn_ = covered;
        stats_.compactions++;
        stats_.records_synced += records;
        last_snapshot_bytes_ = size;
        leader_ = false;
        cv_.notify_all();
        lk.unlock();
        io_.close(old);
        // Superseded segments: removing them is tidying, the new base already wins.
        try {
            for (const std::uint64_t s : old_seqs)
                io_.remove(segment_path(s));
            io_.sync_dir(dir_);
        } catch (...) {
        }
    }

    /// The LSN of the last record appended (what a call that changed nothing waits for).
    [[nodiscard]] std::uint64_t last_lsn() const {
        std::lock_guard lk(m_);
        return appended_lsn_;
    }

    /// Refuses every later append and commit (storage_error naming `why`): the caller's
    /// memory ran ahead of the log (its change could not be recorded).
    void poison(const std::string& why) {
        std::lock_guard lk(m_);
        if (!failed_) {
            failed_ = true;
            failure_ = why;
        }
        cv_.notify_all();
    }

    /// Throws storage_error when an earlier write or sync failed.
    void throw_if_failed() const {
        std::lock_guard lk(m_);
        throw_if_failed_locked();
    }

    [[nodiscard]] journal_log_stats stats() const {
        std::lock_guard lk(m_);
        return stats_;
    }
    /// Bytes in the active segment, pending ones included.
    [[nodiscard]] std::uint64_t segment_bytes() const {
        std::lock_guard lk(m_);
        return end_ + pending_.size();
    }
    [[nodiscard]] std::uint64_t last_snapshot_bytes() const {
        std::lock_guard lk(m_);
        return last_snapshot_bytes_;
    }
    [[nodiscard]] durability mode() const noexcept { return mode_; }
    [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
    [[nodiscard]] Io& io() noexcept { return io_; }

private:
    static std::string current_message() {
        try {
            throw;
        } catch (const std::exception& e) {
            return e.what();
        } catch (...) {
            return "unknown error";
        }
    }

    void throw_if_failed_locked() const {
        if (failed_)
            throw storage_error(dir_, storage_error::npos,
                                "journal failed earlier and refuses further writes (" + failure_ +
                                    "); close and reopen the store");
    }

    [[nodiscard]] std::string segment_path(std::uint64_t seq) const {
        return journal::segment_path(dir_, seq);
    }

    // After a failed write or sync at `durable_end` (everything before it was synced), makes
    // sure no later open reads the bytes after it: truncates the segment there and syncs;
    // failing that, writes a fence file naming the segment and offset (open() truncates
    // there before replay). Failing both, the bytes may reappear as records of calls that
    // were never acknowledged: phantoms, never a loss. Returns what it did, for the error.
    std::string fence(std::uint64_t durable_end) noexcept {
        try {
            io_.truncate(file_, durable_end);
            allocated_ = durable_end;
            io_.datasync(file_);
            return "the segment was truncated back to its last durable offset " + std::to_string(durable_end);
        } catch (...) {
        }
        try {
            write_fence_file(io_, dir_, fence_record{seq_, durable_end});
            return "a fence file names the last durable offset " + std::to_string(durable_end);
        } catch (...) {
        }
        return "no fence could be written: a reopen may show records of calls that failed";
    }

    void leave() noexcept {
        std::lock_guard lk(m_);
        --coming_;
        if (gathering_ && coming_ == 0) gather_cv_.notify_one();
    }

    // Makes the active segment's allocation reach `need` bytes, in steps of the I/O
    // layer's preallocation step, so that appends overwrite allocated space and fdatasync
    // need not write the file's size each time. Leader only. A failure (a full disk) only
    // means appending without it: the write itself then reports what is wrong.
    void preallocate(std::uint64_t need) {
        if constexpr (preallocating_io<Io>) {
            const std::uint64_t step = io_.preallocate_step();
            if (step == 0 || need <= allocated_) return;
            const std::uint64_t target = (need + step - 1) / step * step;
            try {
                io_.allocate(file_, allocated_, target - allocated_);
                allocated_ = target;
            } catch (const storage_error&) {
                try {
                    allocated_ = std::max(allocated_, io_.size(file_));
                } catch (const storage_error&) {
                }
            }
        } else {
            (void)need;
        }
    }

    // The planted bug "journal_ack_before_sync": callers released before their sync.
    void release_before_sync(std::uint64_t target) {
        std::lock_guard g(m_);
        durable_lsn_ = target;
        cv_.notify_all();
    }

    // Leader: writes (and syncs) everything pending. Entered and left with lk held.
    void lead(std::unique_lock<std::mutex>& lk) {
        leader_ = true;
        if (mode_ == durability::group_commit && coming_ > 0 && max_delay_.count() > 0) {
            // Callers are known to be on their way (announce()): wait for them a little.
            const auto window =
                std::min<std::chrono::nanoseconds>(max_delay_, std::chrono::nanoseconds(last_sync_ns_));
            const auto deadline = std::chrono::steady_clock::now() + window;
            gathering_ = true;
            while (coming_ > 0 && gather_cv_.wait_until(lk, deadline) != std::cv_status::timeout) {
            }
            gathering_ = false;
        }
        writing_.swap(pending_);
        const std::uint64_t target = appended_lsn_;
        const std::uint64_t records = pending_records_;
        pending_records_ = 0;
        const std::uint64_t off = end_;
        const bool sync = mode_ != durability::none;
        lk.unlock();
        const auto t0 = std::chrono::steady_clock::now();
        bool ok = true;
        std::string why;
        try {
            if (!writing_.empty()) {
                preallocate(off + writing_.size());
                io_.pwrite(file_, writing_.data(), writing_.size(), off);
            }
            if constexpr (planted("journal_ack_before_sync")) release_before_sync(target);
            if (sync) io_.datasync(file_);
        } catch (...) {
            ok = false;
            why = "writing " + segment_path(seq_) + " at offset " + std::to_string(off) + ": " +
                  current_message();
            if (why.find("No space left") != std::string::npos)
                why += " (the disk is full: free space and reopen; every acknowledged record is kept)";
            if constexpr (planted("journal_ack_failed_sync")) ok = true;  // failure acknowledged
            // The failed write's bytes may read back intact from the page cache while the
            // disk never got them (a failed fdatasync marks the pages clean): fence them off.
            if (!ok && sync) why += "; " + fence(off);
        }
        const auto ns = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
                .count());
        lk.lock();
        leader_ = false;
        if (!ok) {
            failed_ = true;
            failure_ = why;
            writing_.clear();
            cv_.notify_all();
            return;
        }
        end_ += writing_.size();
        if (!writing_.empty()) unmarked_ = true;
        stats_.bytes_written += writing_.size();
        writing_.clear();
        if (sync) {
            stats_.syncs++;
            stats_.records_synced += records;
            stats_.sync_ns_total += ns;
            last_sync_ns_ = ns;
            unsynced_ = false;
        } else {
            unsynced_ = true;
        }
        durable_lsn_ = std::max(durable_lsn_, target);
        cv_.notify_all();
    }

    template <class Apply>
    void open_locked(Apply& apply) {
        recovered<Io> r = recover(io_, dir_, repair_, report_, apply);
        live_seqs_ = std::move(r.live_seqs);
        seq_ = r.seq;
        if (r.seq == 0) {
            create_segment(1, true);
            return;
        }
        if (!r.open) {
            // The newest segment was unreadable (repair only): start a fresh one after it.
            create_segment(seq_ + 1, false);
            return;
        }
        file_ = r.file;
        active_ = 0;
        end_ = r.end;
        allocated_ = r.allocated;
        last_snapshot_bytes_ = r.end;
        if (((r.header.flags & flag_unsynced) != 0) != (mode_ == durability::none) ||
            r.header.major() != format_major) {
            // The torn-tail rule of a segment follows its header's flag and its record layout
            // its version: sync what is there, cut off preallocated space (only the last
            // segment may end in zeros) and go on in a new segment of this mode and format.
            if (allocated_ > end_) io_.truncate(file_, end_);
            io_.datasync(file_);
            io_.close(file_);
            active_ = -1;
            create_segment(seq_ + 1, false);
        }
    }

    [[nodiscard]] std::uint32_t mode_flag() const noexcept {
        return mode_ == durability::none ? flag_unsynced : 0u;
    }

    void create_segment(std::uint64_t seq, bool base) {
        const std::string final_name = segment_path(seq);
        const std::string tmp = final_name + ".tmp";
        auto f = io_.open(tmp, true);
        try {
            io_.truncate(f, 0);
            unsigned char h[header_size];
            encode_header(segment_header{format_version, (base ? flag_base : 0u) | mode_flag(), seq}, h);
            io_.pwrite(f, h, header_size, 0);
            io_.datasync(f);
            io_.rename(tmp, final_name);
            io_.sync_dir(dir_);
        } catch (...) {
            io_.close(f);
            throw;
        }
        file_ = f;
        active_ = 0;
        seq_ = seq;
        end_ = header_size;
        allocated_ = header_size;
        live_seqs_.push_back(seq);
        last_snapshot_bytes_ = header_size;
    }

    const std::string dir_;
    const durability mode_;
    const bool repair_;
    const std::chrono::microseconds max_delay_;
    Io io_;

    mutable std::mutex m_;
    std::condition_variable cv_;         // durable_lsn_ advanced, leader_ cleared, failure
    std::condition_variable gather_cv_;  // a gathering leader's wait may end

    // Set by open() and close() only (no other member runs then).
    typename Io::file lock_{};
    bool locked_ = false;
    journal_recovery_report report_;

    // Guarded by m_:
    bytes pending_;  // records appended, not yet written
    std::uint64_t pending_records_ = 0;
    std::uint64_t appended_lsn_ = 0;
    std::uint64_t durable_lsn_ = 0;
    bool leader_ = false;  // a leader or a compaction owns the file fields below
    bool gathering_ = false;
    std::size_t waiters_ = 0;
    std::size_t coming_ = 0;  // callers announced, not yet appended (see announce())
    std::uint64_t last_sync_ns_ = 0;
    std::uint64_t last_snapshot_bytes_ = 0;
    bool failed_ = false;
    std::string failure_;
    journal_log_stats stats_;

    // Owned by whoever set leader_ (read and written outside m_ by it), else guarded by m_:
    typename Io::file file_{};
    int active_ = -1;  // >= 0 while file_ is open
    std::uint64_t seq_ = 0;
    std::vector<std::uint64_t> live_seqs_;
    std::uint64_t end_ = 0;        // bytes of the active segment written to the OS
    std::uint64_t allocated_ = 0;  // its size on disk (preallocated zeros past end_)
    bytes writing_;                // the leader's batch (swapped with pending_)
    bool unsynced_ = false;        // durability::none wrote without syncing
    bool unmarked_ = false;        // data written since the last sync mark
};

}  // namespace detail::journal
}  // namespace millrace
