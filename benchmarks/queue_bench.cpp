// queue/ benchmarks: mpmc_queue and spsc_queue against the queues a user would otherwise
// pick (std::mutex + std::deque, boost::lockfree::queue, moodycamel::ConcurrentQueue with
// tokens, tbb::concurrent_bounded_queue), all bounded to the same capacity and driven
// the same way: busy-spinning try-push / try-pop of a std::uint64_t, one op = push + pop.
//   queue/<PpCc>/<impl>        throughput, items_per_second (1p1c is the figure that counts on
//                              2 cores; more threads than cores also measures the scheduler)
//   queue/pingpong/<impl>      round trip through two queues between two threads (real_time)
//   queue/pingpong/cache_line  the floor: one cache line bounced between the same threads
//   queue/uncontended/<impl>   push + pop on one thread (real_time)
//   queue/notify_idle/<impl>   the cost a push pays to wake a sleeper when nobody sleeps
//   queue/wake_roundtrip/<impl> two threads waking each other through timed waits
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <semaphore>
#include <thread>
#include <type_traits>
#include <vector>

#include <benchmark/benchmark.h>
#ifdef MILLRACE_HAVE_BOOST
#include <boost/lockfree/queue.hpp>
#endif
#ifdef MILLRACE_HAVE_CONCURRENTQUEUE
#include <concurrentqueue/concurrentqueue.h>
#endif
#ifdef MILLRACE_HAVE_TBB
#include <tbb/concurrent_queue.h>
#endif

#include "millrace/core/event_count.hpp"
#include "millrace/queue/mpmc_queue.hpp"
#include "millrace/queue/spsc_queue.hpp"

namespace {

using u64 = std::uint64_t;
constexpr std::size_t capacity = 1024;

// ---- adapters: one producer / consumer handle per thread ----------------------------

struct mpmc_impl {
    millrace::mpmc_queue<u64> q{capacity};
    struct producer {
        mpmc_impl& s;
        bool push(u64 v) { return s.q.try_push(v); }
    };
    struct consumer {
        mpmc_impl& s;
        bool pop(u64& v) { return s.q.try_pop(v); }
    };
    producer make_producer() { return {*this}; }
    consumer make_consumer() { return {*this}; }
};

struct spsc_impl {
    millrace::spsc_queue<u64> q{capacity};
    struct producer {
        spsc_impl& s;
        bool push(u64 v) { return s.q.try_push(v); }
    };
    struct consumer {
        spsc_impl& s;
        bool pop(u64& v) { return s.q.try_pop(v); }
    };
    producer make_producer() { return {*this}; }
    consumer make_consumer() { return {*this}; }
};

// The baseline a user would write: a bounded deque under a mutex.
struct mutex_impl {
    std::mutex m;
    std::deque<u64> d;
    struct producer {
        mutex_impl& s;
        bool push(u64 v) {
            std::lock_guard lock(s.m);
            if (s.d.size() >= capacity) return false;
            s.d.push_back(v);
            return true;
        }
    };
    struct consumer {
        mutex_impl& s;
        bool pop(u64& v) {
            std::lock_guard lock(s.m);
            if (s.d.empty()) return false;
            v = s.d.front();
            s.d.pop_front();
            return true;
        }
    };
    producer make_producer() { return {*this}; }
    consumer make_consumer() { return {*this}; }
};

#ifdef MILLRACE_HAVE_BOOST
struct boost_impl {
    boost::lockfree::queue<u64, boost::lockfree::fixed_sized<true>> q{capacity};
    struct producer {
        boost_impl& s;
        bool push(u64 v) { return s.q.bounded_push(v); }
    };
    struct consumer {
        boost_impl& s;
        bool pop(u64& v) { return s.q.pop(v); }
    };
    producer make_producer() { return {*this}; }
    consumer make_consumer() { return {*this}; }
};
#endif

#ifdef MILLRACE_HAVE_CONCURRENTQUEUE
// Bounded like the others: blocks for `capacity` items allocated up front and
// try_enqueue, which never allocates. With one producer, a producer token (its fastest
// mode; 31 blocks of 32 = 992 items, the closest it gets to 1024). With several producers,
// implicit producers (no producer token): a token producer keeps the blocks it took, so a
// second token producer can find the pre-allocated pool empty forever, whereas implicit
// producers return emptied blocks to the pool. Consumers always use tokens.
template <bool ProducerTokens>
struct moodycamel_impl {
    moodycamel::ConcurrentQueue<u64> q = ProducerTokens ? moodycamel::ConcurrentQueue<u64>(capacity, 0, 0)
                                                        : moodycamel::ConcurrentQueue<u64>(capacity, 0, 4);
    struct token_producer {
        explicit token_producer(moodycamel_impl& s) : s(s), tok(s.q) {}
        moodycamel_impl& s;
        moodycamel::ProducerToken tok;
        bool push(u64 v) { return s.q.try_enqueue(tok, v); }
    };
    struct implicit_producer {
        explicit implicit_producer(moodycamel_impl& s) : s(s) {}
        moodycamel_impl& s;
        bool push(u64 v) { return s.q.try_enqueue(v); }
    };
    using producer = std::conditional_t<ProducerTokens, token_producer, implicit_producer>;
    struct consumer {
        explicit consumer(moodycamel_impl& s) : s(s), tok(s.q) {}
        moodycamel_impl& s;
        moodycamel::ConsumerToken tok;
        bool pop(u64& v) { return s.q.try_dequeue(tok, v); }
    };
    producer make_producer() { return producer(*this); }
    consumer make_consumer() { return consumer(*this); }
};
#endif

#ifdef MILLRACE_HAVE_TBB
struct tbb_impl {
    tbb::concurrent_bounded_queue<u64> q;
    tbb_impl() { q.set_capacity(capacity); }
    struct producer {
        tbb_impl& s;
        bool push(u64 v) { return s.q.try_push(v); }
    };
    struct consumer {
        tbb_impl& s;
        bool pop(u64& v) { return s.q.try_pop(v); }
    };
    producer make_producer() { return {*this}; }
    consumer make_consumer() { return {*this}; }
};
#endif

// Busy-spin with a pause; yield only after ~1000 misses in a row (tens of microseconds),
// so more threads than cores, or a machine busy with other work, cannot stall a run.
struct spinner {
    unsigned n = 0;
    void operator()() {
        if ((++n & 1023u) != 0) {
            millrace::detail::cpu_relax();
        } else {
            std::this_thread::yield();
        }
    }
};

// ---- throughput ---------------------------------------------------------------------

template <class Impl, int P, int C>
void throughput(benchmark::State& state) {
    constexpr u64 items = u64{1} << 17;  // per iteration; divisible by 1..4 producers/consumers
    for (auto _ : state) {
        auto impl = std::make_unique<Impl>();
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        std::vector<std::thread> ts;
        for (int p = 0; p < P; ++p) {
            ts.emplace_back([&] {
                auto h = impl->make_producer();
                ready.fetch_add(1);
                while (!go.load(std::memory_order_acquire))
                    std::this_thread::yield();
                spinner spin;
                for (u64 i = 0; i < items / P; ++i) {
                    while (!h.push(i))
                        spin();
                }
            });
        }
        for (int c = 0; c < C; ++c) {
            ts.emplace_back([&] {
                auto h = impl->make_consumer();
                ready.fetch_add(1);
                while (!go.load(std::memory_order_acquire))
                    std::this_thread::yield();
                spinner spin;
                u64 v = 0, sum = 0;
                for (u64 i = 0; i < items / C; ++i) {
                    while (!h.pop(v))
                        spin();
                    sum += v;
                }
                benchmark::DoNotOptimize(sum);
            });
        }
        while (ready.load() != P + C)
            std::this_thread::yield();
        const auto t0 = std::chrono::steady_clock::now();
        go.store(true, std::memory_order_release);
        for (auto& t : ts)
            t.join();
        state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

// ---- ping-pong ----------------------------------------------------------------------

constexpr u64 stop_value = ~u64{0};

// Waiting loops here spin without a pause: the pause instruction itself adds latency
// (~40 ns on recent cores), and the floor below spins the same way. They yield after
// many misses only, so a machine busy with other work does not stall the pair.
struct hot_spinner {
    unsigned n = 0;
    void operator()() {
        if ((++n & 1023u) == 0) std::this_thread::yield();
    }
};
template <class Impl>
void pingpong(benchmark::State& state) {
    auto there = std::make_unique<Impl>();
    auto back = std::make_unique<Impl>();
    std::thread echo([&] {
        auto in = there->make_consumer();
        auto out = back->make_producer();
        u64 v = 0;
        for (;;) {
            hot_spinner spin;
            while (!in.pop(v))
                spin();
            if (v == stop_value) return;
            while (!out.push(v))
                spin();
        }
    });
    auto out = there->make_producer();
    auto in = back->make_consumer();
    u64 i = 0, v = 0;
    for (auto _ : state) {
        hot_spinner spin;
        while (!out.push(i))
            spin();
        while (!in.pop(v))
            spin();
        ++i;
    }
    benchmark::DoNotOptimize(v);
    while (!out.push(stop_value))
        std::this_thread::yield();
    echo.join();
}

void pingpong_cache_line(benchmark::State& state) {
    millrace::detail::padded<std::atomic<u64>> line;
    std::thread echo([&] {
        for (u64 expect = 1;; expect += 2) {
            u64 v;
            hot_spinner spin;
            while ((v = line->load(std::memory_order_acquire)) != expect) {
                if (v == stop_value) return;
                spin();
            }
            line->store(expect + 1, std::memory_order_release);
        }
    });
    u64 n = 0;
    for (auto _ : state) {
        line->store(n + 1, std::memory_order_release);
        hot_spinner spin;
        while (line->load(std::memory_order_acquire) != n + 2)
            spin();
        n += 2;
    }
    line->store(stop_value, std::memory_order_release);
    echo.join();
}

// ---- uncontended --------------------------------------------------------------------

template <class Impl>
void uncontended(benchmark::State& state) {
    auto impl = std::make_unique<Impl>();
    auto p = impl->make_producer();
    auto c = impl->make_consumer();
    u64 i = 0, v = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(p.push(i++));
        benchmark::DoNotOptimize(c.pop(v));
    }
    benchmark::DoNotOptimize(v);
    state.SetItemsProcessed(state.iterations());
}

// ---- the wait/wake primitive: futex event count or std::counting_semaphore ----------

// What every push pays for waking sleepers when nobody sleeps.
void notify_idle_event_count(benchmark::State& state) {
    millrace::event_count ec;
    for (auto _ : state)
        ec.notify_one();
    state.SetItemsProcessed(state.iterations());
}
// A semaphore-counted queue releases on every push and acquires on every pop.
void notify_idle_semaphore(benchmark::State& state) {
    std::counting_semaphore<> sem(0);
    for (auto _ : state) {
        sem.release();
        benchmark::DoNotOptimize(sem.try_acquire());
    }
    state.SetItemsProcessed(state.iterations());
}

// Two threads taking turns, each sleeping in a timed wait until the other wakes it.
void wake_roundtrip_event_count(benchmark::State& state) {
    struct side {
        std::atomic<u64> turn{0};
        millrace::event_count ec;
        void wait_for(u64 want) {
            for (;;) {
                if (turn.load(std::memory_order_seq_cst) >= want) return;
                const auto k = ec.prepare_wait();
                if (turn.load(std::memory_order_seq_cst) >= want) {
                    ec.cancel_wait();
                    return;
                }
                (void)ec.wait_until(k, std::chrono::steady_clock::now() + std::chrono::seconds(10));
            }
        }
        void signal(u64 v) {
            turn.store(v, std::memory_order_seq_cst);
            ec.notify_one();
        }
    };
    millrace::detail::padded<side> a, b;
    std::atomic<bool> stop{false};
    std::thread other([&] {
        for (u64 n = 1;; ++n) {
            b->wait_for(n);
            if (stop.load()) return;
            a->signal(n);
        }
    });
    u64 n = 0;
    for (auto _ : state) {
        ++n;
        b->signal(n);
        a->wait_for(n);
    }
    stop.store(true);
    b->signal(n + 1);
    other.join();
}

void wake_roundtrip_semaphore(benchmark::State& state) {
    std::binary_semaphore to_other(0), to_main(0);
    std::atomic<bool> stop{false};
    std::thread other([&] {
        for (;;) {
            while (!to_other.try_acquire_for(std::chrono::seconds(10))) {
            }
            if (stop.load()) return;
            to_main.release();
        }
    });
    for (auto _ : state) {
        to_other.release();
        while (!to_main.try_acquire_for(std::chrono::seconds(10))) {
        }
    }
    stop.store(true);
    to_other.release();
    other.join();
}

// Blocking ping-pong through the queues' own push()/pop(): the cost of sleeping waiters.
template <class Q>
void pingpong_blocking(benchmark::State& state) {
    Q there(capacity), back(capacity);
    std::thread echo([&] {
        while (auto v = there.pop())
            (void)back.push(*v);
    });
    u64 i = 0;
    for (auto _ : state) {
        (void)there.push(i++);
        benchmark::DoNotOptimize(back.pop());
    }
    there.close();
    echo.join();
}

// ---- registration -------------------------------------------------------------------
// Throughput runs a fixed 3 x 2^17 items timed by hand (the main thread only waits), so
// Google Benchmark appends "/iterations:3/manual_time" to those names; the others run for
// a short minimum time, by real time where a thread waits ("/min_time:0.100/real_time"),
// so that ten repetitions of the whole binary stay within a few minutes on a busy machine.

#define MILLRACE_QUEUE_THROUGHPUT(impl, name)                                                    \
    BENCHMARK(throughput<impl, 1, 1>)->Name("queue/1p1c/" name)->UseManualTime()->Iterations(3); \
    BENCHMARK(throughput<impl, 2, 2>)->Name("queue/2p2c/" name)->UseManualTime()->Iterations(3); \
    BENCHMARK(throughput<impl, 1, 2>)->Name("queue/1p2c/" name)->UseManualTime()->Iterations(3); \
    BENCHMARK(throughput<impl, 2, 1>)->Name("queue/2p1c/" name)->UseManualTime()->Iterations(3); \
    BENCHMARK(pingpong<impl>)->Name("queue/pingpong/" name)->UseRealTime()->MinTime(0.1);        \
    BENCHMARK(uncontended<impl>)->Name("queue/uncontended/" name)->MinTime(0.1)

MILLRACE_QUEUE_THROUGHPUT(mpmc_impl, "mpmc_queue");
MILLRACE_QUEUE_THROUGHPUT(mutex_impl, "std_mutex");
#ifdef MILLRACE_HAVE_BOOST
MILLRACE_QUEUE_THROUGHPUT(boost_impl, "boost_lockfree");
#endif
#ifdef MILLRACE_HAVE_CONCURRENTQUEUE
BENCHMARK(throughput<moodycamel_impl<true>, 1, 1>)
    ->Name("queue/1p1c/moodycamel")
    ->UseManualTime()
    ->Iterations(3);
BENCHMARK(throughput<moodycamel_impl<false>, 2, 2>)
    ->Name("queue/2p2c/moodycamel")
    ->UseManualTime()
    ->Iterations(3);
BENCHMARK(throughput<moodycamel_impl<true>, 1, 2>)
    ->Name("queue/1p2c/moodycamel")
    ->UseManualTime()
    ->Iterations(3);
BENCHMARK(throughput<moodycamel_impl<false>, 2, 1>)
    ->Name("queue/2p1c/moodycamel")
    ->UseManualTime()
    ->Iterations(3);
BENCHMARK(pingpong<moodycamel_impl<true>>)->Name("queue/pingpong/moodycamel")->UseRealTime()->MinTime(0.1);
BENCHMARK(uncontended<moodycamel_impl<true>>)->Name("queue/uncontended/moodycamel")->MinTime(0.1);
#endif
#ifdef MILLRACE_HAVE_TBB
MILLRACE_QUEUE_THROUGHPUT(tbb_impl, "tbb_bounded");
#endif

// spsc_queue: one producer and one consumer only.
BENCHMARK(throughput<spsc_impl, 1, 1>)->Name("queue/1p1c/spsc_queue")->UseManualTime()->Iterations(3);
BENCHMARK(pingpong<spsc_impl>)->Name("queue/pingpong/spsc_queue")->UseRealTime()->MinTime(0.1);
BENCHMARK(uncontended<spsc_impl>)->Name("queue/uncontended/spsc_queue")->MinTime(0.1);

BENCHMARK(pingpong_cache_line)->Name("queue/pingpong/cache_line")->UseRealTime()->MinTime(0.1);
BENCHMARK(notify_idle_event_count)->Name("queue/notify_idle/event_count")->MinTime(0.05);
BENCHMARK(notify_idle_semaphore)->Name("queue/notify_idle/counting_semaphore")->MinTime(0.05);
BENCHMARK(wake_roundtrip_event_count)->Name("queue/wake_roundtrip/event_count")->UseRealTime()->MinTime(0.2);
BENCHMARK(wake_roundtrip_semaphore)
    ->Name("queue/wake_roundtrip/counting_semaphore")
    ->UseRealTime()
    ->MinTime(0.2);
BENCHMARK(pingpong_blocking<millrace::mpmc_queue<u64>>)
    ->Name("queue/pingpong_blocking/mpmc_queue")
    ->UseRealTime()
    ->MinTime(0.2);
BENCHMARK(pingpong_blocking<millrace::spsc_queue<u64>>)
    ->Name("queue/pingpong_blocking/spsc_queue")
    ->UseRealTime()
    ->MinTime(0.2);

}  // namespace

BENCHMARK_MAIN();
