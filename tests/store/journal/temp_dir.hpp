// tests/store/journal/temp_dir.hpp: a fresh directory under $TMPDIR (or /tmp), removed with
// everything in it when the object dies. The journal tests need a disk-backed file system
// (fdatasync must mean something): /dev/shm is never used.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include <unistd.h>

namespace millrace::test {

class temp_dir {
public:
    temp_dir() {
        const char* t = std::getenv("TMPDIR");
        std::string base = (t != nullptr && *t != '\0') ? t : "/tmp";
        std::string pattern = base + "/millrace-journal-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed under " + base);
        path_ = pattern;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

}  // namespace millrace::test
