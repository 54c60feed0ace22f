// tests/store/journal/fault_io.hpp: an in-memory disk for journal_store tests that simulates power
// loss, and the journal_io policy over it.
//
// The model (POSIX durability, nothing more): every file keeps the bytes written so far and,
// separately, the bytes as of its last datasync; the directory keeps its names and,
// separately, the names as of its last sync_dir. A power cut (power_loss) reverts the
// names to the synced ones and each file to its synced bytes plus, depending on the mode,
// none of the unsynced bytes (appended or overwritten in place), a random prefix of them,
// or a random prefix whose final page is torn (random bytes in its last 4 KiB page), or
// all of them but random 4 KiB pages. Synced bytes are never
// damaged. cut_after(n) makes the n-th mutating operation from now, and every one after it,
// throw (a storage_error, like EIO) without effect: the moment the power went. Handles and
// locks of the dead "process" are invalid after power_loss. A killed process (SIGKILL)
// keeps the page cache, so it is no model of this: that is why this layer exists.
//
// Two failures of real disks are modelled beyond that. fail_sync_keep_cache(n): the n-th
// fdatasync fails the way Linux fails it ("fsyncgate"): the written bytes stay readable in
// the page cache, but the kernel marks them clean, so they never reach the disk and no
// later sync writes them (a power cut leaves zeros there, under whatever was synced
// later). set_capacity(n): a file system of n bytes: a pwrite or allocate that would grow
// the files past it writes what fits and throws ENOSPC ("No space left on device").
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "millrace/core/error.hpp"
#include "millrace/store/detail/journal_io.hpp"

namespace millrace::test {

// drop_unsynced: none of the unsynced bytes survive; keep_prefix: a random prefix does;
// torn_page: a random prefix whose last partial page holds random bytes; holes: all of
// them, but random 4 KiB pages of them never reached the disk (zeros): pages are written
// back in any order.
enum class loss_mode { drop_unsynced, keep_prefix, torn_page, holes };

class fault_disk {
public:
    using bytes = std::vector<unsigned char>;

    /// The n-th mutating operation from now (1 = the next) and all later ones fail.
    void cut_after(std::uint64_t n) {
        std::lock_guard lk(m_);
        cut_at_ = ops_ + n;
    }
    /// The n-th operation named `what` from now ("pwrite", "fdatasync", "rename",
    /// "ftruncate", "unlink", "fsync dir") fails once (ENOSPC/EIO), without effect; every
    /// other operation, before and after, succeeds.
    void fail_nth(const std::string& what, std::uint64_t n) {
        std::lock_guard lk(m_);
        fail_what_ = what;
        fail_left_ = n;
    }
    /// The n-th fdatasync from now fails once, its bytes kept readable but never made
    /// durable by it or by any later sync (see the header comment).
    void fail_sync_keep_cache(std::uint64_t n) {
        std::lock_guard lk(m_);
        keep_cache_left_ = n;
    }
    /// The n-th pwrite from now writes the first half of its bytes, then fails (EIO).
    void short_write_nth(std::uint64_t n) {
        std::lock_guard lk(m_);
        short_left_ = n;
    }
    /// The file system holds at most `n` bytes of file data (all files together).
    void set_capacity(std::uint64_t n) {
        std::lock_guard lk(m_);
        capacity_ = n;
    }
    /// Bytes of file data on the file system now (page cache view).
    [[nodiscard]] std::uint64_t used() const {
        std::lock_guard lk(m_);
        return used_locked();
    }
    [[nodiscard]] bool cut() const {
        std::lock_guard lk(m_);
        return ops_ >= cut_at_;
    }
    [[nodiscard]] std::uint64_t ops() const {
        std::lock_guard lk(m_);
        return ops_;
    }
    /// Makes every datasync take this long (a real disk's latency lets group commit share).
    void set_sync_delay(std::chrono::microseconds d) {
        std::lock_guard lk(m_);
        sync_delay_ = d;
    }
    [[nodiscard]] std::uint64_t datasyncs() const {
        std::lock_guard lk(m_);
        return syncs_;
    }

    /// The power goes: unsynced state is lost per `mode`, the process's handles and locks die.
    void power_loss(loss_mode mode, std::mt19937_64& rng) {
        std::lock_guard lk(m_);
        names_ = durable_;
        std::set<inode*> seen;
        for (auto& [name, ino] : names_) {
            if (!seen.insert(ino.get()).second) continue;
            bytes& d = ino->data;
            const bytes& s = ino->synced;
            // Bytes from `from` on may differ from the disk: appended, overwritten in place
            // (preallocated space) or truncated away; the rest is synced.
            const std::size_t from = std::min({ino->dirty_from, s.size(), d.size()});
            const bool changed = ino->dirty_from != ~std::size_t{0} || d.size() != s.size();
            if (!changed || mode == loss_mode::drop_unsynced) {
                d = s;
                continue;
            }
            const auto old = [&](std::size_t i) -> unsigned char { return i < s.size() ? s[i] : 0; };
            if (mode == loss_mode::holes) {
                // Every page written back or not, in any order; the size change persisted.
                for (std::size_t page = from / 4096 * 4096; page < d.size(); page += 4096)
                    if (rng() % 3 == 0)
                        for (std::size_t i = std::max(page, from); i < std::min(page + 4096, d.size()); ++i)
                            d[i] = old(i);
            } else {
                // The new bytes reached the disk up to a random point, the old ones after it.
                const std::size_t cut = std::uniform_int_distribution<std::size_t>(from, d.size())(rng);
                if (cut < d.size()) {
                    const std::size_t size = std::max(cut, s.size());
                    d.resize(size);
                    for (std::size_t i = cut; i < size; ++i)
                        d[i] = old(i);
                }
                if (mode == loss_mode::torn_page && cut > from) {
                    const std::size_t page_start = std::max(from, (cut - 1) / 4096 * 4096);
                    for (std::size_t i = page_start; i < cut; ++i)
                        if (rng() % 2 == 0) d[i] = static_cast<unsigned char>(rng());
                }
            }
            for (const auto& [a, b] : ino->lost)  // pages whose sync failed never got there
                for (std::size_t i = a; i < std::min(b, d.size()); ++i)
                    d[i] = old(i);
        }
        for (auto& [name, ino] : names_) {  // what survived is now simply what is on the disk
            ino->synced = ino->data;
            ino->dirty_from = ~std::size_t{0};
            ino->lost.clear();
        }
        durable_ = names_;
        handles_.clear();
        locks_.clear();
        lock_handles_.clear();
        cut_at_ = ~std::uint64_t{0};
        keep_cache_left_ = 0;
        short_left_ = 0;
        ++epoch_;
    }

    // Raw access for tests (corrupting bytes, checking sizes). Not counted as operations.
    [[nodiscard]] bytes read_file(const std::string& path) const {
        std::lock_guard lk(m_);
        auto it = names_.find(path);
        if (it == names_.end()) throw std::invalid_argument("no file " + path);
        return it->second->data;
    }
    /// Replaces a file's content, durably (as if written and synced long ago).
    void write_file(const std::string& path, const bytes& b) {
        std::lock_guard lk(m_);
        auto& ino = names_[path];
        if (!ino) ino = std::make_shared<inode>();
        ino->data = b;
        ino->synced = b;
        ino->dirty_from = ~std::size_t{0};
        durable_[path] = ino;
    }
    [[nodiscard]] std::vector<std::string> files() const {
        std::lock_guard lk(m_);
        std::vector<std::string> v;
        for (auto& [n, i] : names_)
            v.push_back(n);
        return v;
    }

private:
    friend struct fault_io;
    struct inode {
        bytes data;
        bytes synced;
        // Byte ranges [first, second) whose sync failed: clean in the page cache, never on
        // the disk (a sync copies zeros for them).
        std::vector<std::pair<std::size_t, std::size_t>> lost;
        // Lowest offset written or truncated since the last sync: a sync copies only from
        // there (appends cost O(new bytes), not O(file)).
        std::size_t dirty_from = ~std::size_t{0};
        // Bytes [from, to) written again: a later sync makes them durable.
        void rewritten(std::size_t from, std::size_t to) {
            std::vector<std::pair<std::size_t, std::size_t>> keep;
            for (const auto& [a, b] : lost) {
                if (a < from) keep.emplace_back(a, std::min(b, from));
                if (b > to) keep.emplace_back(std::max(a, to), b);
            }
            lost = std::move(keep);
        }
        void sync() {
            const std::size_t keep = std::min({dirty_from, synced.size(), data.size()});
            synced.resize(keep);
            synced.insert(synced.end(), data.begin() + static_cast<std::ptrdiff_t>(keep), data.end());
            for (const auto& [from, to] : lost)
                for (std::size_t i = from; i < std::min(to, synced.size()); ++i)
                    synced[i] = 0;
            dirty_from = ~std::size_t{0};
        }
    };
    struct handle {
        std::shared_ptr<inode> ino;
        std::string path;
        std::uint64_t epoch;
    };

    void op(const std::string& what) {
        if (fail_left_ > 0 && what == fail_what_ && --fail_left_ == 0)
            throw storage_error(what, storage_error::npos, "one-off failure (injected)");
        if (++ops_ >= cut_at_) throw storage_error(what, storage_error::npos, "power cut (injected)");
    }
    std::uint64_t used_locked() const {
        std::uint64_t n = 0;
        std::set<const inode*> seen;
        for (const auto& [name, ino] : names_)
            if (seen.insert(ino.get()).second) n += ino->data.size();
        return n;
    }
    // The bytes of a write to `ino` of `n` at `off` that fit; throws ENOSPC when not all do
    // (after the caller wrote what fits).
    std::size_t room(const inode& ino, std::uint64_t off, std::size_t n) const {
        const std::uint64_t grow = off + n > ino.data.size() ? off + n - ino.data.size() : 0;
        const std::uint64_t used = used_locked();
        if (grow == 0 || used + grow <= capacity_) return n;
        const std::uint64_t free = capacity_ > used ? capacity_ - used : 0;
        const std::uint64_t inside = ino.data.size() > off ? ino.data.size() - off : 0;
        return static_cast<std::size_t>(std::min<std::uint64_t>(n, inside + free));
    }
    inode& at(int h) {
        auto it = handles_.find(h);
        if (it == handles_.end() || it->second.epoch != epoch_)
            throw storage_error("fd " + std::to_string(h), storage_error::npos, "bad or stale handle");
        return *it->second.ino;
    }

    mutable std::mutex m_;
    std::map<std::string, std::shared_ptr<inode>> names_;
    std::map<std::string, std::shared_ptr<inode>> durable_;
    std::map<int, handle> handles_;
    std::set<std::string> locks_;
    std::map<int, std::string> lock_handles_;
    std::set<std::string> dirs_;
    int next_handle_ = 3;
    std::uint64_t ops_ = 0;
    std::uint64_t cut_at_ = ~std::uint64_t{0};
    std::string fail_what_;
    std::uint64_t fail_left_ = 0;
    std::uint64_t syncs_ = 0;
    std::uint64_t keep_cache_left_ = 0;
    std::uint64_t short_left_ = 0;
    std::uint64_t capacity_ = ~std::uint64_t{0};
    std::uint64_t epoch_ = 0;
    std::chrono::microseconds sync_delay_{0};
};

/// journal_io over a shared fault_disk.
struct fault_io {
    using file = int;
    std::shared_ptr<fault_disk> disk = std::make_shared<fault_disk>();
    /// Bytes the log preallocates at a time on this disk (0: none).
    std::uint64_t prealloc_step = 0;

    [[nodiscard]] std::uint64_t preallocate_step() const noexcept { return prealloc_step; }

    file open(const std::string& path, bool create) {
        std::lock_guard lk(disk->m_);
        auto it = disk->names_.find(path);
        if (it == disk->names_.end()) {
            if (!create) throw storage_error(path, storage_error::npos, "open failed: no such file");
            disk->op(path);
            it = disk->names_.emplace(path, std::make_shared<fault_disk::inode>()).first;
        }
        const int h = disk->next_handle_++;
        disk->handles_[h] = fault_disk::handle{it->second, path, disk->epoch_};
        return h;
    }
    void close(file f) noexcept {
        std::lock_guard lk(disk->m_);
        disk->handles_.erase(f);
    }
    std::uint64_t size(file f) {
        std::lock_guard lk(disk->m_);
        return disk->at(f).data.size();
    }
    std::size_t pread(file f, void* out, std::size_t n, std::uint64_t off) {
        std::lock_guard lk(disk->m_);
        const auto& d = disk->at(f).data;
        if (off >= d.size()) return 0;
        const std::size_t k = std::min<std::size_t>(n, d.size() - off);
        std::memcpy(out, d.data() + off, k);
        return k;
    }
    void pwrite(file f, const void* in, std::size_t n, std::uint64_t off) {
        std::lock_guard lk(disk->m_);
        auto& ino = disk->at(f);
        disk->op("pwrite");
        std::size_t k = disk->room(ino, off, n);
        const bool short_write = disk->short_left_ > 0 && --disk->short_left_ == 0;
        if (short_write) k = std::min(k, n / 2);
        if (ino.data.size() < off + k) ino.data.resize(off + k);
        std::memcpy(ino.data.data() + off, in, k);
        ino.dirty_from = std::min<std::size_t>(ino.dirty_from, off);
        ino.rewritten(off, off + k);
        if (k < n)
            throw storage_error("fd " + std::to_string(f), storage_error::npos,
                                short_write ? "pwrite failed: Input/output error (injected)"
                                            : "pwrite failed: No space left on device (injected)");
    }
    /// Reserves [off, off + n) as zeros (never shrinks); ENOSPC (nothing reserved) when it
    /// does not fit.
    void allocate(file f, std::uint64_t off, std::uint64_t n) {
        std::lock_guard lk(disk->m_);
        auto& ino = disk->at(f);
        disk->op("fallocate");
        if (disk->room(ino, off, static_cast<std::size_t>(n)) < n)
            throw storage_error("fd " + std::to_string(f), storage_error::npos,
                                "fallocate failed: No space left on device (injected)");
        if (ino.data.size() < off + n) {
            ino.dirty_from = std::min<std::size_t>(ino.dirty_from, ino.data.size());
            ino.data.resize(static_cast<std::size_t>(off + n));
        }
    }
    void datasync(file f) {
        std::chrono::microseconds delay;
        {
            std::lock_guard lk(disk->m_);
            delay = disk->sync_delay_;
        }
        // Spin (yielding) rather than sleep: a sleep rounds 20 us up to ~100 us here.
        if (delay.count() > 0) {
            const auto until = std::chrono::steady_clock::now() + delay;
            while (std::chrono::steady_clock::now() < until)
                std::this_thread::yield();
        }
        std::lock_guard lk(disk->m_);
        auto& ino = disk->at(f);
        disk->op("fdatasync");
        if (disk->keep_cache_left_ > 0 && --disk->keep_cache_left_ == 0) {
            // The kernel's write-back failed: the pages are marked clean, not durable.
            if (ino.dirty_from < ino.data.size()) ino.lost.emplace_back(ino.dirty_from, ino.data.size());
            ino.dirty_from = ~std::size_t{0};
            throw storage_error("fdatasync", storage_error::npos,
                                "fdatasync failed: Input/output error (injected; pages kept)");
        }
        ino.sync();
        disk->syncs_++;
    }
    void truncate(file f, std::uint64_t len) {
        std::lock_guard lk(disk->m_);
        auto& ino = disk->at(f);
        disk->op("ftruncate");
        ino.data.resize(len);
        ino.dirty_from = std::min<std::size_t>(ino.dirty_from, len);
        for (auto& [from, to] : ino.lost)
            to = std::min<std::size_t>(to, len);
    }
    void rename(const std::string& from, const std::string& to) {
        std::lock_guard lk(disk->m_);
        disk->op("rename");
        auto it = disk->names_.find(from);
        if (it == disk->names_.end())
            throw storage_error(from, storage_error::npos, "rename failed: no such file");
        disk->names_[to] = it->second;
        disk->names_.erase(from);
    }
    void remove(const std::string& path) {
        std::lock_guard lk(disk->m_);
        disk->op("unlink");
        disk->names_.erase(path);
    }
    void sync_dir(const std::string&) {
        std::lock_guard lk(disk->m_);
        disk->op("fsync dir");
        disk->durable_ = disk->names_;
    }
    void make_dir(const std::string& dir) {
        std::lock_guard lk(disk->m_);
        disk->dirs_.insert(dir);
    }
    std::vector<std::string> list(const std::string& dir) {
        std::lock_guard lk(disk->m_);
        std::vector<std::string> v;
        const std::string prefix = dir + "/";
        for (auto& [n, i] : disk->names_)
            if (n.compare(0, prefix.size(), prefix) == 0 && n.find('/', prefix.size()) == std::string::npos)
                v.push_back(n.substr(prefix.size()));
        return v;
    }
    file lock_dir(const std::string& dir) {
        std::lock_guard lk(disk->m_);
        if (!disk->locks_.insert(dir).second)
            throw storage_error(dir, storage_error::npos,
                                "journal is already open (another journal_store holds the "
                                "flock on its directory)");
        const int h = disk->next_handle_++;
        disk->lock_handles_[h] = dir;
        return h;
    }
    void unlock_dir(file f) noexcept {
        std::lock_guard lk(disk->m_);
        auto it = disk->lock_handles_.find(f);
        if (it == disk->lock_handles_.end()) return;
        disk->locks_.erase(it->second);
        disk->lock_handles_.erase(it);
    }
};

static_assert(journal_io<fault_io>);
static_assert(preallocating_io<fault_io>);

}  // namespace millrace::test
