// sharded_scheduler against the timer a user would otherwise write: one std::mutex +
// std::priority_queue + std::condition_variable timer thread (cancel = a set of cancelled ids
// the timer thread skips). Both take the same 16-byte task and the same steady clock. The
// baseline comes in two versions: `std_mutex` notifies the timer thread only when a task
// becomes the earliest (the targets use it); `std_mutex_notify_each` is the textbook version
// that notifies on every push.
//
//  sched/schedule_{1p,2p}/*   schedule calls/s from 1 and 2 producer threads, tasks due an
//                             hour ahead. Sustained: the clock stops when every task sits in
//                             a wheel (millrace) or in the heap (baseline).
//  sched/schedule_cancel/*    schedule+cancel pairs/s from one producer (sustained likewise:
//                             every cancelled entry recycled).
//  sched/lateness/*           100k timers due over 1 s, with 1M far timers pending, while two
//                             producers schedule far timers at 1M calls/s together: firing
//                             lateness p50/p99 (counters p50_ms, p99_ms).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>
#include <queue>
#include <random>
#include <thread>
#include <unordered_set>
#include <vector>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <benchmark/benchmark.h>

#include "millrace/sched/sharded_scheduler.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

struct bench_task {
    std::uint64_t id;
    steady::time_point due;
};

constexpr std::uint64_t unmeasured = ~std::uint64_t{0};

// A due time spread over the hour after `far` (random, as real timers are: monotonic keys
// would be the best case of a binary heap).
inline steady::time_point spread(steady::time_point far, std::uint64_t i) noexcept {
    std::uint64_t z = i + 0x9E3779B97F4A7C15ull;  // splitmix64
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return far + std::chrono::nanoseconds(z % 3'600'000'000'000ull);
}

// ---- the baseline ---------------------------------------------------------------------
// NotifyEach = false: the careful version, which wakes the timer thread only when a task
// becomes the earliest. NotifyEach = true: the textbook version, which notifies on every push
// (the timer thread then wakes and re-takes the lock once per schedule call).
template <bool NotifyEach>
class mutex_timer {
public:
    template <class Sink>
    explicit mutex_timer(Sink sink, std::size_t reserve = 0) : sink_(std::move(sink)) {
        std::vector<item> v;
        v.reserve(reserve);
        heap_ = heap_type(std::greater<>{}, std::move(v));
        thread_ = std::thread([this] { run(); });
    }
    ~mutex_timer() {
        {
            std::lock_guard lk(m_);
            stop_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    std::uint64_t schedule_at(steady::time_point tp, bench_task t) {
        std::lock_guard lk(m_);
        const std::uint64_t id = ++next_id_;
        const bool earliest = heap_.empty() || tp < heap_.top().due;
        heap_.push(item{tp, id, t});
        if (NotifyEach || earliest) cv_.notify_one();
        return id;
    }
    bool cancel(std::uint64_t id) {
        std::lock_guard lk(m_);
        return cancelled_.insert(id).second;
    }
    std::size_t size() {
        std::lock_guard lk(m_);
        return heap_.size();
    }

private:
    struct item {
        steady::time_point due;
        std::uint64_t id;
        bench_task task;
        bool operator>(const item& o) const noexcept { return due != o.due ? due > o.due : id > o.id; }
    };
    using heap_type = std::priority_queue<item, std::vector<item>, std::greater<>>;

    void run() {
#if defined(__linux__) && defined(PR_SET_TIMERSLACK)
        (void)::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);  // the same slack as the shards
#endif
        std::unique_lock lk(m_);
        while (!stop_) {
            if (heap_.empty()) {
                cv_.wait(lk);
                continue;
            }
            const auto due = heap_.top().due;
            if (due > steady::now()) {
                cv_.wait_until(lk, due);
                continue;
            }
            item it = heap_.top();
            heap_.pop();
            if (!cancelled_.empty() && cancelled_.erase(it.id) != 0) continue;
            lk.unlock();
            sink_(std::move(it.task));
            lk.lock();
        }
    }

    std::function<void(bench_task&&)> sink_;
    std::mutex m_;
    std::condition_variable cv_;
    heap_type heap_;
    std::unordered_set<std::uint64_t> cancelled_;
    std::uint64_t next_id_ = 0;
    bool stop_ = false;
    std::thread thread_;
};

// ---- the two implementations behind one interface -----------------------------------------
struct millrace_impl {
    using handle = millrace::schedule_handle;
    template <class Sink>
    millrace_impl(Sink sink, std::size_t expected) : s(std::move(sink), opts(expected)) {}
    static millrace::scheduler_options<> opts(std::size_t expected) {
        millrace::scheduler_options<> o;
        o.shards = 2;
        o.initial_capacity = std::max<std::size_t>(1024, expected);  // one producer fills one shard
        return o;
    }
    handle schedule_at(steady::time_point tp, bench_task t) { return s.schedule_at(tp, t); }
    bool cancel(handle h) { return s.cancel(h); }
    // Every scheduled task has reached a wheel (or, cancelled, been recycled).
    void wait_settled(std::uint64_t moved, std::uint64_t reclaimed) {
        for (;;) {
            const auto st = s.stats();
            if (st.moved >= moved && st.reclaimed >= reclaimed) return;
            std::this_thread::yield();
        }
    }
    millrace::sharded_scheduler<bench_task> s;
};

template <bool NotifyEach>
struct mutex_impl_t {
    using handle = std::uint64_t;
    template <class Sink>
    mutex_impl_t(Sink sink, std::size_t expected) : t(std::move(sink), expected) {}
    handle schedule_at(steady::time_point tp, bench_task task) { return t.schedule_at(tp, task); }
    bool cancel(handle h) { return t.cancel(h); }
    void wait_settled(std::uint64_t, std::uint64_t) {}  // the heap holds each task on return
    mutex_timer<NotifyEach> t;
};
using mutex_impl = mutex_impl_t<false>;
using mutex_notify_each_impl = mutex_impl_t<true>;

// Process CPU time (every thread: producers, shard threads or the baseline's timer thread),
// so that CPU per call can be compared on a machine whose wall clock is shared with others.
inline double process_cpu_seconds() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ---- schedule calls/s -------------------------------------------------------------------
template <class Impl, int producers>
void schedule_throughput(benchmark::State& state) {
    const std::size_t per = 1'000'000 / static_cast<std::size_t>(producers);
    double calls = 0, seconds = 0, cpu = 0;
    for (auto _ : state) {
        Impl impl([](bench_task&&) {}, per * static_cast<std::size_t>(producers) + 1024);
        const auto far = steady::now() + 1h;
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        std::vector<std::thread> threads;
        for (int p = 0; p < producers; ++p)
            threads.emplace_back([&] {
                ready.fetch_add(1);
                while (!go.load(std::memory_order_acquire)) {
                }
                for (std::size_t i = 0; i < per; ++i)
                    benchmark::DoNotOptimize(impl.schedule_at(spread(far, i), bench_task{i, far}));
                // One task due now: it wakes a shard that sleeps until the far expiry, so the
                // last batch reaches the wheel (it counts as a call).
                benchmark::DoNotOptimize(impl.schedule_at(steady::now(), bench_task{unmeasured, far}));
            });
        while (ready.load() < producers) {
        }
        const double c0 = process_cpu_seconds();
        const auto t0 = steady::now();
        go.store(true, std::memory_order_release);
        for (auto& t : threads)
            t.join();
        impl.wait_settled((per + 1) * static_cast<std::size_t>(producers), 0);
        const double dt = std::chrono::duration<double>(steady::now() - t0).count();
        cpu += process_cpu_seconds() - c0;
        calls += static_cast<double>((per + 1) * static_cast<std::size_t>(producers));
        seconds += dt;
    }
    state.counters["items_per_second"] = benchmark::Counter(calls / seconds);
    // CPU of the whole process (producers, shards or timer thread, and this thread's wait for
    // the settle) per call: the noise-resistant figure on a shared machine.
    state.counters["cpu_ns_per_call"] = benchmark::Counter(cpu / calls * 1e9);
}

// ---- schedule+cancel pairs/s ------------------------------------------------------------
template <class Impl>
void schedule_cancel(benchmark::State& state) {
    constexpr std::size_t pairs = 500'000;
    double done = 0, seconds = 0, cpu = 0;
    for (auto _ : state) {
        Impl impl([](bench_task&&) {}, 4096);
        const auto far = steady::now() + 1h;
        const double c0 = process_cpu_seconds();
        const auto t0 = steady::now();
        std::thread producer([&] {
            for (std::size_t i = 0; i < pairs; ++i) {
                auto h = impl.schedule_at(spread(far, i), bench_task{i, far});
                benchmark::DoNotOptimize(impl.cancel(h));
            }
            benchmark::DoNotOptimize(impl.schedule_at(steady::now(), bench_task{unmeasured, far}));
        });
        producer.join();
        impl.wait_settled(1, pairs);
        const double dt = std::chrono::duration<double>(steady::now() - t0).count();
        cpu += process_cpu_seconds() - c0;
        done += pairs;
        seconds += dt;
    }
    state.counters["items_per_second"] = benchmark::Counter(done / seconds);
    state.counters["cpu_ns_per_pair"] = benchmark::Counter(cpu / done * 1e9);
}

// ---- firing lateness under load ----------------------------------------------------------
template <class Impl>
void lateness(benchmark::State& state) {
    constexpr std::size_t measured = 100'000;
    constexpr std::size_t pending_far = 1'000'000;
    constexpr double load_rate = 1'000'000.0;  // calls/s, two producers together
    std::vector<double> p50s, p99s;
    for (auto _ : state) {
        std::vector<std::int64_t> late_ns(measured, -1);
        std::atomic<std::size_t> fired{0};
        Impl impl(
            [&](bench_task&& t) {
                if (t.id == unmeasured) return;
                late_ns[t.id] =
                    std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - t.due).count();
                fired.fetch_add(1, std::memory_order_release);
            },
            pending_far + measured + 2'000'000);
        const auto far = steady::now() + 1h;
        auto preload = [&] {
            for (std::size_t i = 0; i < pending_far / 2; ++i)
                (void)impl.schedule_at(spread(far, i), bench_task{unmeasured, far});
            (void)impl.schedule_at(steady::now(), bench_task{unmeasured, far});  // flushes the inbox
        };
        std::thread preload_a(preload), preload_b(preload);
        preload_a.join();
        preload_b.join();
        impl.wait_settled(pending_far + 2, 0);
        const auto start = steady::now() + 20ms;
        std::mt19937_64 rng(1);
        for (std::size_t i = 0; i < measured; ++i) {
            const auto due = start + std::chrono::nanoseconds(rng() % 1'000'000'000);
            (void)impl.schedule_at(due, bench_task{i, due});
        }
        std::atomic<bool> stop{false};
        std::vector<std::thread> load;
        for (int p = 0; p < 2; ++p)
            load.emplace_back([&] {
                const auto t0 = steady::now();
                std::uint64_t i = 0;
                while (!stop.load(std::memory_order_relaxed)) {
                    if (i % 256 == 0)
                        std::this_thread::sleep_until(
                            t0 +
                            std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::duration<double>(static_cast<double>(i) / (load_rate / 2))));
                    (void)impl.schedule_at(spread(far, i), bench_task{unmeasured, far});
                    ++i;
                }
            });
        while (fired.load(std::memory_order_acquire) < measured && steady::now() < start + 30s)
            std::this_thread::sleep_for(1ms);
        stop.store(true);
        for (auto& t : load)
            t.join();
        std::sort(late_ns.begin(), late_ns.end());
        p50s.push_back(static_cast<double>(late_ns[measured / 2]) / 1e6);
        p99s.push_back(static_cast<double>(late_ns[measured * 99 / 100]) / 1e6);
        if (fired.load() < measured) state.SkipWithError("not every measured timer fired within 30 s");
    }
    auto mean = [](const std::vector<double>& v) {
        double s = 0;
        for (double x : v)
            s += x;
        return v.empty() ? 0.0 : s / static_cast<double>(v.size());
    };
    state.counters["p50_ms"] = benchmark::Counter(mean(p50s));
    state.counters["p99_ms"] = benchmark::Counter(mean(p99s));
}

// Real time covers set-up and tear-down too; the figures that count are the counters.
BENCHMARK(schedule_throughput<millrace_impl, 1>)
    ->Name("sched/schedule_1p/millrace")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(schedule_throughput<mutex_impl, 1>)
    ->Name("sched/schedule_1p/std_mutex")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(schedule_throughput<millrace_impl, 2>)
    ->Name("sched/schedule_2p/millrace")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(schedule_throughput<mutex_impl, 2>)
    ->Name("sched/schedule_2p/std_mutex")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(schedule_throughput<mutex_notify_each_impl, 2>)
    ->Name("sched/schedule_2p/std_mutex_notify_each")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(schedule_cancel<millrace_impl>)
    ->Name("sched/schedule_cancel/millrace")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(schedule_cancel<mutex_impl>)
    ->Name("sched/schedule_cancel/std_mutex")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(lateness<millrace_impl>)->Name("sched/lateness/millrace")->Unit(benchmark::kMillisecond);
BENCHMARK(lateness<mutex_impl>)->Name("sched/lateness/std_mutex")->Unit(benchmark::kMillisecond);
BENCHMARK(lateness<mutex_notify_each_impl>)
    ->Name("sched/lateness/std_mutex_notify_each")
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
