// millrace/store/detail/journal_log.hpp: the durable, append-only record log under
// journal_store: segment files, group commit, recovery and the switch of a compacted segment.
//
// It knows records (type + payload bytes, journal_format.hpp), not jobs: journal_store
// encodes the state changes of each operation as one record and replays them on open.
//
// Group commit (durability::group_commit). A caller appends its record to the pending buffer
// while holding the store's mutex, so that the log order is the order in which the index
// changed; then, outside that mutex, commit(lsn) waits until the record is durable. The
// first waiter that finds no write in flight becomes the leader: it takes the whole pending
// buffer, writes it with one pwrite and makes it durable with one fdatasync, publishes the
// durable LSN and wakes everyone; callers whose records arrived meanwhile wait for the next
// leader. This is the group commit of database logs (Gawlick and Kinkade, "Varieties of
// Concurrency Control in IMS/VS Fast Path", 1985; PostgreSQL's commit_delay/commit_siblings):
// the fdatasync that dominates the cost is shared by every caller whose record it covers.
// Before it writes, a leader waits a little (at most one measured fdatasync, capped by
// journal_options::max_commit_delay) until as many records are pending as callers were
// waiting when the previous sync finished, so that callers just released by the previous
// sync ride this one instead of forming a second, half-empty group. A single caller never
// waits. A caller returns only after the fdatasync covering its record has returned.
//
// durability::every_commit: the store calls commit() while still holding its mutex, so each
// call writes and syncs its own record. durability::none: commit() writes the record to the
// OS (it survives the process being killed) but never syncs; a power cut loses recent writes,
// in any order (pages of many unsynced writes reach the disk independently), so such a
// segment carries flag_unsynced and recovery drops everything from its first bad record
// that no sync mark follows: the journal always opens without repair.
//
// Failure: an I/O error of a write or sync is not retryable (after a failed fdatasync the
// kernel may have marked the dirty pages clean without writing them, yet they still read
// back), so it poisons the log: every waiter whose record was not yet durable and every
// later call throws millrace::storage_error, and the sync is never retried on those bytes.
// Outside durability::none the failed write is fenced off: the segment is truncated back to
// its last durable offset and synced, or failing that a fence file naming that offset is
// written and synced, which the next open applies before it replays. Failing both, a reopen
// may show records of calls that failed (phantoms), never lose an acknowledged one.
//
// Recovery (open): segments `segment-<seq>.log`; `*.tmp` files are unfinished compactions
// and are removed. Replay starts at the newest segment whose header has flag_base (older
// segments are superseded and removed) and reads records in order. A bad record (short,
// length out of range, CRC mismatch, type 0) in the last segment is a torn tail when no
// well-formed record follows it, or when every record
// that follows belongs to a write that began at or before it (record offset - `back`): only
// the last write can be unsynced, since a leader syncs before the next write begins, and its
// pages may reach the disk in any order; and never when a sync mark follows it (written by
// close() after its final sync, and at the end of a compacted segment). A record whose CRC
// holds but which is of an unknown type or does not decode is always corruption. The
// segment is truncated at a torn tail (its bytes first copied to
// `<segment>.torn-<offset>`, then synced) and the report says which record, at what
// offset, how many bytes went and where they were kept. A bad record followed
// by a record of a later write is corruption: storage_error naming file, offset and reason,
// or with `repair`, the bad bytes up to the next good record are skipped and reported, every
// good record is kept, and the store rewrites itself by compaction so that the next open is
// clean.
//
// Compaction: with the store's mutex held (no appends) and no write in flight, the store's
// whole live state is written as records into `segment-<seq+1>.log.tmp` with flag_base,
// synced, renamed to `segment-<seq+1>.log`, and the directory synced; only then are older
// segments removed. A crash before the directory sync leaves the old segments (the .tmp is
// removed on open); after it, the new base segment supersedes them: old or new, never a mix.
// Records that were pending (appended, not yet written) are covered by the snapshot, which
// reflects them, so their callers are released when the new segment is durable.
//
// Thread-safety: all members are safe to call concurrently except open() (before use) and
// compact_locked()/append() which the store calls under its own mutex.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
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

namespace millrace {

/// What a mutating call of journal_store waits for before it returns.
enum class durability : std::uint8_t {
    every_commit,  ///< its own record written and fdatasync'ed before it returns
    group_commit,  ///< written and fdatasync'ed, the sync shared with concurrent callers
    none,          ///< written to the OS only: survives a killed process, not a power cut
};

/// Bytes that recovery dropped: a torn tail, or (with repair) a corrupt range.
struct journal_dropped_range {
    std::string file;
    std::uint64_t offset = 0;        ///< where the first bad record starts
    std::uint64_t bytes = 0;         ///< how many bytes were dropped from there
    std::uint64_t record_index = 0;  ///< ordinal of the bad record in its segment (from 0)
    std::string reason;
    std::string saved_to;  ///< torn tail: the file its bytes were copied to before truncation
};

/// What open() found and did.
struct journal_recovery_report {
    std::uint64_t segments_replayed = 0;
    std::uint64_t records_replayed = 0;
    std::uint64_t bytes_replayed = 0;
    std::optional<journal_dropped_range> torn_tail;  ///< truncated away (the unsynced tail)
    std::vector<journal_dropped_range> repaired;     ///< corrupt ranges skipped by `repair`
    std::vector<std::string> removed_files;          ///< superseded segments, unfinished .tmp
    /// Bytes past a fence file (the write whose sync failed), discarded before replay.
    std::optional<journal_dropped_range> fenced;
};

/// Counters of the log since open.
struct journal_log_stats {
    std::uint64_t syncs = 0;           ///< fdatasync calls for commits
    std::uint64_t records_synced = 0;  ///< records those syncs covered
    std::uint64_t bytes_written = 0;
    std::uint64_t sync_ns_total = 0;   ///< time spent in write+fdatasync by commit leaders
    std::uint64_t compactions = 0;
};

namespace detail::journal {

template <journal_io Io>
class log {
public:
    log(std::string dir, durability mode, bool repair, std::chrono::microseconds max_delay, Io io)
        : dir_(std::move(dir)), mode_(mode), repair_(repair), max_delay_(max_delay),
          io_(std::move(io)) {}

    log(const log&) = delete;
    log& operator=(const log&) = delete;

    ~log() { close(); }

    /// Flushes (write + sync, in every mode) and releases the files and the lock. Never
    /// throws: a failure here loses only what was never acknowledged as durable.
    void close() noexcept {
        std::unique_lock lk(m_);
        while (leader_) cv_.wait(lk);
        if (!failed_ && active_ >= 0 && (!pending_.empty() || unsynced_ || unmarked_)) {
            bool synced_close = false;
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
                if (mode_ != durability::none && !synced_close) (void)fence(end_);
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
        if (gathering_ && pending_records_ >= gather_target_) gather_cv_.notify_one();
        return ++appended_lsn_;
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
        while (leader_) cv_.wait(lk);
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
            for (const std::uint64_t s : old_seqs) io_.remove(segment_path(s));
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
                                "journal failed earlier and refuses further writes (" +
                                    failure_ + "); close and reopen the store");
    }

    std::string segment_path(std::uint64_t seq) const {
        char name[40];
        std::snprintf(name, sizeof name, "segment-%016llx.log",
                      static_cast<unsigned long long>(seq));
        return dir_ + "/" + name;
    }

    static bool parse_segment_name(const std::string& n, std::uint64_t& seq) {
        if (n.size() != 8 + 16 + 4 || n.compare(0, 8, "segment-") != 0 ||
            n.compare(24, 4, ".log") != 0)
            return false;
        seq = 0;
        for (std::size_t i = 8; i < 24; ++i) {
            const char c = n[i];
            int d = 0;
            if (c >= '0' && c <= '9') d = c - '0';
            else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
            else return false;
            seq = seq << 4 | static_cast<std::uint64_t>(d);
        }
        return true;
    }

    // After a failed write or sync at `durable_end` (everything before it was synced), makes
    // sure no later open reads the bytes after it: truncates the segment there and syncs;
    // failing that, writes a fence file naming the segment and offset (open() truncates
    // there before replay). Failing both, the bytes may reappear as records of calls that
    // were never acknowledged: phantoms, never a loss. Returns what it did, for the error.
    std::string fence(std::uint64_t durable_end) noexcept {
        try {
            io_.truncate(file_, durable_end);
            io_.datasync(file_);
            return "the segment was truncated back to its last durable offset " +
                   std::to_string(durable_end);
        } catch (...) {
        }
        try {
            unsigned char b[header_size];
            encode_fence(fence_record{seq_, durable_end}, b);
            const std::string path = dir_ + "/" + fence_name;
            const auto f = io_.open(path, true);
            try {
                io_.truncate(f, 0);
                io_.pwrite(f, b, sizeof b, 0);
                io_.datasync(f);
            } catch (...) {
                io_.close(f);
                throw;
            }
            io_.close(f);
            io_.sync_dir(dir_);
            return "a fence file names the last durable offset " + std::to_string(durable_end);
        } catch (...) {
        }
        return "no fence could be written: a reopen may show records of calls that failed";
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
        if (mode_ == durability::group_commit && pending_records_ < gather_target_ &&
            max_delay_.count() > 0) {
            // Wait for the callers the previous sync released (see the header comment).
            const auto window = std::min<std::chrono::nanoseconds>(
                max_delay_, std::chrono::nanoseconds(last_sync_ns_));
            const auto deadline = std::chrono::steady_clock::now() + window;
            gathering_ = true;
            while (pending_records_ < gather_target_ &&
                   gather_cv_.wait_until(lk, deadline) != std::cv_status::timeout) {
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
            if (!writing_.empty()) io_.pwrite(file_, writing_.data(), writing_.size(), off);
            if constexpr (planted("journal_ack_before_sync")) release_before_sync(target);
            if (sync) io_.datasync(file_);
        } catch (...) {
            ok = false;
            why = current_message();
            if constexpr (planted("journal_ack_failed_sync")) ok = true;  // failure acknowledged
            // The failed write's bytes may read back intact from the page cache while the
            // disk never got them (a failed fdatasync marks the pages clean): fence them off.
            if (!ok && sync) why += "; " + fence(off);
        }
        const auto ns = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now() - t0)
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
        gather_target_ = waiters_;
        cv_.notify_all();
    }

    template <class Apply>
    void open_locked(Apply& apply) {
        std::vector<std::uint64_t> seqs;
        std::optional<fence_record> fence_at;
        bool fence_file = false;
        for (const std::string& n : io_.list(dir_)) {
            std::uint64_t s = 0;
            if (n == fence_name) {
                fence_file = true;
                const bytes b = read_all(dir_ + "/" + n);
                fence_record f;
                if (decode_fence(b.data(), b.size(), f)) fence_at = f;
            } else if (parse_segment_name(n, s)) {
                seqs.push_back(s);
            } else if (n.size() > 4 && n.compare(n.size() - 4, 4, ".tmp") == 0 &&
                       n.compare(0, 8, "segment-") == 0) {
                io_.remove(dir_ + "/" + n);  // an unfinished compaction
                report_.removed_files.push_back(n);
            }
        }
        std::sort(seqs.begin(), seqs.end());
        if (seqs.empty()) {
            if (fence_file) io_.remove(dir_ + "/" + fence_name);  // names no segment that exists
            create_first_segment();
            return;
        }
        // Read headers newest first to find the newest base.
        std::vector<bytes> contents(seqs.size());
        std::vector<segment_header> headers(seqs.size());
        std::vector<bool> header_ok(seqs.size(), false);
        std::size_t base = 0;
        bool found = false;
        for (std::size_t i = seqs.size(); i-- > 0;) {
            contents[i] = read_all(segment_path(seqs[i]));
            if (fence_at && fence_at->sequence == seqs[i] && contents[i].size() > fence_at->offset &&
                fence_at->offset >= header_size) {
                // A write failed there: its bytes may read back intact but were never synced.
                report_.fenced = journal_dropped_range{
                    segment_path(seqs[i]), fence_at->offset, contents[i].size() - fence_at->offset,
                    0, "bytes of a write whose sync failed (fence file)", {}};
                contents[i].resize(static_cast<std::size_t>(fence_at->offset));
                const auto f = io_.open(segment_path(seqs[i]), false);
                try {
                    io_.truncate(f, fence_at->offset);
                    io_.datasync(f);
                } catch (...) {
                    io_.close(f);
                    throw;
                }
                io_.close(f);
            }
            std::string why;
            header_ok[i] = decode_header(contents[i].data(), contents[i].size(), headers[i], why);
            if (header_ok[i] && headers[i].sequence != seqs[i]) {
                // A segment copied or renamed by hand: its order would be wrong.
                header_ok[i] = false;
                why = "segment header sequence " + std::to_string(headers[i].sequence) +
                      " does not match its file name";
            }
            if (!header_ok[i]) {
                if (!repair_) throw storage_error(segment_path(seqs[i]), 0, why);
                report_.repaired.push_back(journal_dropped_range{
                    segment_path(seqs[i]), 0, contents[i].size(), 0, why, {}});
                continue;
            }
            if (headers[i].flags & flag_base) {
                base = i;
                found = true;
                break;
            }
        }
        if (fence_file) {
            // Applied above (the truncation is synced) or fenced nothing (a damaged fence
            // file: its write failed, the store was poisoned, phantoms are allowed).
            io_.remove(dir_ + "/" + fence_name);
            io_.sync_dir(dir_);
            report_.removed_files.push_back(dir_ + "/" + fence_name);
        }
        if (!found) {
            if (!repair_)
                throw storage_error(dir_, storage_error::npos,
                                    "no base segment: the journal's first segment is missing");
            base = 0;
        }
        // Superseded segments: the base was durable before they were due for removal.
        for (std::size_t i = 0; i < base; ++i) {
            io_.remove(segment_path(seqs[i]));
            report_.removed_files.push_back(segment_path(seqs[i]));
        }
        if (base > 0) io_.sync_dir(dir_);
        std::uint64_t end = 0;
        for (std::size_t i = base; i < seqs.size(); ++i) {
            if (!header_ok[i]) continue;
            const bool last = i + 1 == seqs.size();
            end = replay_segment(segment_path(seqs[i]), contents[i], last,
                                 (headers[i].flags & flag_unsynced) != 0, apply);
            report_.segments_replayed++;
            live_seqs_.push_back(seqs[i]);
            bytes().swap(contents[i]);
        }
        seq_ = seqs.back();
        if (!header_ok.back()) {
            // The newest segment was unreadable (repair only): start a fresh one after it.
            create_segment(seq_ + 1, false);
            return;
        }
        file_ = io_.open(segment_path(seq_), false);
        active_ = 0;
        if (report_.torn_tail) {
            // Keep the dropped bytes aside before truncating: if the classification was
            // wrong, nothing is lost for good.
            const auto& t = *report_.torn_tail;
            const std::string aside = t.file + ".torn-" + std::to_string(t.offset);
            const auto f = io_.open(aside, true);
            try {
                io_.truncate(f, 0);
                io_.pwrite(f, torn_bytes_.data(), torn_bytes_.size(), 0);
                io_.datasync(f);
            } catch (...) {
                io_.close(f);
                throw;
            }
            io_.close(f);
            io_.sync_dir(dir_);
            report_.torn_tail->saved_to = aside;
            bytes().swap(torn_bytes_);
            io_.truncate(file_, end);
            io_.datasync(file_);
        }
        end_ = end;
        last_snapshot_bytes_ = end;
        if (((headers.back().flags & flag_unsynced) != 0) != (mode_ == durability::none)) {
            // The mode changed: the torn-tail rule of a segment follows its header's flag,
            // so sync what is there and go on in a new segment flagged for this mode.
            io_.datasync(file_);
            io_.close(file_);
            active_ = -1;
            create_segment(seq_ + 1, false);
        }
    }

    bytes read_all(const std::string& path) {
        const auto f = io_.open(path, false);
        bytes b;
        try {
            const std::uint64_t n = io_.size(f);
            b.resize(static_cast<std::size_t>(n));
            b.resize(io_.pread(f, b.data(), b.size(), 0));
        } catch (...) {
            io_.close(f);
            throw;
        }
        io_.close(f);
        return b;
    }

    template <class Apply>
    std::uint64_t replay_segment(const std::string& path, const bytes& c, bool last,
                                 bool unsynced_mode, Apply& apply) {
        const unsigned char* d = c.data();
        const std::size_t n = c.size();
        std::size_t off = header_size;
        std::uint64_t index = 0;
        while (off < n) {
            record_view r;
            record_check ck = check_record(d, n, off, r);
            std::string why;
            if (ck == record_check::ok && r.type == sync_mark_type && r.length == 0) {
                report_.records_replayed++;
                report_.bytes_replayed += r.next - off;
                off = r.next;
                ++index;
                continue;
            }
            if (ck == record_check::ok) {
                if (r.type > max_record_type) {
                    why = "unknown record type " + std::to_string(r.type);
                } else {
                    try {
                        apply(r.type, r.payload, r.length);
                        report_.records_replayed++;
                        report_.bytes_replayed += r.next - off;
                        off = r.next;
                        ++index;
                        continue;
                    } catch (const journal_decode_error& e) {
                        why = std::string("undecodable record payload: ") + e.what();
                    }
                }
            } else {
                why = to_string(ck);
            }
            // A record whose CRC holds was written whole: if it does not decode, the writer
            // or the bytes are wrong, never a torn write. Corruption (or dropped by repair).
            const bool whole = ck == record_check::ok;
            const std::size_t next = whole ? r.next : next_valid_record(d, n, off + 1);
            if (!whole && last && torn_write(d, n, off, next, unsynced_mode)) {
                report_.torn_tail = journal_dropped_range{path, off, n - off, index, why, {}};
                torn_bytes_.assign(d + off, d + n);
                return off;
            }
            if (!repair_)
                throw storage_error(path, off,
                                    why + " (record " + std::to_string(index) +
                                        (whole ? "; its checksum holds, so it was written "
                                                 "whole: corruption, not a torn tail; open "
                                                 "with repair to drop it)"
                                               : "; valid records follow, so this is "
                                                 "corruption, not a torn tail; open with "
                                                 "repair to drop it)"));
            report_.repaired.push_back(journal_dropped_range{path, off, next - off, index, why, {}});
            off = next;
            ++index;
        }
        return n;
    }

    // A bad record at `bad` is the torn tail of the last write when no well-formed record
    // follows it, or when every one that follows belongs to a write that began at or before
    // `bad` (its start = its offset - back): only the last write can be unsynced (a leader
    // syncs before the next write begins), and its pages reach the disk in any order, so
    // records after a hole in it are as unacknowledged as the hole. A record of a write that
    // began after `bad` proves the bad bytes were synced: corruption.
    // In a segment written in durability::none (`unsynced_mode`) every call is its own
    // unsynced write: a bad record is torn unless a sync mark follows it.
    static bool torn_write(const unsigned char* d, std::size_t n, std::size_t bad,
                           std::size_t next, bool unsynced_mode) noexcept {
        record_view r;
        for (std::size_t off = next; off < n;) {
            if (check_record(d, n, off, r) != record_check::ok) {
                off = next_valid_record(d, n, off + 1);
                continue;
            }
            if (r.type == sync_mark_type && r.length == 0) return false;
            if (!unsynced_mode && (r.back > off || off - r.back > bad)) return false;
            off = r.next;
        }
        return true;
    }

    [[nodiscard]] std::uint32_t mode_flag() const noexcept {
        return mode_ == durability::none ? flag_unsynced : 0u;
    }

    void create_first_segment() { create_segment(1, true); }

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
    std::condition_variable gather_cv_;  // enough records pending for a gathering leader
    typename Io::file lock_{};
    bool locked_ = false;
    typename Io::file file_{};
    int active_ = -1;  // >= 0 while file_ is open
    std::uint64_t seq_ = 0;
    std::vector<std::uint64_t> live_seqs_;
    std::uint64_t end_ = 0;  // bytes of the active segment written to the OS
    bytes pending_;          // records appended, not yet written
    bytes writing_;          // the leader's batch (swapped with pending_)
    std::uint64_t pending_records_ = 0;
    std::uint64_t appended_lsn_ = 0;
    std::uint64_t durable_lsn_ = 0;
    bool leader_ = false;
    bool gathering_ = false;
    bool unsynced_ = false;  // durability::none wrote without syncing
    bool unmarked_ = false;  // data written since the last sync mark
    bytes torn_bytes_;       // open(): the torn tail, copied aside before truncation
    std::size_t waiters_ = 0;
    std::size_t gather_target_ = 0;
    std::uint64_t last_sync_ns_ = 0;
    std::uint64_t last_snapshot_bytes_ = 0;
    bool failed_ = false;
    std::string failure_;
    journal_log_stats stats_;
    journal_recovery_report report_;
};

}  // namespace detail::journal
}  // namespace millrace
