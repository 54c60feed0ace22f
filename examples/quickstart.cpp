// millrace quickstart: a dispatcher with two named queues running move-only tasks now, after
// a delay, in order per key and by priority; a value result, a cancel and a drain.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "millrace/dispatch/dispatcher.hpp"
#include "millrace/version.hpp"

using namespace std::chrono_literals;

int main() {
    std::printf("millrace %s quickstart\n", millrace::version.string);
    millrace::dispatcher d({.queues = {{.name = "default", .workers = 2, .capacity = 1024},
                                       {.name = "mail",
                                        .workers = 1,
                                        .capacity = 256,
                                        .priority_weights = {1, 4},  // level 1 served 4x as often
                                        .admission = {.mode = millrace::when_full::reject}}}});

    // Fire and forget: the task owns its state outright (a move-only capture).
    auto greeting = std::make_unique<std::string>("hello from a move-only capture");
    (void)d.post([g = std::move(greeting)] { std::printf("  %s\n", g->c_str()); });

    // A value result through a handle.
    auto answer = d.submit([] { return 6 * 7; });
    std::printf("  submit -> %d\n", answer.handle.get());

    // Per-key order: the tasks of one user run one at a time, in submission order.
    std::atomic<int> last_step{0};
    for (int step = 1; step <= 5; ++step)
        (void)d.post([step, &last_step] { last_step.store(step); },
                     {.queue = "mail", .priority = 1, .partition_key = std::string("user-42")});

    // A delayed task, and one cancelled before it starts.
    const auto t0 = std::chrono::steady_clock::now();
    auto later = d.submit([t0] { return std::chrono::steady_clock::now() - t0; }, {.delay = 20ms});
    auto doomed = d.submit([] { std::printf("  never printed\n"); }, {.delay = 1h});
    std::printf("  cancel before start -> %s\n", doomed.handle.cancel() ? "cancelled" : "too late");
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(later.handle.get());
    std::printf("  delayed task ran after %lld ms (asked 20)\n", static_cast<long long>(waited.count()));

    // Background work at the low priority level, then a drain that runs everything admitted.
    std::atomic<int> background{0};
    for (int i = 0; i < 100; ++i)
        (void)d.post([&background] { background.fetch_add(1); }, {.queue = "mail"});
    const auto report = d.shutdown(millrace::shutdown_mode::drain, 5s);
    std::printf("  drain: %zu run, %zu cancelled; keyed steps ended at %d, background %d\n", report.run,
                report.cancelled, last_step.load(), background.load());
    std::printf("  after shutdown, post -> %s\n", millrace::to_string(d.post([] {})));

    const bool ok = answer.handle.state() == millrace::task_state::succeeded && last_step.load() == 5 &&
                    background.load() == 100 && waited >= 20ms;
    return ok ? 0 : 1;
}
