// millrace/core/error.hpp: the exception types millrace throws beyond the standard ones.
//
// Conventions (docs/index.md): expected outcomes are return values; a broken precondition
// the caller could have checked throws std::invalid_argument; using an object in a state
// that cannot serve throws std::logic_error; I/O failure and corruption throw storage_error.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace millrace {

/// I/O failure or corruption in a durable store. Carries the file, the byte offset
/// (npos when the failure is not tied to one) and the reason.
class storage_error : public std::runtime_error {
public:
    /// The offset of a failure not tied to one byte of the file.
    static constexpr std::uint64_t npos = ~std::uint64_t{0};

    /// Names the file, the byte offset (or npos) and the reason; what() joins all three.
    storage_error(std::string file, std::uint64_t offset, std::string reason)
        : std::runtime_error(format(file, offset, reason)),
          file_(std::move(file)),
          offset_(offset),
          reason_(std::move(reason)) {}

    /// The file that failed.
    const std::string& file() const noexcept { return file_; }
    /// The byte offset of the failure, or npos.
    std::uint64_t offset() const noexcept { return offset_; }
    /// What went wrong, without the file and offset.
    const std::string& reason() const noexcept { return reason_; }

private:
    static std::string format(const std::string& file, std::uint64_t offset, const std::string& reason) {
        std::string s = "millrace storage error: " + file;
        if (offset != npos) s += " at offset " + std::to_string(offset);
        return s + ": " + reason;
    }

    std::string file_;
    std::uint64_t offset_;
    std::string reason_;
};

}  // namespace millrace
