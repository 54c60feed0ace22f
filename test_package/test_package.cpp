// Runs a few tasks through the packaged headers, as a user's first program would: fire-and-forget
// tasks, a value through a handle, tasks of one key in order, then a drain. It fails unless
// every task ran exactly once and in the order promised.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "millrace/dispatch/dispatcher.hpp"
#include "millrace/version.hpp"

using namespace std::chrono_literals;

int main() {
    millrace::dispatcher d({.queues = {{.name = "default", .workers = 2, .capacity = 256}}});

    std::atomic<int> ran{0};
    for (int i = 0; i < 100; ++i)
        (void)d.post([owned = std::make_unique<int>(1), &ran] { ran.fetch_add(*owned); });

    auto answer = d.submit([] { return 6 * 7; });
    const int value = answer.handle.get();

    // One key: one task at a time, in submission order.
    std::atomic<int> last_step{0};
    std::atomic<bool> in_order{true};
    for (int step = 1; step <= 10; ++step)
        (void)d.post(
            [step, &last_step, &in_order] {
                if (last_step.exchange(step) != step - 1) in_order = false;
            },
            {.partition_key = std::string("user-42")});

    (void)d.shutdown(millrace::shutdown_mode::drain, 10s);  // runs whatever is still queued
    std::printf("millrace %s: %d of 100 tasks ran, submit -> %d, keyed steps %s (last %d) after the drain\n",
                millrace::version.string, ran.load(), value, in_order ? "in order" : "OUT OF ORDER",
                last_step.load());
    return ran.load() == 100 && value == 42 && in_order && last_step.load() == 10 ? 0 : 1;
}
