// Replacing dispatcher policies, one line each: a manual clock (tests drive time; no threads
// with .manual = true) and no optional counters.
#include <chrono>
#include <cstdio>

#include "millrace/dispatch/dispatcher.hpp"

using namespace std::chrono_literals;

struct test_policies : millrace::default_policies {
    using clock = millrace::manual_clock;  // time moves only when the test says so
    using metrics = millrace::no_metrics;  // every optional counter compiled away
};

int main() {
    millrace::basic_dispatcher<test_policies> d({.queues = {{.name = "default"}}, .manual = true});
    int fired = 0;
    (void)d.post([&fired] { ++fired; }, {.delay = 1500us});
    d.clock().advance(1499us);
    const auto early = d.run_pending();  // nothing is due yet
    d.clock().advance(1us);
    const auto due = d.run_pending();  // due exactly at 1.5 ms
    std::printf("custom policies: %zu run at 1.499 ms, %zu at 1.5 ms\n", early, due);
    return early == 0 && due == 1 && fired == 1 ? 0 : 1;
}
