// dispatch/ benchmarks: the dispatcher against the thread pools a user would otherwise pick,
// all with 2 workers running empty tasks (each task bumps one shared relaxed counter so the
// submitter knows when the batch is done; every implementation pays the same).
//   dispatch/throughput/<impl>/submitters:<n>   tasks per second (items_per_second), manual time
//     with cpu_ns_per_task (process CPU, all threads) and wakes_per_task (futex wakes);
//     impls: millrace_post, millrace_post_no_metrics, millrace_submit, millrace_submit_no_metrics,
//            millrace_keyed (1000 keys), millrace_bulk100, mutex_cv_pool (a deque of
//            std::function under a std::mutex, notify_one per push), asio_pool
//            (boost::asio::thread_pool), tbb_arena (oneTBB task_arena::enqueue)
//   dispatch/latency/{futex_floor,millrace}      wake-up latency with every worker parked:
//     p50_ns / p99_ns counters; the floor is a bare futex wait -> wake (no spinning);
//     samples interleaved, each taken after the sleeper's CPU clock stood still for 100 us
//     (parked_fraction), worker_cpu_ns_per_sample shows any spinning
//   dispatch/delayed_lateness/{heap,sharded}      20 000 delayed tasks over 200 ms under a stream
//                                                 of posts: lateness (start - due) p50 / p99
//   dispatch/footprint                            bytes per queued task and per delayed task
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include <pthread.h>
#include <time.h>

#include <benchmark/benchmark.h>

#include "millrace/dispatch/dispatcher.hpp"
#include "millrace/dispatch/sharded_delay_scheduler.hpp"

#ifdef MILLRACE_HAVE_BOOST
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#endif
#ifdef MILLRACE_HAVE_TBB
#include <tbb/task_arena.h>
#endif

namespace {

using clk = std::chrono::steady_clock;
constexpr std::uint64_t batch = 200'000;  // tasks per timed iteration (<= the dispatcher's capacity)

struct no_metrics_policies : millrace::default_policies {
    using metrics = millrace::no_metrics;
};
struct sharded_policies : millrace::default_policies {  // timing wheels, 1 ms tick
    template <class Item, class Clock>
    using scheduler = millrace::sharded_delay_scheduler<Item, Clock>;
};

millrace::dispatcher_config two_workers() {
    millrace::queue_config q;
    q.name = "default";
    q.workers = 2;
    q.capacity = 1 << 18;  // >= batch: like the unbounded peers, the submitter never waits for room
    return millrace::dispatcher_config{.queues = {q}};
}

void wait_done(const std::atomic<std::uint64_t>& done, std::uint64_t target) {
    while (done.load(std::memory_order_acquire) < target)
        std::this_thread::yield();
}

// CPU time of the whole process so far (submitters, workers, waiting), in nanoseconds.
std::int64_t process_cpu_ns() {
    timespec ts{};
    (void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Items processed, and what a load average cannot distort much: process CPU per task (every
// thread, the finishing wait included: the same loop for every implementation) and the
// event_count futex wakes per task (millrace's only; zero for the peers).
void per_task_counters(benchmark::State& state, std::int64_t cpu0, std::uint64_t wakes0) {
    const auto tasks = static_cast<double>(state.iterations() * batch);
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
    state.counters["cpu_ns_per_task"] = static_cast<double>(process_cpu_ns() - cpu0) / tasks;
    state.counters["wakes_per_task"] =
        static_cast<double>(millrace::detail::event_count_wake_calls().load(std::memory_order_relaxed) -
                            wakes0) /
        tasks;
}

// Runs `submit(i, done)` for batch tasks split across `submitters` threads, and times it.
template <class Submit>
void run_batch(benchmark::State& state, std::atomic<std::uint64_t>& done, Submit&& submit) {
    const auto submitters = static_cast<std::uint64_t>(state.range(0));
    std::uint64_t expected = done.load();
    const std::int64_t cpu0 = process_cpu_ns();
    const std::uint64_t wakes0 = millrace::detail::event_count_wake_calls().load(std::memory_order_relaxed);
    for (auto _ : state) {
        const auto t0 = clk::now();
        expected += batch;
        std::vector<std::thread> ts;
        for (std::uint64_t s = 1; s < submitters; ++s)
            ts.emplace_back([&, s] {
                for (std::uint64_t i = s; i < batch; i += submitters)
                    submit(i);
            });
        for (std::uint64_t i = 0; i < batch; i += submitters)
            submit(i);
        for (auto& t : ts)
            t.join();
        wait_done(done, expected);
        state.SetIterationTime(std::chrono::duration<double>(clk::now() - t0).count());
    }
    per_task_counters(state, cpu0, wakes0);
}

template <class P>
void millrace_post(benchmark::State& state) {
    millrace::basic_dispatcher<P> d(two_workers());
    std::atomic<std::uint64_t> done{0};
    run_batch(state, done, [&](std::uint64_t) {
        (void)d.post([&done] { done.fetch_add(1, std::memory_order_relaxed); });
    });
}

template <class P>
void millrace_submit(benchmark::State& state) {
    millrace::basic_dispatcher<P> d(two_workers());
    std::atomic<std::uint64_t> done{0};
    run_batch(state, done, [&](std::uint64_t) {
        auto r = d.submit([&done] { done.fetch_add(1, std::memory_order_relaxed); });
        benchmark::DoNotOptimize(r.handle);
    });
}

void millrace_keyed(benchmark::State& state) {
    millrace::dispatcher d(two_workers());
    std::atomic<std::uint64_t> done{0};
    run_batch(state, done, [&](std::uint64_t i) {
        (void)d.post([&done] { done.fetch_add(1, std::memory_order_relaxed); },
                     {.partition_key = millrace::partition_key(i % 1000)});
    });
}

void millrace_bulk100(benchmark::State& state) {
    millrace::dispatcher d(two_workers());
    std::atomic<std::uint64_t> done{0};
    struct empty_task {
        std::atomic<std::uint64_t>* done;
        void operator()() const { done->fetch_add(1, std::memory_order_relaxed); }
    };
    const auto submitters = static_cast<std::uint64_t>(state.range(0));
    std::uint64_t expected = 0;
    const std::int64_t cpu0 = process_cpu_ns();
    const std::uint64_t wakes0 = millrace::detail::event_count_wake_calls().load(std::memory_order_relaxed);
    for (auto _ : state) {
        const auto t0 = clk::now();
        expected += batch;
        auto body = [&](std::uint64_t s) {
            std::vector<empty_task> v(100, empty_task{&done});
            for (std::uint64_t i = s * 100; i < batch; i += 100 * submitters) {
                for (std::size_t off = 0; off < v.size();)  // a full queue takes a prefix
                    off += d.submit_bulk(std::span<empty_task>(v).subspan(off));
            }
        };
        std::vector<std::thread> ts;
        for (std::uint64_t s = 1; s < submitters; ++s)
            ts.emplace_back(body, s);
        body(0);
        for (auto& t : ts)
            t.join();
        wait_done(done, expected);
        state.SetIterationTime(std::chrono::duration<double>(clk::now() - t0).count());
    }
    per_task_counters(state, cpu0, wakes0);
}

// The baseline a user writes first: a deque of std::function under a mutex, notify_one per push.
class mutex_cv_pool {
public:
    explicit mutex_cv_pool(int n) {
        for (int i = 0; i < n; ++i)
            threads_.emplace_back([this] {
                for (;;) {
                    std::function<void()> f;
                    {
                        std::unique_lock lock(m_);
                        cv_.wait(lock, [this] { return stop_ || !q_.empty(); });
                        if (q_.empty()) return;
                        f = std::move(q_.front());
                        q_.pop_front();
                    }
                    f();
                }
            });
    }
    ~mutex_cv_pool() {
        {
            std::lock_guard lock(m_);
            stop_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_)
            t.join();
    }
    void post(std::function<void()> f) {
        {
            std::lock_guard lock(m_);
            q_.push_back(std::move(f));
        }
        cv_.notify_one();
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> q_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

void mutex_cv(benchmark::State& state) {
    mutex_cv_pool p(2);
    std::atomic<std::uint64_t> done{0};
    run_batch(state, done,
              [&](std::uint64_t) { p.post([&done] { done.fetch_add(1, std::memory_order_relaxed); }); });
}

#ifdef MILLRACE_HAVE_BOOST
void asio_pool(benchmark::State& state) {
    boost::asio::thread_pool p(2);
    std::atomic<std::uint64_t> done{0};
    run_batch(state, done, [&](std::uint64_t) {
        boost::asio::post(p, [&done] { done.fetch_add(1, std::memory_order_relaxed); });
    });
    p.join();
}
#endif

#ifdef MILLRACE_HAVE_TBB
void tbb_arena(benchmark::State& state) {
    tbb::task_arena arena(2, 0);  // two workers, none reserved for the submitter
    std::atomic<std::uint64_t> done{0};
    run_batch(state, done, [&](std::uint64_t) {
        arena.enqueue([&done] { done.fetch_add(1, std::memory_order_relaxed); });
    });
}
#endif

// ---- latency ------------------------------------------------------------------------------

double percentile(std::vector<double>& v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// CPU time consumed so far by the thread whose CPU clock is `id`, in nanoseconds.
std::int64_t thread_cpu_ns(clockid_t id) {
    timespec ts{};
    (void)clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Waits until the thread with CPU clock `id` uses no CPU over 100 us (it has parked); false
// when it still ran after 20 tries.
bool wait_parked(clockid_t id) {
    for (int i = 0; i < 20; ++i) {
        const std::int64_t a = thread_cpu_ns(id);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        if (thread_cpu_ns(id) == a) return true;
    }
    return false;
}

// Interleaved samples: a bare futex wake (std::atomic::wait/notify_one, no spinning) and a
// millrace post to a parked worker. Each sample waits until its sleeper's CPU clock stands still
// (parks counted); the worker's CPU time from its park to the task's start is reported per
// sample (a spinning worker would show as CPU time).
void latency(benchmark::State& state) {
    const int samples = 2000;
    millrace::queue_config q;
    q.name = "lat";
    q.workers = 1;
    std::atomic<clockid_t> worker_clock{};
    std::atomic<bool> worker_known{false};
    millrace::dispatcher_config cfg{.queues = {q}};
    cfg.on_thread_start = [&](std::string_view, std::size_t) {
        clockid_t id{};
        (void)pthread_getcpuclockid(pthread_self(), &id);
        worker_clock.store(id);
        worker_known.store(true);
    };
    millrace::dispatcher d(std::move(cfg));
    while (!worker_known.load())
        std::this_thread::yield();
    std::atomic<std::uint32_t> word{0};
    std::atomic<std::int64_t> woke_at{0};
    std::atomic<bool> stop{false};
    std::atomic<clockid_t> sleeper_clock{};
    std::atomic<bool> sleeper_known{false};
    std::thread sleeper([&] {
        clockid_t id{};
        (void)pthread_getcpuclockid(pthread_self(), &id);
        sleeper_clock.store(id);
        sleeper_known.store(true);
        std::uint32_t seen = 0;
        while (!stop.load()) {
            word.wait(seen);
            seen = word.load();
            woke_at.store(clk::now().time_since_epoch().count(), std::memory_order_release);
        }
    });
    while (!sleeper_known.load())
        std::this_thread::yield();
    std::vector<double> floor_ns, mill_ns;
    double parked = 0, taken = 0, worker_cpu = 0;
    for (auto _ : state) {
        floor_ns.clear();
        mill_ns.clear();
        for (int i = 0; i < samples; ++i) {
            parked += wait_parked(sleeper_clock.load()) ? 1 : 0;
            woke_at.store(0);
            const auto t0 = clk::now().time_since_epoch().count();
            word.fetch_add(1);
            word.notify_one();
            while (woke_at.load(std::memory_order_acquire) == 0) {
            }
            floor_ns.push_back(static_cast<double>(woke_at.load() - t0));
            parked += wait_parked(worker_clock.load()) ? 1 : 0;
            const std::int64_t cpu0 = thread_cpu_ns(worker_clock.load());
            std::atomic<std::int64_t> started{0};
            const auto t1 = clk::now().time_since_epoch().count();
            (void)d.post([&started] {
                started.store(clk::now().time_since_epoch().count(), std::memory_order_release);
            });
            while (started.load(std::memory_order_acquire) == 0) {
            }
            mill_ns.push_back(static_cast<double>(started.load() - t1));
            (void)wait_parked(worker_clock.load());
            worker_cpu += static_cast<double>(thread_cpu_ns(worker_clock.load()) - cpu0);
            taken += 2;
        }
    }
    stop.store(true);
    word.fetch_add(1);
    word.notify_one();
    sleeper.join();
    state.counters["floor_p50_ns"] = percentile(floor_ns, 0.5);
    state.counters["floor_p99_ns"] = percentile(floor_ns, 0.99);
    state.counters["millrace_p50_ns"] = percentile(mill_ns, 0.5);
    state.counters["millrace_p99_ns"] = percentile(mill_ns, 0.99);
    state.counters["p99_ratio"] = percentile(mill_ns, 0.99) / percentile(floor_ns, 0.99);
    state.counters["p50_excess_ns"] = percentile(mill_ns, 0.5) - percentile(floor_ns, 0.5);
    state.counters["parked_fraction"] = taken > 0 ? parked / taken : 0.0;  // samples taken parked
    // The worker's CPU time from park to park around one sample: the task, its wake-up and any
    // spinning before it sleeps again.
    state.counters["worker_cpu_ns_per_sample"] = worker_cpu / (taken / 2);
}

// Delayed tasks: 20 000 spread over 200 ms (due times uniform on a grid starting 100 ms out)
// while the submitter posts ~100k tasks/s; lateness = start - due on the steady clock, p50 /
// p99; with the heap scheduler (the default) and the sharded one (1 ms tick).
template <class P>
void delayed_lateness(benchmark::State& state) {
    const int n = 20'000;
    millrace::basic_dispatcher<P> d(two_workers());
    std::vector<std::int64_t> late(static_cast<std::size_t>(n), -1);
    std::atomic<int> done{0};
    for (auto _ : state) {
        done.store(0);
        // The grid starts 100 ms out, so submitting it (tens of ms on a loaded machine) is
        // not counted as lateness; each delay is measured from its own submission.
        const auto t0 = clk::now() + std::chrono::milliseconds(100);
        for (int i = 0; i < n; ++i) {
            const auto due = t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(i) * 10'000);  // 200 ms
            const auto delay = std::chrono::duration_cast<std::chrono::nanoseconds>(due - clk::now());
            (void)d.post(
                [&late, &done, i, due] {
                    late[static_cast<std::size_t>(i)] = (clk::now() - due).count();
                    done.fetch_add(1, std::memory_order_release);
                },
                {.delay = delay});
        }
        std::atomic<std::uint64_t> posted{0};
        while (done.load(std::memory_order_acquire) < n) {  // background load: ~100k posts/s
            for (int k = 0; k < 100; ++k)
                (void)d.post([&posted] { posted.fetch_add(1, std::memory_order_relaxed); });
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    std::vector<double> v(late.begin(), late.end());
    state.counters["lateness_p50_ns"] = percentile(v, 0.5);
    state.counters["lateness_p99_ns"] = percentile(v, 0.99);
}

void footprint(benchmark::State& state) {
    for (auto _ : state)
        benchmark::DoNotOptimize(state.iterations());
    using core = millrace::detail::dispatch_core<millrace::default_policies>;
    state.counters["bytes_per_queued_task"] = static_cast<double>(sizeof(millrace::detail::job));
    state.counters["bytes_per_delayed_task"] = static_cast<double>(core::scheduler_type::bytes_per_item);
    state.counters["bytes_per_handle_state"] =
        static_cast<double>(sizeof(millrace::detail::handle_state<int>));
}

void throughput_args(benchmark::internal::Benchmark* b) {
    b->ArgName("submitters")->Arg(1)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(0.2);
}

}  // namespace

BENCHMARK(millrace_post<millrace::default_policies>)
    ->Name("dispatch/throughput/millrace_post")
    ->Apply(throughput_args);
BENCHMARK(millrace_post<no_metrics_policies>)
    ->Name("dispatch/throughput/millrace_post_no_metrics")
    ->Apply(throughput_args);
BENCHMARK(millrace_submit<millrace::default_policies>)
    ->Name("dispatch/throughput/millrace_submit")
    ->Apply(throughput_args);
BENCHMARK(millrace_submit<no_metrics_policies>)
    ->Name("dispatch/throughput/millrace_submit_no_metrics")
    ->Apply(throughput_args);
BENCHMARK(millrace_keyed)->Name("dispatch/throughput/millrace_keyed")->Apply(throughput_args);
BENCHMARK(millrace_bulk100)->Name("dispatch/throughput/millrace_bulk100")->Apply(throughput_args);
BENCHMARK(mutex_cv)->Name("dispatch/throughput/mutex_cv_pool")->Apply(throughput_args);
#ifdef MILLRACE_HAVE_BOOST
BENCHMARK(asio_pool)->Name("dispatch/throughput/asio_pool")->Apply(throughput_args);
#endif
#ifdef MILLRACE_HAVE_TBB
BENCHMARK(tbb_arena)->Name("dispatch/throughput/tbb_arena")->Apply(throughput_args);
#endif
BENCHMARK(latency)->Name("dispatch/latency")->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(delayed_lateness<millrace::default_policies>)
    ->Name("dispatch/delayed_lateness/heap")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(delayed_lateness<sharded_policies>)
    ->Name("dispatch/delayed_lateness/sharded")
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(footprint)->Name("dispatch/footprint")->Iterations(1);
BENCHMARK_MAIN();
