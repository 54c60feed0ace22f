// tests/store/sql/scratch.hpp: temporary directories for the SQL store tests, under $TMPDIR
// (or /tmp; never /dev/shm: a sync must mean something), removed at exit.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <stdlib.h>

namespace millrace::test {

struct sql_scratch {
    std::vector<std::string> made;
    /// A fresh empty directory.
    std::string fresh_dir() {
        const char* t = std::getenv("TMPDIR");
        std::string pattern = std::string((t != nullptr && *t != '\0') ? t : "/tmp") + "/millrace-sql-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
        made.push_back(pattern);
        return pattern;
    }
    ~sql_scratch() {
        std::error_code ec;
        for (const auto& d : made)
            std::filesystem::remove_all(d, ec);
    }
};

}  // namespace millrace::test
