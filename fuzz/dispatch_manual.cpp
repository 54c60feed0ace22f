// Random operation sequences on a manual-mode dispatcher against a simple model: posts and
// submits (two queues, priorities, keys, delays on a nanosecond grid), cancels, clock advances
// and run_pending. Checked after every step: admission matches the model's capacity count, no
// task runs before it is due or twice or after a successful cancel, everything due has run
// after run_pending, tasks of one key without delay run in submission order, and the depth
// equals the model's live count.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <vector>

#include "fuzz_input.hpp"
#include "millrace/dispatch/dispatcher.hpp"

namespace {

struct manual_policies : millrace::default_policies {
    using clock = millrace::manual_clock;
};

struct model_task {
    std::size_t queue = 0;
    millrace::manual_clock::time_point due{};
    int key = -1;
    bool delayed = false;
    bool cancelled = false;
    int runs = 0;
    bool released = false;  // a run_pending has happened since it was due: off the books
    bool freed = false;     // cancelled while still scheduled: its unit came back at once
    millrace::task_handle<void> handle;
};

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    millrace::fuzz::byte_reader in{data, size};
    constexpr std::size_t capacity[2] = {8, 5};
    millrace::queue_config a;
    a.name = "a";
    a.capacity = capacity[0];
    a.admission.mode = millrace::when_full::reject;
    millrace::queue_config b;
    b.name = "b";
    b.capacity = capacity[1];
    b.priority_weights = {1, 2};
    b.admission.mode = millrace::when_full::reject;
    millrace::dispatcher_config cfg;
    cfg.queues = {a, b};
    cfg.manual = true;
    millrace::basic_dispatcher<manual_policies> d(cfg);
    auto& clock = d.clock();

    std::vector<model_task> tasks;
    tasks.reserve(1024);
    std::map<int, std::vector<std::size_t>> key_order;  // delay-0 tasks of each (queue, key), by submission
    std::map<int, std::size_t> key_next;                // index into key_order of the next to run
    bool bad_run = false;

    auto live = [&](std::size_t q) {
        std::size_t n = 0;
        // A task cancelled while scheduled gives its unit back at once; one cancelled while
        // queued keeps it until the dispatcher pops it (a run_pending after it is due).
        for (auto& t : tasks)
            n += t.queue == q && t.runs == 0 && !(t.cancelled && (t.released || t.freed));
        return n;
    };

    while (in.more() && tasks.size() < 1000) {
        const std::uint8_t op = in.byte() % 8;
        if (op <= 3) {  // submit
            const std::size_t q = in.byte() % 2;
            const std::uint8_t b1 = in.byte();
            const std::uint32_t prio = q == 1 ? b1 % 2u : 0u;
            const bool delayed = (b1 & 0x10) != 0;
            const auto delay = std::chrono::nanoseconds(delayed ? 1 + (in.byte() % 4) * 500'000 : 0);
            const int key = (b1 & 0x20) != 0 ? static_cast<int>(b1 >> 6) : -1;
            const int strand = key < 0 ? -1 : static_cast<int>(q) * 4 + key;  // strands are per queue
            const std::size_t id = tasks.size();
            millrace::submit_options o;
            o.queue = q == 0 ? "a" : "b";
            o.priority = prio;
            o.delay = delay;
            if (key >= 0) o.partition_key = millrace::partition_key(key);
            const bool expect = live(q) < capacity[q];
            auto body = [&, id] {
                auto& t = tasks[id];
                if (t.runs != 0 || t.cancelled || clock.now() < t.due) bad_run = true;
                ++t.runs;
                if (t.key >= 0 && !t.delayed) {
                    auto& order = key_order[t.key];
                    auto& next = key_next[t.key];
                    while (next < order.size() && tasks[order[next]].cancelled)
                        ++next;
                    if (next >= order.size() || order[next] != id) bad_run = true;
                    ++next;
                }
            };
            model_task t;
            t.queue = q;
            t.due = clock.now() + delay;
            t.key = strand;
            t.delayed = delayed;
            tasks.push_back(std::move(t));
            auto r = d.submit(body, o);
            check((r.status == millrace::submit_status::accepted) == expect);
            if (r.status != millrace::submit_status::accepted) {
                check(r.status == millrace::submit_status::rejected_full);
                tasks.pop_back();
                continue;
            }
            tasks.back().handle = std::move(r.handle);
            if (strand >= 0 && !delayed) key_order[strand].push_back(id);
        } else if (op == 4 && !tasks.empty()) {  // cancel
            auto& t = tasks[in.byte() % tasks.size()];
            const bool expect = t.runs == 0 && !t.cancelled;
            const bool got = t.handle.cancel();
            check(got == expect);
            if (got) {
                t.cancelled = true;
                t.freed = t.delayed && !t.released;  // still in the delay scheduler
            }
        } else if (op == 5 || op == 6) {  // advance: 1 ns, half a millisecond less 1 ns, or more
            const std::uint8_t s = in.byte() % 4;
            const std::int64_t ns[] = {1, 499'999, 500'000, 1'000'000};
            clock.advance(std::chrono::nanoseconds(ns[s]));
        } else {
            (void)d.run_pending();
            for (auto& t : tasks) {
                if (t.due <= clock.now()) t.released = true;
                const bool should = !t.cancelled && t.due <= clock.now();
                check(t.runs == (should ? 1 : 0));
            }
        }
        check(!bad_run);
        const auto sa = d.stats("a"), sb = d.stats("b");
        check(sa.depth == live(0) && sb.depth == live(1));
    }
    (void)d.shutdown(millrace::shutdown_mode::cancel);  // before the model it refers to goes
    return 0;
}
