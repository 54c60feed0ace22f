// Timer benchmarks: millrace::timing_wheel against what a user would otherwise write, a
// std::priority_queue with lazy cancellation (a cancelled flag per id, skipped on pop) and a
// std::multimap (cancel erases by a stored iterator). One million timers with delays
// uniform in [1 ms, 60 s] at a 1 ms tick; time advances one tick at a time, as a timer
// thread would drive it.
//   time/insert_expire/<impl>         insert 1M, then expire all (fresh structure each time)
//   time/insert_cancel_expire/<impl>  the same with a random 50% cancelled before expiry
//   time/churn/<impl>                 1M pending: each step inserts one, and every ~33 steps
//                                     time moves a tick and what is due expires
//   time/insert_warm/<impl>           1M inserts into a structure already grown and touched
//   time/cancel/timing_wheel          cancel 1M pending timers by id, in random order
// Each reports real_time per iteration of the timed region (setup and teardown run with the
// timer paused), ns_per_op, the wall time per timer (per step for churn), and cpu_ns_per_op, the
// same in the thread's CPU time, which the targets use (see seconds_of).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "millrace/time/timing_wheel.hpp"

namespace {

constexpr std::size_t timers = 1000000;
constexpr std::uint64_t max_delay = 60000;  // 60 s at 1 ms ticks
constexpr std::size_t churn_steps = 1000000;
constexpr std::size_t steps_per_tick = 33;  // ~1M pending at a mean delay of 30000 ticks

std::vector<std::uint64_t> uniform_delays(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::uint64_t> d(1, max_delay);
    std::vector<std::uint64_t> v(n);
    for (auto& x : v)
        x = d(rng);
    return v;
}

// Remaining delays of the timers pending in steady state (arrivals at a constant rate with
// uniform delays): density falling linearly from 1 to 0 over [0, max_delay].
std::vector<std::uint64_t> steady_remaining(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<std::uint64_t> v(n);
    for (auto& x : v)
        x = 1 + static_cast<std::uint64_t>(static_cast<double>(max_delay - 1) * (1.0 - std::sqrt(u(rng))));
    return v;
}

// ---- the three implementations behind one interface ---------------------------------------

struct wheel_impl {
    using id = millrace::timer_id;
    millrace::timing_wheel<std::uint64_t> w;
    std::uint64_t sum = 0;
    id insert(std::uint64_t expiry, std::uint64_t value) { return w.insert(expiry, value); }
    void cancel(id i) { benchmark::DoNotOptimize(w.cancel(i)); }
    void advance(std::uint64_t now) {
        w.advance(now, [this](std::uint64_t&& v) { sum += v; });
    }
    std::uint64_t now() const { return w.now(); }
    void clear() { w.clear(); }
    void reserve(std::size_t n) { w.reserve(n); }
};

struct heap_item {
    std::uint64_t expiry;
    std::uint64_t id;
};
struct heap_later {
    bool operator()(const heap_item& a, const heap_item& b) const noexcept { return a.expiry > b.expiry; }
};
// std::priority_queue itself; the subclass only reaches its container to reserve and clear
// it for the warm-insert case.
struct pq_type : std::priority_queue<heap_item, std::vector<heap_item>, heap_later> {
    void reserve(std::size_t n) { c.reserve(n); }
    void clear() { c.clear(); }
};

struct heap_impl {
    using id = std::uint64_t;
    pq_type q;
    std::vector<std::uint8_t> cancelled;  // lazy cancellation: skipped when popped
    std::uint64_t next_id = 0, now_ = 0, sum = 0;
    id insert(std::uint64_t expiry, std::uint64_t value) {
        (void)value;  // the id is the value here
        cancelled.push_back(0);
        q.push(heap_item{expiry, next_id});
        return next_id++;
    }
    void cancel(id i) { cancelled[i] = 1; }
    void advance(std::uint64_t now) {
        now_ = now;
        while (!q.empty() && q.top().expiry <= now) {
            const heap_item it = q.top();
            q.pop();
            if (!cancelled[it.id]) sum += it.id;
        }
    }
    std::uint64_t now() const { return now_; }
    void clear() {
        q.clear();
        cancelled.clear();
        next_id = 0;
    }
    void reserve(std::size_t n) {
        q.reserve(n);
        cancelled.reserve(n);
    }
};

struct multimap_impl {
    using map = std::multimap<std::uint64_t, std::uint64_t>;
    using id = map::iterator;
    map m;
    std::uint64_t now_ = 0, sum = 0;
    id insert(std::uint64_t expiry, std::uint64_t value) { return m.emplace(expiry, value); }
    void cancel(id i) { m.erase(i); }
    void advance(std::uint64_t now) {
        now_ = now;
        auto it = m.begin();
        while (it != m.end() && it->first <= now) {
            sum += it->second;
            it = m.erase(it);
        }
    }
    std::uint64_t now() const { return now_; }
    void clear() { m.clear(); }
    void reserve(std::size_t) {}
};

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Times f: returns its wall time (the benchmark's manual time) and adds its thread CPU
// time to `cpu`. On a shared machine other processes preempt the benchmark,
// which inflates wall time but not the CPU time the benchmark's own thread used.
template <class F>
double seconds_of(double& cpu, F&& f) {
    const double c0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cpu += thread_cpu_seconds() - c0;
    return wall;
}

void finish(benchmark::State& state, double total_seconds, double cpu_seconds, std::size_t ops) {
    state.SetItemsProcessed(static_cast<std::int64_t>(ops));
    state.counters["ns_per_op"] = total_seconds * 1e9 / static_cast<double>(ops);
    state.counters["cpu_ns_per_op"] = cpu_seconds * 1e9 / static_cast<double>(ops);
}

// (a) insert 1M, expire all, tick by tick.
template <class Impl>
void bm_insert_expire(benchmark::State& state) {
    const auto delays = uniform_delays(timers, 1);
    double total = 0, cpu = 0;
    std::size_t ops = 0;
    for (auto _ : state) {
        const double s = seconds_of(cpu, [&] {
            Impl impl;
            for (std::size_t i = 0; i < timers; ++i)
                impl.insert(delays[i], i);
            for (std::uint64_t t = 1; t <= max_delay; ++t)
                impl.advance(t);
            benchmark::DoNotOptimize(impl.sum);
        });
        total += s;
        ops += timers;
    }
    finish(state, total, cpu, ops);
}

// (b) insert 1M, cancel a random half, expire all.
template <class Impl>
void bm_insert_cancel_expire(benchmark::State& state) {
    const auto delays = uniform_delays(timers, 2);
    std::vector<std::size_t> victims(timers);
    for (std::size_t i = 0; i < timers; ++i)
        victims[i] = i;
    std::shuffle(victims.begin(), victims.end(), std::mt19937_64(3));
    victims.resize(timers / 2);
    double total = 0, cpu = 0;
    std::size_t ops = 0;
    for (auto _ : state) {
        const double s = seconds_of(cpu, [&] {
            Impl impl;
            std::vector<typename Impl::id> ids;
            ids.reserve(timers);
            for (std::size_t i = 0; i < timers; ++i)
                ids.push_back(impl.insert(delays[i], i));
            for (std::size_t v : victims)
                impl.cancel(ids[v]);
            for (std::uint64_t t = 1; t <= max_delay; ++t)
                impl.advance(t);
            benchmark::DoNotOptimize(impl.sum);
        });
        total += s;
        ops += timers;
    }
    finish(state, total, cpu, ops);
}

// (c) steady churn at 1M pending.
template <class Impl>
void bm_churn(benchmark::State& state) {
    const auto prefill = steady_remaining(timers, 4);
    const auto delays = uniform_delays(churn_steps, 5);
    double total = 0, cpu = 0;
    std::size_t ops = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto impl = std::make_unique<Impl>();
        for (std::size_t i = 0; i < timers; ++i)
            impl->insert(prefill[i], i);
        state.ResumeTiming();
        const double s = seconds_of(cpu, [&, &impl = *impl] {
            std::uint64_t now = 0;
            for (std::size_t i = 0; i < churn_steps; ++i) {
                impl.insert(now + delays[i], i);
                if (i % steps_per_tick == 0) impl.advance(++now);
            }
            benchmark::DoNotOptimize(impl.sum);
        });
        state.PauseTiming();
        impl.reset();
        state.ResumeTiming();
        total += s;
        ops += churn_steps;
    }
    finish(state, total, cpu, ops);
}

// 1M inserts into a structure that already held 1M timers (its memory grown and touched).
template <class Impl>
void bm_insert_warm(benchmark::State& state) {
    const auto delays = uniform_delays(timers, 6);
    Impl impl;
    impl.reserve(timers);
    for (std::size_t i = 0; i < timers; ++i)
        impl.insert(delays[i], i);
    impl.clear();
    double total = 0, cpu = 0;
    std::size_t ops = 0;
    for (auto _ : state) {
        const double s = seconds_of(cpu, [&] {
            for (std::size_t i = 0; i < timers; ++i)
                benchmark::DoNotOptimize(impl.insert(delays[i], i));
        });
        state.PauseTiming();
        impl.clear();
        state.ResumeTiming();
        total += s;
        ops += timers;
    }
    finish(state, total, cpu, ops);
}

// Cancel 1M pending timers by id, in random order (independent operations in a loop).
void bm_cancel_wheel(benchmark::State& state) {
    const auto delays = uniform_delays(timers, 7);
    std::vector<std::size_t> order(timers);
    for (std::size_t i = 0; i < timers; ++i)
        order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(8));
    wheel_impl impl;
    std::vector<millrace::timer_id> ids(timers);
    double total = 0, cpu = 0;
    std::size_t ops = 0;
    for (auto _ : state) {
        state.PauseTiming();
        for (std::size_t i = 0; i < timers; ++i)
            ids[order[i]] = impl.insert(delays[i], i);
        state.ResumeTiming();
        const double s = seconds_of(cpu, [&] {
            for (const auto& id : ids)
                impl.cancel(id);
        });
        state.PauseTiming();
        impl.clear();
        state.ResumeTiming();
        total += s;
        ops += timers;
    }
    finish(state, total, cpu, ops);
}

void args(benchmark::internal::Benchmark* b) {
    b->Unit(benchmark::kMillisecond);
}
// The multimap takes seconds per run; where no target compares against it, three
// repetitions keep the whole binary within a few minutes.
void slow_args(benchmark::internal::Benchmark* b) {
    args(b->Repetitions(3));
}

BENCHMARK(bm_insert_expire<wheel_impl>)->Name("time/insert_expire/timing_wheel")->Apply(args);
BENCHMARK(bm_insert_expire<heap_impl>)->Name("time/insert_expire/priority_queue")->Apply(args);
BENCHMARK(bm_insert_expire<multimap_impl>)->Name("time/insert_expire/multimap")->Apply(slow_args);
BENCHMARK(bm_insert_cancel_expire<wheel_impl>)->Name("time/insert_cancel_expire/timing_wheel")->Apply(args);
BENCHMARK(bm_insert_cancel_expire<heap_impl>)->Name("time/insert_cancel_expire/priority_queue")->Apply(args);
BENCHMARK(bm_insert_cancel_expire<multimap_impl>)->Name("time/insert_cancel_expire/multimap")->Apply(args);
BENCHMARK(bm_churn<wheel_impl>)->Name("time/churn/timing_wheel")->Apply(args);
BENCHMARK(bm_churn<heap_impl>)->Name("time/churn/priority_queue")->Apply(args);
BENCHMARK(bm_churn<multimap_impl>)->Name("time/churn/multimap")->Apply(slow_args);
BENCHMARK(bm_insert_warm<wheel_impl>)->Name("time/insert_warm/timing_wheel")->Apply(args);
BENCHMARK(bm_insert_warm<heap_impl>)->Name("time/insert_warm/priority_queue")->Apply(args);
BENCHMARK(bm_cancel_wheel)->Name("time/cancel/timing_wheel")->Apply(args);

}  // namespace

BENCHMARK_MAIN();
