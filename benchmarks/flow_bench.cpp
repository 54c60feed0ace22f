// token_bucket::try_acquire against the buckets a user would otherwise write: a std::mutex
// bucket (tokens as a double refilled on each call) and folly's design (one CAS on a double
// "zero time"), with an injected clock (a trivial struct: a thread-local counter, 1 ns per read)
// and with steady_clock; single thread and 2 threads contending. keyed_limiter with 1k and 1M
// keys against a single bucket. Contended runs use a rate no caller can exhaust, so every call
// takes the write path (admitted = 1). Also the bare steady_clock::now(), and the bucket's overhead
// over the clock read measured side by side in one loop (counter overhead_ns).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <vector>

#include <time.h>

#include <benchmark/benchmark.h>

#include "millrace/flow/keyed_limiter.hpp"
#include "millrace/flow/token_bucket.hpp"

namespace {

// The injected clock: each read moves this thread's time on by 1 ns. No shared state, so the
// benchmark measures the bucket, not the clock.
struct tick_clock {
    using rep = std::int64_t;
    using period = std::nano;
    using duration = std::chrono::nanoseconds;
    using time_point = std::chrono::time_point<std::chrono::steady_clock, duration>;
    static inline thread_local std::int64_t ticks = 1'000'000'000;
    time_point now() const noexcept { return time_point(duration(++ticks)); }
    bool wait_until(time_point, std::stop_token = {}) const { return true; }
};
static_assert(millrace::clock_policy<tick_clock>);

template <class Clock>
double seconds_now(const Clock& c) noexcept {
    return std::chrono::duration<double>(c.now().time_since_epoch()).count();
}

// What most code bases write: a mutex around a double balance.
template <class Clock>
class mutex_bucket {
public:
    mutex_bucket(double rate, double burst, Clock c = {})
        : rate_(rate), burst_(burst), tokens_(burst), clock_(c) {
        last_ = seconds_now(clock_);
    }
    bool try_acquire(double n = 1.0) {
        const double now = seconds_now(clock_);
        std::lock_guard lock(mutex_);
        if (now > last_) {  // threads' clock readings may arrive out of order
            tokens_ = std::min(burst_, tokens_ + (now - last_) * rate_);
            last_ = now;
        }
        if (tokens_ < n) return false;
        tokens_ -= n;
        return true;
    }

private:
    std::mutex mutex_;
    double rate_, burst_, tokens_, last_ = 0.0;
    Clock clock_;
};

// folly::TokenBucket's design: one CAS on the double "time at which the bucket was empty".
template <class Clock>
class cas_double_bucket {
public:
    cas_double_bucket(double rate, double burst, Clock c = {}) : rate_(rate), burst_(burst), clock_(c) {
        zero_time_.store(seconds_now(clock_) - burst / rate);
    }
    bool try_acquire(double n = 1.0) {
        const double now = seconds_now(clock_);
        double zt = zero_time_.load(std::memory_order_relaxed);
        for (;;) {
            const double tokens = std::min((now - zt) * rate_, burst_);
            if (tokens < n) return false;
            const double next = now - (tokens - n) / rate_;
            if (zero_time_.compare_exchange_weak(zt, next, std::memory_order_relaxed)) return true;
        }
    }

private:
    std::atomic<double> zero_time_{0.0};
    double rate_, burst_;
    Clock clock_;
};

template <class Bucket>
void single(benchmark::State& state, double rate, double burst) {
    tick_clock::ticks = 1'000'000'000;
    Bucket b(rate, burst);
    std::uint64_t ok = 0;
    for (auto _ : state)
        ok += b.try_acquire(1) ? 1 : 0;
    benchmark::DoNotOptimize(ok);
    state.SetItemsProcessed(state.iterations());
    state.counters["admitted"] =
        benchmark::Counter(static_cast<double>(ok) / static_cast<double>(state.iterations()));
}

template <class Bucket>
void contended(benchmark::State& state, double rate, double burst) {
    static std::unique_ptr<Bucket> shared;
    tick_clock::ticks = 1'000'000'000;  // every thread's injected time starts together
    if (state.thread_index() == 0) shared = std::make_unique<Bucket>(rate, burst);
    std::uint64_t ok = 0;
    for (auto _ : state)
        ok += shared->try_acquire(1) ? 1 : 0;
    benchmark::DoNotOptimize(ok);
    state.SetItemsProcessed(state.iterations());
    state.counters["admitted"] = benchmark::Counter(
        static_cast<double>(ok) / static_cast<double>(state.iterations()), benchmark::Counter::kAvgThreads);
}

void steady_now(benchmark::State& state) {
    for (auto _ : state)
        benchmark::DoNotOptimize(std::chrono::steady_clock::now());
    state.SetItemsProcessed(state.iterations());
}

// try_acquire with steady_clock minus a bare steady_clock::now(), timed in alternating batches
// in the same loop so both see the same machine state, each batch timed in this thread's CPU
// time (the machine is shared: wall time would count other processes' slices). Counters are
// ns per call.
double thread_cpu_ns() noexcept {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e9 + static_cast<double>(t.tv_nsec);
}

void overhead_vs_clock(benchmark::State& state) {
    millrace::token_bucket<> b(1e9, 1e6);
    constexpr int batch = 4096;
    double bucket_ns = 0, clock_ns = 0;
    std::uint64_t calls = 0;
    for (auto _ : state) {
        const double t0 = thread_cpu_ns();
        for (int i = 0; i < batch; ++i)
            benchmark::DoNotOptimize(std::chrono::steady_clock::now());
        const double t1 = thread_cpu_ns();
        for (int i = 0; i < batch; ++i)
            benchmark::DoNotOptimize(b.try_acquire(1));
        const double t2 = thread_cpu_ns();
        clock_ns += t1 - t0;
        bucket_ns += t2 - t1;
        calls += batch;
    }
    state.counters["clock_ns"] = clock_ns / static_cast<double>(calls);
    state.counters["bucket_ns"] = bucket_ns / static_cast<double>(calls);
    state.counters["overhead_ns"] = (bucket_ns - clock_ns) / static_cast<double>(calls);
    state.SetItemsProcessed(static_cast<std::int64_t>(calls));
}

// Per-tenant limiting: random keys among `keys` (all present after warm-up), 100/s and burst
// 100 per key.
template <class Clock>
void keyed(benchmark::State& state, std::size_t keys) {
    // max_keys = 2 * keys: with 1k keys over 64 shards, keys + keys / 4 left some shards at
    // their bound, so the figure timed the capacity-rejection path.
    millrace::keyed_limiter<std::uint64_t, Clock> l(100.0, 100.0, {.max_keys = 2 * keys, .shards = 64});
    for (std::uint64_t k = 0; k < keys; ++k)
        benchmark::DoNotOptimize(l.try_acquire(k));
    std::uint64_t x = 0x9e3779b97f4a7c15ull, ok = 0;
    for (auto _ : state) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ok += l.try_acquire(x % keys) ? 1 : 0;
    }
    benchmark::DoNotOptimize(ok);
    state.SetItemsProcessed(state.iterations());
}

template <class Clock>
void single_bucket_for_keyed(benchmark::State& state) {
    millrace::token_bucket<Clock> b(100.0, 100.0);
    std::uint64_t ok = 0;
    for (auto _ : state)
        ok += b.try_acquire(1) ? 1 : 0;
    benchmark::DoNotOptimize(ok);
    state.SetItemsProcessed(state.iterations());
}

using steady = millrace::steady_clock_policy;

void register_all() {
    constexpr double rate = 1e9, burst = 1e6;
    // Contended: a rate no caller can exhaust, so every call writes (the contended path).
    constexpr double hot_rate = 1e12, hot_burst = 1e9;
    benchmark::RegisterBenchmark("flow/clock/steady_now", steady_now);
    benchmark::RegisterBenchmark("flow/try_acquire/injected/millrace",
                                 single<millrace::token_bucket<tick_clock>>, rate, burst);
    benchmark::RegisterBenchmark("flow/try_acquire/injected/std_mutex", single<mutex_bucket<tick_clock>>,
                                 rate, burst);
    benchmark::RegisterBenchmark("flow/try_acquire/injected/cas_double",
                                 single<cas_double_bucket<tick_clock>>, rate, burst);
    benchmark::RegisterBenchmark("flow/try_acquire/steady/millrace", single<millrace::token_bucket<steady>>,
                                 rate, burst);
    benchmark::RegisterBenchmark("flow/try_acquire/steady/std_mutex", single<mutex_bucket<steady>>, rate,
                                 burst);
    benchmark::RegisterBenchmark("flow/try_acquire/steady/cas_double", single<cas_double_bucket<steady>>,
                                 rate, burst);
    benchmark::RegisterBenchmark("flow/try_acquire/steady/overhead_vs_clock", overhead_vs_clock);
    benchmark::RegisterBenchmark("flow/contended_2t/injected/millrace",
                                 contended<millrace::token_bucket<tick_clock>>, hot_rate, hot_burst)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("flow/contended_2t/injected/std_mutex", contended<mutex_bucket<tick_clock>>,
                                 hot_rate, hot_burst)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("flow/contended_2t/injected/cas_double",
                                 contended<cas_double_bucket<tick_clock>>, hot_rate, hot_burst)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("flow/contended_2t/steady/millrace",
                                 contended<millrace::token_bucket<steady>>, hot_rate, hot_burst)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("flow/contended_2t/steady/std_mutex", contended<mutex_bucket<steady>>,
                                 hot_rate, hot_burst)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("flow/contended_2t/steady/cas_double", contended<cas_double_bucket<steady>>,
                                 hot_rate, hot_burst)
        ->Threads(2)
        ->UseRealTime();
    benchmark::RegisterBenchmark("flow/keyed/injected/single_bucket", single_bucket_for_keyed<tick_clock>);
    benchmark::RegisterBenchmark("flow/keyed/injected/1k_keys", keyed<tick_clock>, std::size_t{1000});
    benchmark::RegisterBenchmark("flow/keyed/injected/1m_keys", keyed<tick_clock>, std::size_t{1'000'000});
    benchmark::RegisterBenchmark("flow/keyed/steady/single_bucket", single_bucket_for_keyed<steady>);
    benchmark::RegisterBenchmark("flow/keyed/steady/1k_keys", keyed<steady>, std::size_t{1000});
    benchmark::RegisterBenchmark("flow/keyed/steady/1m_keys", keyed<steady>, std::size_t{1'000'000});
}

}  // namespace

int main(int argc, char** argv) {
    register_all();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
