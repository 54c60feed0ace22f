// millrace/dispatch/task_context.hpp: what a running task may ask of the dispatcher.
//
// A task that takes `millrace::task_context&` receives one, valid for the duration of its call
// only. It is used by one thread (the task's), so nothing in it is synchronised.
#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

namespace millrace {

/// The running task's view: its stop token, attempt, queue and key, and a way to fail.
class task_context {
public:
    /// Built by the dispatcher for each run.
    task_context(const std::stop_token& st, std::string_view queue, std::optional<std::uint64_t> key) noexcept
        : stop_(&st), queue_(queue), key_(key) {}

    /// Stop is requested when the task is cancelled while running or the dispatcher shuts down
    /// in cancel mode (or its drain times out). Tasks that run long should poll it.
    [[nodiscard]] const std::stop_token& stop_token() const noexcept { return *stop_; }
    /// 1 for the first run (retries are counted by the reliability layer).
    [[nodiscard]] std::uint32_t attempt() const noexcept { return 1; }
    /// The queue the task runs on.
    [[nodiscard]] std::string_view queue() const noexcept { return queue_; }
    /// hash64 of the task's partition key, if it has one.
    [[nodiscard]] std::optional<std::uint64_t> key() const noexcept { return key_; }
    /// Marks the task failed when it returns (counted; get() throws task_failed(reason)).
    void fail(std::string reason) {
        failed_ = true;
        reason_ = std::move(reason);
    }
    /// Whether fail() was called.
    [[nodiscard]] bool failed() const noexcept { return failed_; }
    /// The reason given to fail().
    [[nodiscard]] const std::string& failure_reason() const noexcept { return reason_; }

private:
    const std::stop_token* stop_;  // the worker's; outlives the call
    std::string_view queue_;
    std::optional<std::uint64_t> key_;
    bool failed_ = false;
    std::string reason_;
};

}  // namespace millrace
