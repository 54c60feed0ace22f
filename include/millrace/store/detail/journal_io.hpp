// millrace/store/detail/journal_io.hpp: the I/O-layer policy of journal_store.
//
// Every byte journal_store reads or writes goes through an object modelling
// millrace::journal_io, so that tests can swap the disk for one that injects faults and
// simulates power loss (tests/store/journal/fault_io.hpp keeps written-but-unsynced bytes apart
// and drops them). posix_io is the real one (POSIX: open, pread, pwrite, fdatasync,
// ftruncate, rename, fsync of the directory, flock).
//
// Contract of every operation: it either completes or throws millrace::storage_error naming
// the path and the reason (errno text); partial writes are retried until complete. The
// durability promises are POSIX's: bytes written are durable after datasync(file);
// a created, renamed or removed name is durable after sync_dir(its directory). make_dir
// creates the journal directory and every missing parent, each synced into its parent.
#pragma once

#include <algorithm>
#include <cerrno>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "millrace/core/error.hpp"

namespace millrace {

/// The I/O-layer policy journal_store is written against.
template <class Io>
concept journal_io = std::movable<Io> &&
    requires(Io& io, const std::string& path, typename Io::file f, void* out, const void* in, std::size_t n,
             std::uint64_t off) {
    typename Io::file;
    { io.open(path, true) } -> std::same_as<typename Io::file>;  // create if missing
    { io.close(f) }
    noexcept;
    { io.size(f) } -> std::same_as<std::uint64_t>;
    { io.pread(f, out, n, off) } -> std::same_as<std::size_t>;  // bytes read (< n at EOF)
    io.pwrite(f, in, n, off);                                   // all n bytes or throw
    io.datasync(f);
    io.truncate(f, off);
    io.rename(path, path);
    io.remove(path);
    io.sync_dir(path);
    io.make_dir(path);
    { io.list(path) } -> std::same_as<std::vector<std::string>>;  // file names in a dir
    // An exclusive lock on the directory, refused (storage_error) while anyone holds it.
    { io.lock_dir(path) } -> std::same_as<typename Io::file>;
    { io.unlock_dir(f) }
    noexcept;
};

/// An I/O layer that can reserve file space ahead of appends (optional for journal_io).
/// allocate(f, off, len) makes [off, off + len) part of the file, reading as zeros;
/// preallocate_step() is the size of each reservation (0: none).
template <class Io>
concept preallocating_io = requires(Io& io, typename Io::file f, std::uint64_t n) {
    { io.preallocate_step() } -> std::convertible_to<std::uint64_t>;
    io.allocate(f, n, n);
};

/// The POSIX I/O layer.
struct posix_io {
    using file = int;

    /// Bytes reserved at a time ahead of appends (0: none): overwriting allocated space lets
    /// fdatasync skip the file-size update of an append.
    std::uint64_t preallocate = std::uint64_t{16} << 20;
    /// Reserve by writing zeros instead of posix_fallocate (which on ext4 leaves unwritten
    /// extents that the first overwrite still converts, in the file system's journal).
    bool preallocate_with_zeros = false;

    [[nodiscard]] std::uint64_t preallocate_step() const noexcept { return preallocate; }
    void allocate(file f, std::uint64_t off, std::uint64_t len) {
        if (!preallocate_with_zeros) {
            const int r = ::posix_fallocate(f, static_cast<off_t>(off), static_cast<off_t>(len));
            if (r == 0) return;
            if (r != EOPNOTSUPP && r != EINVAL) fail("fd " + std::to_string(f), "posix_fallocate", r);
        }
        static constexpr std::size_t piece = std::size_t{1} << 20;
        const std::vector<char> zeros(static_cast<std::size_t>(std::min<std::uint64_t>(len, piece)));
        for (std::uint64_t done = 0; done < len;) {
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(len - done, piece));
            pwrite(f, zeros.data(), n, off + done);
            done += n;
        }
    }

    [[noreturn]] static void fail(const std::string& path, const char* what, int err) {
        throw storage_error(path, storage_error::npos, std::string(what) + " failed: " + std::strerror(err));
    }

    file open(const std::string& path, bool create) {
        const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
        if (fd < 0) fail(path, "open", errno);
        return fd;
    }
    void close(file f) noexcept { (void)::close(f); }
    std::uint64_t size(file f) {
        struct stat st {};
        if (::fstat(f, &st) != 0) fail("fd " + std::to_string(f), "fstat", errno);
        return static_cast<std::uint64_t>(st.st_size);
    }
    std::size_t pread(file f, void* out, std::size_t n, std::uint64_t off) {
        std::size_t done = 0;
        while (done < n) {
            const ssize_t r =
                ::pread(f, static_cast<char*>(out) + done, n - done, static_cast<off_t>(off + done));
            if (r < 0) {
                if (errno == EINTR) continue;
                fail("fd " + std::to_string(f), "pread", errno);
            }
            if (r == 0) break;
            done += static_cast<std::size_t>(r);
        }
        return done;
    }
    void pwrite(file f, const void* in, std::size_t n, std::uint64_t off) {
        std::size_t done = 0;
        while (done < n) {
            const ssize_t r =
                ::pwrite(f, static_cast<const char*>(in) + done, n - done, static_cast<off_t>(off + done));
            if (r < 0) {
                if (errno == EINTR) continue;
                fail("fd " + std::to_string(f), "pwrite", errno);
            }
            // 0 bytes for a non-empty request would make this loop spin forever: treat it
            // as the device refusing the write.
            if (r == 0) fail("fd " + std::to_string(f), "pwrite (wrote 0 bytes)", EIO);
            done += static_cast<std::size_t>(r);
        }
    }
    void datasync(file f) {
        // After a failed fdatasync the kernel may have dropped the dirty pages: the error
        // is not retryable, so it propagates and the store refuses further writes.
        if (::fdatasync(f) != 0) fail("fd " + std::to_string(f), "fdatasync", errno);
    }
    void truncate(file f, std::uint64_t len) {
        if (::ftruncate(f, static_cast<off_t>(len)) != 0) fail("fd " + std::to_string(f), "ftruncate", errno);
    }
    void rename(const std::string& from, const std::string& to) {
        if (::rename(from.c_str(), to.c_str()) != 0) fail(from + " -> " + to, "rename", errno);
    }
    void remove(const std::string& path) {
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(path, "unlink", errno);
    }
    void sync_dir(const std::string& dir) {
        const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) fail(dir, "open directory", errno);
        const int r = ::fsync(fd);
        const int err = errno;
        ::close(fd);
        if (r != 0) fail(dir, "fsync of directory", err);
    }
    /// Creates the journal directory `dir` and every missing parent (like `mkdir -p`),
    /// each new name synced into its parent; an existing directory is left as it is.
    void make_dir(const std::string& dir) {
        std::size_t end = dir.find_last_not_of('/');
        if (end == std::string::npos) return;  // "/" or empty: nothing to create
        const std::string path = dir.substr(0, end + 1);
        struct stat st {};
        if (::stat(path.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                throw storage_error(path, storage_error::npos,
                                    "journal directory path exists and is not a directory");
            return;
        }
        const std::size_t slash = path.rfind('/');
        const std::string parent = slash == std::string::npos ? std::string(".")
                                   : slash == 0               ? std::string("/")
                                                              : path.substr(0, slash);
        if (slash != std::string::npos && slash != 0) make_dir(parent);
        if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
            fail(path,
                 "mkdir of the journal directory or of a missing parent of it (parents "
                 "are created as needed)",
                 errno);
        // The new directory's name is durable only after its parent is synced.
        sync_dir(parent);
    }
    std::vector<std::string> list(const std::string& dir) {
        DIR* d = ::opendir(dir.c_str());
        if (d == nullptr) fail(dir, "opendir", errno);
        std::vector<std::string> names;
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name != "." && name != "..") names.push_back(name);
        }
        ::closedir(d);
        return names;
    }
    file lock_dir(const std::string& dir) {
        // flock on the directory itself: held per open file description, so a second
        // opener is refused whether it is another process or this one.
        const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) fail(dir, "open directory", errno);
        if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int err = errno;
            ::close(fd);
            if (err == EWOULDBLOCK)
                throw storage_error(dir, storage_error::npos,
                                    "journal is already open (another journal_store holds the "
                                    "flock on its directory)");
            fail(dir, "flock", err);
        }
        return fd;
    }
    void unlock_dir(file f) noexcept {
        (void)::flock(f, LOCK_UN);
        (void)::close(f);
    }
};

static_assert(journal_io<posix_io>);

}  // namespace millrace
