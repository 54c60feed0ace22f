// Functional tests of the dispatcher: manual mode (deterministic, exact to the nanosecond)
// wherever a test is about order or time; threaded mode for blocking, cancel-while-running,
// shutdown, signals and idle CPU.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <future>
#include <latch>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>

#include <gtest/gtest.h>

#include "millrace/dispatch/dispatcher.hpp"
#include "millrace/dispatch/sharded_delay_scheduler.hpp"
#include "support/counting_new.hpp"

using namespace std::chrono_literals;

namespace {

struct manual_policies : millrace::default_policies {
    using clock = millrace::manual_clock;
};
using manual_dispatcher = millrace::basic_dispatcher<manual_policies>;

millrace::dispatcher_config manual_config(std::vector<millrace::queue_config> qs) {
    millrace::dispatcher_config c;
    c.queues = std::move(qs);
    c.manual = true;
    return c;
}

struct owned_task {  // a move-only callable whose state a test can inspect
    std::unique_ptr<int> v;
    int operator()() const { return *v; }
};

millrace::queue_config q(std::string name, std::size_t workers = 1, std::size_t capacity = 1024) {
    millrace::queue_config c;
    c.name = std::move(name);
    c.workers = workers;
    c.capacity = capacity;
    return c;
}

}  // namespace

TEST(Dispatcher, ConfigIsValidatedNamingQueueAndField) {
    auto throws_with = [](millrace::dispatcher_config c, const std::string& needle) {
        try {
            manual_dispatcher d(std::move(c));
            ADD_FAILURE() << "no exception for " << needle;
        } catch (const std::invalid_argument& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    throws_with(manual_config({}), "at least one queue");
    throws_with(manual_config({q("a", 1, 0)}), "'a': capacity");
    throws_with(manual_config({q("a"), q("a")}), "'a': name is used twice");
    throws_with(manual_config({q("b", 0)}), "'b': workers");
    auto w = q("c");
    w.priority_weights = {1, 0};
    throws_with(manual_config({w}), "'c': priority_weights");
    auto r = q("d");
    r.admission.rate = -1;
    throws_with(manual_config({r}), "'d': admission.rate");
    auto z = q("scale", 0);
    z.max_workers = 4;  // zero workers with a maximum: allowed
    EXPECT_NO_THROW(manual_dispatcher(manual_config({z})));
}

TEST(Dispatcher, PostSubmitValueVoidAndExceptions) {
    millrace::dispatcher d({.queues = {q("default", 2)}});
    std::atomic<int> n{0};
    EXPECT_EQ(d.post([&] { n.fetch_add(1); }), millrace::submit_status::accepted);
    auto v = d.submit([] { return std::string("forty-two"); });
    ASSERT_EQ(v.status, millrace::submit_status::accepted);
    EXPECT_EQ(v.handle.get(), "forty-two");
    EXPECT_EQ(v.handle.state(), millrace::task_state::succeeded);
    auto vo = d.submit([&](millrace::task_context& c) { n.fetch_add(c.queue() == "default" ? 10 : 100); });
    vo.handle.get();
    auto ex = d.submit([]() -> int { throw std::runtime_error("boom"); });
    EXPECT_THROW(ex.handle.get(), std::runtime_error);
    EXPECT_EQ(ex.handle.state(), millrace::task_state::failed);
    auto fl = d.submit([](millrace::task_context& c) { c.fail("no input"); });
    EXPECT_THROW(fl.handle.get(), millrace::task_failed);
    (void)d.post([] { throw 7; });  // escapes a post: caught and counted
    ASSERT_TRUE(d.wait_idle(5s));
    EXPECT_EQ(n.load(), 11);
    const auto s = d.stats();
    EXPECT_EQ(s.failed, 3u);
    EXPECT_EQ(s.run, 3u);
    EXPECT_EQ(d.submit([] {}, {.queue = "nope"}).status, millrace::submit_status::unknown_queue);
    EXPECT_THROW((void)d.post([] {}, {.priority = 1}), std::invalid_argument);
    EXPECT_THROW((void)d.stats("nope"), std::invalid_argument);
}

TEST(Dispatcher, ManualDelaysAreExactToTheNanosecond) {
    manual_dispatcher d(manual_config({q("default")}));
    const auto start = d.clock().now();
    std::vector<std::pair<int, millrace::manual_clock::time_point>> ran;
    (void)d.post([&] { ran.emplace_back(1, d.clock().now()); }, {.delay = 1500us});
    (void)d.post([&] { ran.emplace_back(2, d.clock().now()); },
                 {.delay = 1500us});  // same due: submission order
    (void)d.post([&] { ran.emplace_back(0, d.clock().now()); }, {.delay = 1ns});
    auto at = d.submit_at([&] { return 5; }, start + 2ms);
    EXPECT_EQ(at.handle.state(), millrace::task_state::scheduled);
    EXPECT_EQ(d.run_pending(), 0u);
    d.clock().advance(1ns);
    EXPECT_EQ(d.run_pending(), 1u);
    d.clock().advance(1500us - 2ns);
    EXPECT_EQ(d.run_pending(), 0u);  // 1 ns early
    d.clock().advance(1ns);
    EXPECT_EQ(d.run_pending(), 2u);
    ASSERT_EQ(ran.size(), 3u);
    EXPECT_EQ(ran[0].first, 0);
    EXPECT_EQ(ran[1].first, 1);
    EXPECT_EQ(ran[2].first, 2);
    EXPECT_EQ(ran[1].second - start, 1500us);
    EXPECT_THROW((void)at.handle.get(), std::logic_error);  // not due: never a deadlock
    d.clock().advance(500us);
    EXPECT_EQ(at.handle.get(), 5);  // due: get() runs pending work
}

TEST(Dispatcher, WeightedFairnessBoundUnderAFloodOfTheTopLevel) {
    auto c = q("default", 1, 4096);
    c.priority_weights = {1, 3, 6};  // a round is 10 pops
    manual_dispatcher d(manual_config({c}));
    std::vector<std::uint32_t> order;
    for (int i = 0; i < 1000; ++i)
        (void)d.post([&] { order.push_back(2); }, {.priority = 2});
    for (int i = 0; i < 50; ++i)
        (void)d.post([&] { order.push_back(1); }, {.priority = 1});
    for (int i = 0; i < 20; ++i)
        (void)d.post([&] { order.push_back(0); }, {.priority = 0});
    (void)d.run_pending();
    ASSERT_EQ(order.size(), 1070u);
    // While level 0 has work, it is served within sum(weights) = 10 pops.
    std::size_t last = 0, seen0 = 0;
    for (std::size_t i = 0; i < order.size() && seen0 < 20; ++i) {
        if (order[i] == 0) {
            EXPECT_LE(i + 1 - last, 10u) << "at pop " << i;
            last = i + 1;
            ++seen0;
        }
    }
    EXPECT_EQ(seen0, 20u);
    // Level 2 gets 6 of every 10 pops while all levels have work.
    std::size_t top = 0;
    for (std::size_t i = 0; i < 100; ++i)
        top += order[i] == 2;
    EXPECT_EQ(top, 60u);
}

TEST(Dispatcher, StrandsKeepOrderPerKeyInManualMode) {
    manual_dispatcher d(manual_config({q("default")}));
    std::vector<std::vector<int>> got(5);
    for (int i = 0; i < 100; ++i) {
        const int key = i % 5;
        (void)d.post(
            [&, key, i](millrace::task_context& c) {
                EXPECT_EQ(*c.key(), millrace::hash64(key));
                got[static_cast<std::size_t>(key)].push_back(i);
            },
            {.partition_key = key});
    }
    EXPECT_EQ(d.run_pending(), 100u);
    for (int k = 0; k < 5; ++k) {
        ASSERT_EQ(got[static_cast<std::size_t>(k)].size(), 20u);
        for (std::size_t j = 1; j < 20; ++j)
            EXPECT_LT(got[static_cast<std::size_t>(k)][j - 1], got[static_cast<std::size_t>(k)][j]);
    }
    // A delayed keyed task joins its strand when due, behind what is queued then.
    std::vector<int> order;
    (void)d.post([&] { order.push_back(1); }, {.delay = 1ms, .partition_key = 9});
    (void)d.post([&] { order.push_back(0); }, {.partition_key = 9});
    d.clock().advance(1ms);
    (void)d.run_pending();
    EXPECT_EQ(order, (std::vector<int>{0, 1}));
}

TEST(Dispatcher, RejectedFullLeavesTheCallableUntouched) {
    auto c = q("default", 1, 2);
    c.admission.mode = millrace::when_full::reject;
    manual_dispatcher d(manual_config({c}));
    EXPECT_EQ(d.post([] {}), millrace::submit_status::accepted);
    EXPECT_EQ(d.post([] {}, {.delay = 1s}), millrace::submit_status::accepted);  // scheduled counts too
    auto payload = std::make_unique<int>(41);
    auto task = [p = std::move(payload)] { return *p + 1; };
    auto r = d.submit(std::move(task));
    EXPECT_EQ(r.status, millrace::submit_status::rejected_full);
    EXPECT_FALSE(r.handle.valid());
    EXPECT_EQ(task(), 42);  // still usable: run it inline
    EXPECT_EQ(d.stats().rejected, 1u);
    EXPECT_EQ(d.run_pending(), 1u);
    EXPECT_EQ(d.submit(std::move(task)).status, millrace::submit_status::accepted);
}

TEST(Dispatcher, RateLimitGivesARetryAfterHint) {
    auto c = q("default");
    c.admission.rate = 10;  // one token each 100 ms
    c.admission.burst = 1;
    manual_dispatcher d(manual_config({c}));
    EXPECT_EQ(d.post([] {}), millrace::submit_status::accepted);
    auto task = [v = std::make_unique<int>(3)] {};
    auto r = d.submit(std::move(task));
    EXPECT_EQ(r.status, millrace::submit_status::rejected_rate);
    ASSERT_TRUE(r.retry_after.has_value());
    EXPECT_GT(*r.retry_after, 99ms);
    EXPECT_LE(*r.retry_after, 100ms + 1us);
    d.clock().advance(*r.retry_after);
    EXPECT_EQ(d.submit(std::move(task)).status, millrace::submit_status::accepted);
}

TEST(Dispatcher, SubmitForTimesOutAndBlockingSubmitFromAWorkerIsRefused) {
    millrace::dispatcher d({.queues = {q("default", 1, 1)}});
    std::promise<void> go;
    auto gate = go.get_future().share();
    std::promise<millrace::submit_status> inner;
    EXPECT_EQ(d.post([&, gate] {
        inner.set_value(d.post([] {}));  // own queue is full: refused, never a deadlock
        gate.wait();
    }),
              millrace::submit_status::accepted);
    EXPECT_EQ(inner.get_future().get(), millrace::submit_status::rejected_full);
    const auto t0 = std::chrono::steady_clock::now();
    owned_task task{std::make_unique<int>(1)};
    auto r = d.submit_for(std::move(task), 30ms);
    EXPECT_EQ(r.status, millrace::submit_status::timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
    EXPECT_TRUE(task.v != nullptr);
    go.set_value();
    EXPECT_EQ(d.submit_for(std::move(task), 5s).status, millrace::submit_status::accepted);
}

TEST(Dispatcher, SubmitForWaitsForARateToken) {
    auto c = q("default");
    c.admission.rate = 100;  // a token each 10 ms
    c.admission.burst = 1;
    millrace::dispatcher d({.queues = {c}});
    EXPECT_EQ(d.post([] {}), millrace::submit_status::accepted);
    EXPECT_EQ(d.submit_for([] {}, 1ms).status, millrace::submit_status::timeout);
    EXPECT_EQ(d.submit_for([] {}, 2s).status, millrace::submit_status::accepted);
}

TEST(Dispatcher, DedupInEveryState) {
    manual_dispatcher d(manual_config({q("default")}));
    int runs = 0;
    auto first = d.submit([&] { ++runs; }, {.dedup_key = "k"});
    ASSERT_EQ(first.status, millrace::submit_status::accepted);
    auto dup = d.submit([&] { ++runs; }, {.dedup_key = "k"});  // queued
    EXPECT_EQ(dup.status, millrace::submit_status::duplicate);
    ASSERT_TRUE(dup.existing.valid());
    EXPECT_EQ(dup.existing.state(), millrace::task_state::queued);
    EXPECT_EQ(d.run_pending(), 1u);
    EXPECT_EQ(d.post([&] { ++runs; }, {.dedup_key = "k"}), millrace::submit_status::accepted);  // ended: free
    (void)d.run_pending();
    auto sched = d.submit([&] { ++runs; }, {.delay = 1s, .dedup_key = "s"});
    auto dup2 = d.submit([&] { ++runs; }, {.dedup_key = "s"});  // scheduled
    EXPECT_EQ(dup2.status, millrace::submit_status::duplicate);
    EXPECT_EQ(dup2.existing.state(), millrace::task_state::scheduled);
    EXPECT_TRUE(dup2.existing.cancel());  // through the task_ref
    EXPECT_EQ(d.post([&] { ++runs; }, {.dedup_key = "s"}),
              millrace::submit_status::accepted);  // cancelled: free
    // Running: the key is held while the task runs.
    millrace::submit_status inside{};
    (void)d.post([&] { inside = d.post([] {}, {.dedup_key = "r"}); }, {.dedup_key = "r"});
    (void)d.run_pending();
    EXPECT_EQ(inside, millrace::submit_status::duplicate);
    EXPECT_EQ(runs, 3);
}

TEST(Dispatcher, BulkIsAPrefixAndLeavesTheRestUntouched) {
    auto c = q("default", 1, 50);
    c.admission.mode = millrace::when_full::reject;
    manual_dispatcher d(manual_config({c}));
    int sum = 0;
    std::vector<millrace::task> batch;
    for (int i = 0; i < 100; ++i)
        batch.emplace_back([&sum] { ++sum; });
    EXPECT_EQ(d.submit_bulk(batch), 50u);
    EXPECT_FALSE(static_cast<bool>(batch[0]));
    EXPECT_TRUE(static_cast<bool>(batch[50]));  // refused: untouched
    EXPECT_EQ(d.run_pending(), 50u);
    EXPECT_EQ(sum, 50);
    EXPECT_EQ(d.submit_bulk(std::vector<millrace::task>{}, {.queue = "nope"}), 0u);
}

TEST(Dispatcher, CancelBeforeStartImmediateAndDelayed) {
    manual_dispatcher d(manual_config({q("default")}));
    bool ran = false;
    auto a = d.submit([&] {
        ran = true;
        return 1;
    });
    auto b = d.submit([&] { ran = true; }, {.delay = 10ms});
    EXPECT_TRUE(a.handle.cancel());
    EXPECT_TRUE(b.handle.cancel());
    EXPECT_FALSE(a.handle.cancel());  // already cancelled
    d.clock().advance(10ms);
    (void)d.run_pending();
    EXPECT_FALSE(ran);
    EXPECT_EQ(a.handle.state(), millrace::task_state::cancelled);
    EXPECT_THROW((void)a.handle.get(), millrace::task_cancelled);
    EXPECT_THROW(b.handle.get(), millrace::task_cancelled);
    EXPECT_EQ(d.stats().cancelled, 2u);
    EXPECT_EQ(d.stats().depth, 0u);
}

TEST(Dispatcher, CancelledDelayedTaskGivesItsSlotBackAtOnce) {
    auto c = q("default", 1, 2);
    c.admission.mode = millrace::when_full::reject;
    manual_dispatcher d(manual_config({c}));
    int ran = 0;
    auto a = d.submit([&] { ran += 1; }, {.delay = 1h, .dedup_key = "k"});
    auto b = d.submit([&] { ran += 10; }, {.delay = 2h});
    ASSERT_EQ(a.status, millrace::submit_status::accepted);
    ASSERT_EQ(b.status, millrace::submit_status::accepted);
    EXPECT_EQ(d.post([&] { ran += 100; }), millrace::submit_status::rejected_full);
    EXPECT_TRUE(a.handle.cancel());
    EXPECT_EQ(d.stats().depth, 1u);  // at once, an hour before it would have been due
    EXPECT_EQ(d.post([&] { ran += 1000; }), millrace::submit_status::accepted);
    EXPECT_EQ(d.post([&] { ran += 100; }), millrace::submit_status::rejected_full);
    EXPECT_EQ(d.submit([] {}, {.delay = 1h, .dedup_key = "k"}).status,
              millrace::submit_status::rejected_full);  // the key is free, the queue is full
    EXPECT_EQ(d.run_pending(), 1u);                     // the immediate task
    EXPECT_EQ(d.stats().depth, 1u);                     // b
    d.clock().advance(3h);           // a falls due cancelled: dropped without a second give-back
    EXPECT_EQ(d.run_pending(), 1u);  // b
    EXPECT_EQ(ran, 1010);
    EXPECT_EQ(d.stats().depth, 0u);
    EXPECT_EQ(d.stats().cancelled, 1u);
    EXPECT_EQ(d.post([] {}), millrace::submit_status::accepted);  // exactly two units again
    EXPECT_EQ(d.post([] {}), millrace::submit_status::accepted);
    EXPECT_EQ(d.post([] {}), millrace::submit_status::rejected_full);
    EXPECT_THROW(a.handle.get(), millrace::task_cancelled);
}

TEST(Dispatcher, CancelOfDelayedTasksRacingTheirDueTimeCountsEachSlotOnce) {
    constexpr std::size_t cap = 512;
    auto c = q("default", 2, cap);
    c.admission.mode = millrace::when_full::reject;
    millrace::dispatcher d({.queues = {c}});
    std::atomic<int> ran{0};
    std::vector<millrace::task_handle<void>> hs;
    for (std::size_t i = 0; i < cap; ++i) {
        auto r = d.submit([&] { ran.fetch_add(1); }, {.delay = std::chrono::microseconds(i % 64)});
        ASSERT_EQ(r.status, millrace::submit_status::accepted);
        hs.push_back(std::move(r.handle));
    }
    std::size_t cancelled = 0;
    for (auto& h : hs)
        cancelled += h.cancel() ? 1 : 0;
    ASSERT_TRUE(d.wait_idle(10s));
    EXPECT_EQ(static_cast<std::size_t>(ran.load()) + cancelled, cap);
    EXPECT_EQ(d.stats().depth, 0u);
    // Every unit is free exactly once: with both workers held in a task, cap - 2 more posts fit
    // and one more does not (a unit given back twice would let it in).
    std::atomic<int> held{0};
    std::atomic<bool> go{false};
    for (int w = 0; w < 2; ++w)
        ASSERT_EQ(d.post([&] {
            held.fetch_add(1);
            while (!go.load())
                std::this_thread::sleep_for(100us);
        }),
                  millrace::submit_status::accepted);
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (held.load() < 2 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(100us);
    ASSERT_EQ(held.load(), 2) << "a ready task waited while a worker slept";
    for (std::size_t i = 0; i + 2 < cap; ++i)
        ASSERT_EQ(d.post([] {}), millrace::submit_status::accepted) << i;
    EXPECT_EQ(d.post([] {}), millrace::submit_status::rejected_full);
    go.store(true);
    EXPECT_TRUE(d.wait_idle(10s));
}

TEST(Dispatcher, ASecondTaskStartsWhileTheFirstBlocksAfterASearch) {
    // Two blocking tasks posted while a worker searches (the submitter skips its wake-ups then):
    // the searcher takes one and must wake the sleeping worker for the other.
    millrace::dispatcher d({.queues = {q("default", 2, 64)}});
    for (int round = 0; round < 200; ++round) {
        std::atomic<int> held{0};
        std::atomic<bool> go{false};
        auto gate = [&] {
            held.fetch_add(1);
            while (!go.load())
                std::this_thread::sleep_for(50us);
        };
        ASSERT_EQ(d.post([] {}), millrace::submit_status::accepted);  // a worker wakes and searches
        ASSERT_EQ(d.post(gate), millrace::submit_status::accepted);
        ASSERT_EQ(d.post(gate), millrace::submit_status::accepted);
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (held.load() < 2 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(50us);
        go.store(true);
        ASSERT_EQ(held.load(), 2) << "round " << round << ": a ready task waited while a worker slept";
        ASSERT_TRUE(d.wait_idle(5s));
        std::this_thread::sleep_for(std::chrono::microseconds(50 * (round % 8)));  // vary the phase
    }
}

TEST(Dispatcher, HandleOfACancelledDelayedTaskOutlivesTheDispatcher) {
    millrace::task_handle<int> h;
    {
        millrace::dispatcher d({.queues = {q("default")}});
        h = d.submit([] { return 1; }, {.delay = 1h}).handle;
        EXPECT_TRUE(h.cancel());
        EXPECT_EQ(d.stats().depth, 0u);
    }
    EXPECT_FALSE(h.cancel());
    EXPECT_THROW((void)h.get(), millrace::task_cancelled);
}

struct sharded_policies : millrace::default_policies {
    template <class Item, class Clock>
    using scheduler = millrace::sharded_delay_scheduler<Item, Clock>;
};

TEST(Dispatcher, ShardedDelaySchedulerRunsCancelsAndHandsBackAtShutdown) {
    std::atomic<int> ran{0};
    millrace::task_handle<int> later, cancelled, pending;
    {
        millrace::basic_dispatcher<sharded_policies> d({.queues = {q("default", 2, 64)}});
        const auto t0 = std::chrono::steady_clock::now();
        later = d.submit([&] { return ran.fetch_add(1) + 100; }, {.delay = 5ms}).handle;
        cancelled = d.submit([] { return 0; }, {.delay = 5ms}).handle;
        pending = d.submit([] { return 1; }, {.delay = 1h}).handle;
        EXPECT_TRUE(cancelled.cancel());
        EXPECT_EQ(d.stats().depth, 2u);
        EXPECT_EQ(later.get(), 100);
        EXPECT_GE(std::chrono::steady_clock::now() - t0, 5ms);  // never early
        const auto r = d.shutdown(millrace::shutdown_mode::drain, 10s, millrace::delayed_on_drain::cancel);
        EXPECT_EQ(r.cancelled, 1u);  // the hour-long one, handed back by the wheels
        EXPECT_EQ(d.stats().depth, 0u);
    }
    EXPECT_EQ(ran.load(), 1);
    EXPECT_THROW((void)cancelled.get(), millrace::task_cancelled);
    EXPECT_THROW((void)pending.get(), millrace::task_cancelled);
}

TEST(Dispatcher, CancelWhileRunningRequestsStop) {
    millrace::dispatcher d({.queues = {q("default")}});
    std::promise<void> started;
    auto h = d.submit([&](millrace::task_context& c) {
                  started.set_value();
                  while (!c.stop_token().stop_requested())
                      std::this_thread::sleep_for(100us);
                  return 9;
              }).handle;
    started.get_future().wait();
    EXPECT_FALSE(h.cancel());  // running: stop requested, not cancelled
    EXPECT_EQ(h.get(), 9);
    // The next task starts with a fresh stop token.
    auto next = d.submit([](millrace::task_context& c) { return c.stop_token().stop_requested(); });
    EXPECT_FALSE(next.handle.get());
}

TEST(Dispatcher, HandleOutlivesTheDispatcher) {
    millrace::task_handle<int> later, done;
    {
        manual_dispatcher d(manual_config({q("default")}));
        later = d.submit([] { return 1; }, {.delay = 1h}).handle;
        done = d.submit([] { return 2; }).handle;
        (void)d.run_pending();
        const auto r = d.shutdown(millrace::shutdown_mode::cancel);
        EXPECT_EQ(r.cancelled, 1u);
    }
    EXPECT_EQ(later.state(), millrace::task_state::cancelled);
    EXPECT_THROW((void)later.get(), millrace::task_cancelled);
    EXPECT_EQ(done.get(), 2);
}

TEST(Dispatcher, ClosedAfterShutdownWithTheCallableUntouched) {
    millrace::dispatcher d({.queues = {q("default")}});
    (void)d.shutdown();
    auto task = [v = std::make_unique<int>(5)] { return *v; };
    auto r = d.submit(std::move(task));
    EXPECT_EQ(r.status, millrace::submit_status::closed);
    EXPECT_EQ(task(), 5);
    EXPECT_EQ(d.post([] {}), millrace::submit_status::closed);
}

TEST(Dispatcher, ShutdownDrainAndCancelWithTasksInEveryState) {
    for (auto mode : {millrace::shutdown_mode::drain, millrace::shutdown_mode::cancel}) {
        millrace::dispatcher d({.queues = {q("default", 1)}});
        std::promise<void> started;
        std::atomic<int> ran{0};
        auto running = d.submit([&](millrace::task_context& c) {
            started.set_value();
            while (!c.stop_token().stop_requested() && ran.load() == 0)
                std::this_thread::sleep_for(200us);
            return 1;
        });
        started.get_future().wait();
        auto queued = d.submit([&] { ran.fetch_add(1); });
        auto keyed = d.submit([&] { ran.fetch_add(1); }, {.partition_key = 1});
        auto delayed = d.submit([&] { ran.fetch_add(1); }, {.delay = 1h});
        if (mode == millrace::shutdown_mode::drain) {
            std::thread release([&] {  // the running task ends once the drain is under way
                std::this_thread::sleep_for(20ms);
                ran.fetch_add(100);
            });
            const auto r = d.shutdown(mode, 5s, millrace::delayed_on_drain::run_now);
            release.join();
            EXPECT_EQ(r.run, 4u);
            EXPECT_EQ(r.cancelled, 0u);
            EXPECT_EQ(ran.load(), 103);
            EXPECT_EQ(delayed.handle.state(), millrace::task_state::succeeded);
        } else {
            const auto r = d.shutdown(mode, 5s);
            EXPECT_EQ(r.run, 1u);  // the running task saw its stop token
            EXPECT_EQ(r.cancelled, 3u);
            EXPECT_EQ(r.still_running, 0u);
            EXPECT_EQ(ran.load(), 0);
            EXPECT_EQ(queued.handle.state(), millrace::task_state::cancelled);
            EXPECT_EQ(keyed.handle.state(), millrace::task_state::cancelled);
            EXPECT_EQ(delayed.handle.state(), millrace::task_state::cancelled);
        }
        EXPECT_EQ(running.handle.get(), 1);
    }
}

TEST(Dispatcher, ShutdownFromInsideATaskIsARequest) {
    millrace::dispatcher d({.queues = {q("default")}});
    std::promise<millrace::shutdown_report> inner;
    (void)d.post([&] { inner.set_value(d.shutdown()); });
    const auto r = inner.get_future().get();
    EXPECT_TRUE(r.requested_only);
    EXPECT_EQ(d.post([] {}), millrace::submit_status::closed);
    EXPECT_FALSE(d.shutdown().requested_only);
}

namespace {
millrace::dispatcher* signal_target = nullptr;
extern "C" void on_sigterm(int) {
    signal_target->request_stop();
}
}  // namespace

TEST(Dispatcher, RequestStopFromASignalHandler) {
    millrace::dispatcher d({.queues = {q("default")}});
    std::atomic<int> ran{0};
    for (int i = 0; i < 10; ++i)
        (void)d.post([&] { ran.fetch_add(1); });
    signal_target = &d;
    auto old = std::signal(SIGTERM, on_sigterm);
    ASSERT_EQ(std::raise(SIGTERM), 0);
    std::signal(SIGTERM, old);
    EXPECT_TRUE(d.stop_requested());
    EXPECT_EQ(d.post([] {}), millrace::submit_status::closed);
    (void)d.shutdown();
    EXPECT_EQ(ran.load(), 10);  // admitted work still ran
}

TEST(Dispatcher, PauseResumeAndWaitIdle) {
    manual_dispatcher d(manual_config({q("a"), q("b")}));
    int n = 0;
    d.pause("a");
    (void)d.post([&] { ++n; }, {.queue = "a"});
    (void)d.post([&] { ++n; }, {.queue = "b"});
    EXPECT_EQ(d.run_pending(), 1u);
    EXPECT_FALSE(d.wait_idle(1s));
    d.resume("a");
    EXPECT_TRUE(d.wait_idle(1s));
    EXPECT_EQ(n, 2);
    EXPECT_THROW(d.pause("zz"), std::invalid_argument);
    EXPECT_THROW((void)millrace::dispatcher({.queues = {q("x")}}).run_pending(), std::logic_error);
}

TEST(Dispatcher, ThreadNamesAndCallbacks) {
    std::atomic<int> started{0}, stopped{0};
    std::string name;
    {
        millrace::dispatcher_config c{.queues = {q("mailer", 2)}};
        c.on_thread_start = [&](std::string_view qn, std::size_t) { started.fetch_add(qn == "mailer"); };
        c.on_thread_stop = [&](std::string_view, std::size_t) { stopped.fetch_add(1); };
        millrace::dispatcher d(std::move(c));
        d.submit([&] {
             char buf[32] = {};
             pthread_getname_np(pthread_self(), buf, sizeof buf);
             name = buf;
         }).handle.get();
    }
    EXPECT_EQ(started.load(), 2);
    EXPECT_EQ(stopped.load(), 2);
    EXPECT_EQ(name.rfind("mailer/", 0), 0u) << name;
}

TEST(Dispatcher, DestructorDetachesATaskThatIgnoresStop) {
    std::atomic<bool> finished{false};
    std::promise<void> started;
    const auto t0 = std::chrono::steady_clock::now();
    {
        millrace::dispatcher_config c{.queues = {q("default")}};
        c.destructor_timeout = 20ms;
        c.stop_grace = 20ms;
        millrace::dispatcher d(std::move(c));
        (void)d.post([&, big = std::vector<int>(1000, 1)] {
            started.set_value();
            std::this_thread::sleep_for(300ms);  // ignores its stop token
            finished.store(big.size() == 1000);
        });
        started.get_future().wait();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 250ms);  // detached, not joined
    while (!finished.load())
        std::this_thread::sleep_for(5ms);
    std::this_thread::sleep_for(20ms);  // the detached thread lets go of the core
}

TEST(Dispatcher, IdleQueuesUseAlmostNoCpu) {
    millrace::dispatcher d({.queues = {q("a", 2), q("b", 2), q("c"), q("d")}});
    d.submit([] {}).handle.get();
    std::this_thread::sleep_for(50ms);  // every worker has parked
    timespec a{}, b{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    std::this_thread::sleep_for(1s);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    const double ms =
        static_cast<double>(b.tv_sec - a.tv_sec) * 1e3 + static_cast<double>(b.tv_nsec - a.tv_nsec) / 1e6;
    EXPECT_LT(ms, 5.0);
}

TEST(Dispatcher, PostAllocatesNothingPerTask) {
    manual_dispatcher d(manual_config({q("default", 1, 4096)}));
    int n = 0;
    for (int i = 0; i < 100; ++i)
        (void)d.post([&n] { ++n; });  // warm-up
    (void)d.run_pending();
    millrace::test::allocation_scope scope;
    for (int i = 0; i < 1000; ++i)
        (void)d.post([&n, a = 1, b = 2, c = 3] { n += a + b + c - 5; });
    (void)d.run_pending();
    EXPECT_EQ(scope.allocations(), 0u);
    EXPECT_EQ(n, 1100);
    // Handles come from the recycled slab: a steady stream allocates nothing either.
    for (int i = 0; i < 100; ++i)
        (void)d.submit([] { return 1; });
    (void)d.run_pending();
    millrace::test::allocation_scope scope2;
    for (int i = 0; i < 50; ++i) {
        auto h = d.submit([] { return 1; }).handle;
        (void)d.run_pending();
        EXPECT_EQ(h.get(), 1);
    }
    EXPECT_EQ(scope2.allocations(), 0u);
}
