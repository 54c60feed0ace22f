// Functional tests of mpmc_queue and spsc_queue: every API rule of DESIGN.md (queue/),
// typed over both queues. Concurrency at scale lives in queue_stress_test.cpp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <iterator>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/core/event_count.hpp"
#include "millrace/queue/mpmc_queue.hpp"
#include "millrace/queue/spsc_queue.hpp"

namespace {

using namespace std::chrono_literals;
using millrace::queue_status;

template <class Q>
struct rebind;
template <class T>
struct rebind<millrace::mpmc_queue<T>> {
    template <class U>
    using type = millrace::mpmc_queue<U>;
};
template <class T>
struct rebind<millrace::spsc_queue<T>> {
    template <class U>
    using type = millrace::spsc_queue<U>;
};

template <class Q>
class QueueTest : public ::testing::Test {
public:
    template <class U>
    using queue = typename rebind<Q>::template type<U>;
};

struct queue_names {
    template <class Q>
    static std::string GetName(int) {
        return std::is_same_v<Q, millrace::mpmc_queue<int>> ? "mpmc_queue" : "spsc_queue";
    }
};
using queue_types = ::testing::Types<millrace::mpmc_queue<int>, millrace::spsc_queue<int>>;
TYPED_TEST_SUITE(QueueTest, queue_types, queue_names);

double thread_cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Counts live objects and catches double destruction and use of destroyed objects.
struct counted {
    static inline std::atomic<long> live{0};
    static constexpr std::uint64_t alive_tag = 0xA11CE5EEDULL;
    std::uint64_t tag = alive_tag;
    int value = 0;
    explicit counted(int v) : value(v) { ++live; }
    counted(const counted& o) : value(o.value) {
        EXPECT_EQ(o.tag, alive_tag);
        ++live;
    }
    counted(counted&& o) noexcept : value(o.value) {
        EXPECT_EQ(o.tag, alive_tag);
        ++live;
    }
    counted& operator=(const counted& o) {
        EXPECT_EQ(o.tag, alive_tag);
        value = o.value;
        return *this;
    }
    counted& operator=(counted&& o) noexcept {
        EXPECT_EQ(o.tag, alive_tag);
        value = o.value;
        return *this;
    }
    ~counted() {
        EXPECT_EQ(tag, alive_tag) << "destroyed twice";
        tag = 0;
        --live;
    }
};

// No default constructor, and a constructor that throws on request.
struct picky {
    int value;
    picky(int v, bool fail) : value(v) {
        if (fail) throw std::runtime_error("picky");
    }
    picky(picky&&) noexcept = default;
    picky& operator=(picky&&) noexcept = default;
};

// ---- construction ---------------------------------------------------------------------

TYPED_TEST(QueueTest, ZeroCapacityThrowsInvalidArgument) {
    using Q = typename TestFixture::template queue<int>;
    EXPECT_THROW(Q{0}, std::invalid_argument);
}

TYPED_TEST(QueueTest, HugeCapacityThrowsInsteadOfOverflowing) {
    using Q = typename TestFixture::template queue<int>;
    const std::size_t max = std::numeric_limits<std::size_t>::max();
    // Every one of these overflows the ring's size in bytes (the slot is at least 4 bytes).
    for (std::size_t cap : {max, max - 1, max / 2, max / 4}) {
        EXPECT_THROW(Q{cap}, std::length_error) << cap;
    }
}

TYPED_TEST(QueueTest, HoldsExactlyCapacityAcrossManyLaps) {
    using Q = typename TestFixture::template queue<int>;
    for (std::size_t cap : {1u, 2u, 3u, 5u, 7u, 8u, 100u, 128u}) {
        Q q(cap);
        EXPECT_EQ(q.capacity(), cap);
        int next_in = 0, next_out = 0;
        for (int lap = 0; lap < 5; ++lap) {
            for (std::size_t i = 0; i < cap; ++i)
                ASSERT_TRUE(q.try_push(next_in++)) << "cap " << cap;
            EXPECT_FALSE(q.try_push(-1)) << "cap " << cap << ": more than capacity() items";
            EXPECT_EQ(q.size(), cap);
            for (std::size_t i = 0; i < cap; ++i) {
                int v = -1;
                ASSERT_TRUE(q.try_pop(v));
                ASSERT_EQ(v, next_out++) << "FIFO order";
            }
            EXPECT_TRUE(q.empty());
            EXPECT_FALSE(q.try_pop().has_value());
        }
        // Interleaved, so the ring is entered at every offset.
        for (int i = 0; i < 1000; ++i) {
            ASSERT_TRUE(q.try_push(next_in++));
            if (i % 3 != 2) {
                auto v = q.try_pop();
                ASSERT_TRUE(v.has_value());
                ASSERT_EQ(*v, next_out++);
            }
            if (q.size() == cap) {
                while (auto v = q.try_pop())
                    ASSERT_EQ(*v, next_out++);
            }
        }
    }
}

TYPED_TEST(QueueTest, CapacityOnePingPongsBetweenThreads) {
    using Q = typename TestFixture::template queue<int>;
    Q q(1);
    constexpr int n = 5000;
    std::thread consumer([&] {
        for (int i = 0; i < n; ++i) {
            int v = -1;
            ASSERT_TRUE(q.pop(v));
            ASSERT_EQ(v, i);
        }
    });
    for (int i = 0; i < n; ++i)
        ASSERT_TRUE(q.push(i));
    consumer.join();
    EXPECT_TRUE(q.empty());
}

// ---- values ---------------------------------------------------------------------------

TYPED_TEST(QueueTest, FailedPushLeavesItsArgumentUntouched) {
    using Q = typename TestFixture::template queue<std::unique_ptr<int>>;
    Q q(1);
    ASSERT_TRUE(q.try_push(std::make_unique<int>(1)));
    auto p = std::make_unique<int>(2);
    EXPECT_FALSE(q.try_push(std::move(p)));
    ASSERT_NE(p, nullptr);  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_EQ(q.push_for(std::move(p), 1ms), queue_status::timeout);
    ASSERT_NE(p, nullptr);
    q.close();
    (void)q.try_pop();
    EXPECT_FALSE(q.try_push(std::move(p)));
    EXPECT_EQ(q.push_for(std::move(p), 1ms), queue_status::closed);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, 2);
}

TYPED_TEST(QueueTest, MoveOnlyValuesThroughEveryForm) {
    using Q = typename TestFixture::template queue<std::unique_ptr<int>>;
    Q q(8);
    ASSERT_TRUE(q.try_push(std::make_unique<int>(1)));
    ASSERT_TRUE(q.try_emplace(new int(2)));
    ASSERT_TRUE(q.push(std::make_unique<int>(3)));
    ASSERT_TRUE(q.emplace(new int(4)));
    ASSERT_EQ(q.push_for(std::make_unique<int>(5), 1s), queue_status::ok);
    ASSERT_EQ(q.push_until(std::make_unique<int>(6), std::chrono::steady_clock::now() + 1s),
              queue_status::ok);
    std::vector<std::unique_ptr<int>> in;
    in.push_back(std::make_unique<int>(7));
    in.push_back(std::make_unique<int>(8));
    auto end = q.try_push_bulk(std::make_move_iterator(in.begin()), std::make_move_iterator(in.end()));
    EXPECT_EQ(end.base(), in.end());
    std::unique_ptr<int> out;
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(*out, 1);
    EXPECT_EQ(**q.try_pop(), 2);
    ASSERT_TRUE(q.pop(out));
    EXPECT_EQ(*out, 3);
    EXPECT_EQ(**q.pop(), 4);
    ASSERT_EQ(q.pop_for(out, 1s), queue_status::ok);
    EXPECT_EQ(*out, 5);
    ASSERT_EQ(q.pop_until(out, std::chrono::system_clock::now() + 1s), queue_status::ok);
    EXPECT_EQ(*out, 6);
    std::vector<std::unique_ptr<int>> rest;
    EXPECT_EQ(q.try_pop_bulk(std::back_inserter(rest), 10), 2u);
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(*rest[0], 7);
    EXPECT_EQ(*rest[1], 8);
}

TYPED_TEST(QueueTest, NeedsNoDefaultConstructorAndEmplaceBuildsBeforeClaiming) {
    using Q = typename TestFixture::template queue<picky>;
    Q q(2);
    EXPECT_THROW((void)q.try_emplace(1, true), std::runtime_error);
    EXPECT_THROW((void)q.emplace(1, true), std::runtime_error);
    EXPECT_TRUE(q.empty());  // the throwing constructor claimed nothing
    ASSERT_TRUE(q.try_emplace(7, false));
    ASSERT_TRUE(q.emplace(8, false));
    EXPECT_THROW((void)q.try_emplace(9, true), std::runtime_error);
    EXPECT_EQ(q.size(), 2u);
    EXPECT_EQ(q.try_pop()->value, 7);
    // A second try_emplace after the throw still works and keeps FIFO.
    ASSERT_TRUE(q.try_emplace(9, false));
    EXPECT_EQ(q.try_pop()->value, 8);
    EXPECT_EQ(q.pop()->value, 9);
}

TYPED_TEST(QueueTest, NoLeakAndNoDoubleDestruction) {
    using Q = typename TestFixture::template queue<counted>;
    counted::live = 0;
    {
        Q q(5);
        counted c(1);
        ASSERT_TRUE(q.try_push(c));  // copy
        ASSERT_TRUE(q.try_push(counted(2)));
        ASSERT_TRUE(q.try_emplace(3));
        ASSERT_TRUE(q.push(counted(4)));
        EXPECT_EQ(counted::live.load(), 5);  // c + 4 inside
        {
            counted out(0);
            ASSERT_TRUE(q.try_pop(out));
            EXPECT_EQ(out.value, 1);
            auto o = q.try_pop();
            EXPECT_EQ(o->value, 2);
        }
        EXPECT_EQ(counted::live.load(), 3);  // c + 2 inside
        std::vector<counted> vs;
        ASSERT_TRUE(q.try_push(counted(5)));
        EXPECT_EQ(q.try_pop_bulk(std::back_inserter(vs), 1), 1u);
        EXPECT_EQ(vs[0].value, 3);
        // Two items left inside for the destructor; wrap the ring once more first.
        for (int i = 0; i < 12; ++i) {
            ASSERT_TRUE(q.try_emplace(100 + i));
            ASSERT_TRUE(q.try_pop().has_value());
        }
    }
    EXPECT_EQ(counted::live.load(), 0) << "the destructor must destroy leftovers exactly once";
}

// A failed copy leaves the queue untouched (the copy is made before the claim).
struct throwing_copy {
    static inline bool fail = false;
    int v = 0;
    explicit throwing_copy(int x) : v(x) {}
    throwing_copy(const throwing_copy& o) : v(o.v) {
        if (fail) throw std::runtime_error("copy");
    }
    throwing_copy(throwing_copy&&) noexcept = default;
    throwing_copy& operator=(throwing_copy&&) noexcept = default;
};

TYPED_TEST(QueueTest, ThrowingCopyLeavesQueueUntouched) {
    using Q = typename TestFixture::template queue<throwing_copy>;
    Q q(2);
    throwing_copy x(5);
    std::vector<throwing_copy> src;
    src.emplace_back(1);
    throwing_copy::fail = true;
    EXPECT_THROW((void)q.try_push(x), std::runtime_error);
    EXPECT_THROW((void)q.push(x), std::runtime_error);
    EXPECT_THROW((void)q.try_push_bulk(src.begin(), src.end()), std::runtime_error);
    EXPECT_TRUE(q.empty());
    throwing_copy::fail = false;
    ASSERT_TRUE(q.try_push(x));
    EXPECT_EQ(q.try_pop()->v, 5);
}

// ---- bulk -----------------------------------------------------------------------------

TYPED_TEST(QueueTest, BulkPushesAPrefixAndPopsThroughAnyOutputIterator) {
    using Q = typename TestFixture::template queue<int>;
    Q q(5);
    std::vector<int> in(8);
    std::iota(in.begin(), in.end(), 0);
    auto end = q.try_push_bulk(in.begin(), in.end());
    EXPECT_EQ(end - in.begin(), 5);
    EXPECT_EQ(q.try_push_bulk(end, in.end()), end);  // full: nothing
    int raw[3] = {-1, -1, -1};
    EXPECT_EQ(q.try_pop_bulk(raw, 3), 3u);  // a plain pointer
    EXPECT_EQ(raw[0], 0);
    EXPECT_EQ(raw[2], 2);
    EXPECT_EQ(q.try_pop_bulk(raw, 0), 0u);
    end = q.try_push_bulk(end, in.end());
    EXPECT_EQ(end - in.begin(), 8);
    std::vector<int> out;
    EXPECT_EQ(q.try_pop_bulk(std::back_inserter(out), 100), 5u);
    EXPECT_EQ(out, (std::vector<int>{3, 4, 5, 6, 7}));
    EXPECT_EQ(q.try_pop_bulk(std::back_inserter(out), 100), 0u);
    q.close();
    EXPECT_EQ(q.try_push_bulk(in.begin(), in.end()), in.begin());
}

// ---- close ----------------------------------------------------------------------------

TYPED_TEST(QueueTest, CloseRefusesPushesAndDrainsPops) {
    using Q = typename TestFixture::template queue<int>;
    Q q(4);
    ASSERT_TRUE(q.try_push(1));
    ASSERT_TRUE(q.try_push(2));
    ASSERT_TRUE(q.try_push(3));
    EXPECT_FALSE(q.closed());
    q.close();
    q.close();  // idempotent
    EXPECT_TRUE(q.closed());
    EXPECT_FALSE(q.try_push(4));
    EXPECT_FALSE(q.try_emplace(4));
    EXPECT_FALSE(q.push(4));
    EXPECT_FALSE(q.emplace(4));
    EXPECT_EQ(q.push_for(4, 1s), queue_status::closed);
    int v = 0;
    EXPECT_TRUE(q.pop(v));
    EXPECT_EQ(v, 1);
    EXPECT_EQ(q.pop_for(v, 1s), queue_status::ok);
    EXPECT_EQ(v, 2);
    EXPECT_EQ(q.try_pop(), 3);
    EXPECT_FALSE(q.pop(v));
    EXPECT_FALSE(q.pop().has_value());
    EXPECT_FALSE(q.try_pop(v));
    EXPECT_EQ(q.pop_for(v, 1s), queue_status::closed);
    EXPECT_EQ(q.pop_until(v, std::chrono::steady_clock::now() + 1h), queue_status::closed);
}

TYPED_TEST(QueueTest, CloseWakesEveryBlockedPopper) {
    using Q = typename TestFixture::template queue<int>;
    Q q(4);
    // spsc_queue: one consumer at a time, so one blocked popper; mpmc_queue: three.
    const int poppers = std::is_same_v<Q, millrace::mpmc_queue<int>> ? 3 : 1;
    std::atomic<int> returned{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < poppers; ++i) {
        ts.emplace_back([&, i] {
            int v = 0;
            if (i == 0) {
                EXPECT_FALSE(q.pop(v));
            }
            if (i == 1) {
                EXPECT_EQ(q.pop_for(v, 1h), queue_status::closed);
            }
            if (i == 2) {
                EXPECT_FALSE(q.pop().has_value());
            }
            ++returned;
        });
    }
    std::this_thread::sleep_for(50ms);  // let them fall asleep (the test passes either way)
    EXPECT_EQ(returned.load(), 0);
    q.close();
    for (auto& t : ts)
        t.join();
    EXPECT_EQ(returned.load(), poppers);
}

TYPED_TEST(QueueTest, CloseWakesEveryBlockedPusher) {
    using Q = typename TestFixture::template queue<int>;
    Q q(1);
    ASSERT_TRUE(q.try_push(0));
    const int pushers = std::is_same_v<Q, millrace::mpmc_queue<int>> ? 3 : 1;
    std::atomic<int> returned{0};
    std::vector<std::thread> ts;
    for (int i = 0; i < pushers; ++i) {
        ts.emplace_back([&, i] {
            if (i == 0) {
                EXPECT_FALSE(q.push(1));
            }
            if (i == 1) {
                EXPECT_EQ(q.push_for(1, 1h), queue_status::closed);
            }
            if (i == 2) {
                EXPECT_FALSE(q.emplace(1));
            }
            ++returned;
        });
    }
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(returned.load(), 0);
    q.close();
    for (auto& t : ts)
        t.join();
    EXPECT_EQ(returned.load(), pushers);
    EXPECT_EQ(q.try_pop(), 0);  // the item inside survives close
}

// ---- blocking and timed ---------------------------------------------------------------

TYPED_TEST(QueueTest, BlockedPopperWakesOnPushAndBlockedPusherOnPop) {
    using Q = typename TestFixture::template queue<int>;
    Q q(1);
    std::thread popper([&] {
        int v = 0;
        ASSERT_TRUE(q.pop(v));
        EXPECT_EQ(v, 42);
    });
    std::this_thread::sleep_for(30ms);
    ASSERT_TRUE(q.try_push(42));  // a try_ form must wake a blocked pop too
    popper.join();

    ASSERT_TRUE(q.try_push(1));
    std::thread pusher([&] { EXPECT_TRUE(q.push(2)); });
    std::this_thread::sleep_for(30ms);
    EXPECT_EQ(q.try_pop(), 1);  // frees the slot: wakes the pusher
    pusher.join();
    EXPECT_EQ(q.try_pop(), 2);
}

TYPED_TEST(QueueTest, TimedFormsTimeOutOnTimeAndNeverOverflow) {
    using Q = typename TestFixture::template queue<int>;
    Q q(1);
    int v = 0;
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(q.pop_for(v, 30ms), queue_status::timeout);
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, 30ms);
    EXPECT_LT(waited, 2s);
    EXPECT_EQ(q.pop_for(v, 0ms), queue_status::timeout);
    EXPECT_EQ(q.pop_for(v, -5s), queue_status::timeout);
    EXPECT_EQ(q.pop_until(v, std::chrono::system_clock::now() - 1h), queue_status::timeout);
    EXPECT_EQ(q.pop_until(v, std::chrono::system_clock::now() + 20ms), queue_status::timeout);
    ASSERT_TRUE(q.try_push(1));
    t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(q.push_for(2, 30ms), queue_status::timeout);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
    EXPECT_EQ(q.push_until(2, std::chrono::steady_clock::time_point::min()), queue_status::timeout);
    EXPECT_EQ(q.try_pop(), 1);
    // Durations too long to add to now() mean "forever", not an overflowed past deadline.
    std::thread pusher([&] {
        std::this_thread::sleep_for(20ms);
        EXPECT_TRUE(q.push(3));
    });
    EXPECT_EQ(q.pop_for(v, std::chrono::nanoseconds::max()), queue_status::ok);
    EXPECT_EQ(v, 3);
    pusher.join();
    std::thread pusher2([&] {
        std::this_thread::sleep_for(20ms);
        EXPECT_TRUE(q.push(4));
    });
    EXPECT_EQ(q.pop_for(v, std::chrono::hours::max()), queue_status::ok);
    EXPECT_EQ(v, 4);
    pusher2.join();
    std::thread pusher3([&] {
        std::this_thread::sleep_for(20ms);
        EXPECT_TRUE(q.push(5));
    });
    EXPECT_EQ(q.pop_until(v, std::chrono::system_clock::time_point::max()), queue_status::ok);
    EXPECT_EQ(v, 5);
    pusher3.join();
}

// A waiter blocked for 200 ms sleeps in the kernel: under 5 ms of its own CPU time.
TYPED_TEST(QueueTest, BlockedWaiterUsesAlmostNoCpu) {
    using Q = typename TestFixture::template queue<int>;
    Q q(1);
    double timed_ms = 0, woken_ms = 0;
    std::thread waiter([&] {
        int v = 0;
        const double c0 = thread_cpu_ms();
        EXPECT_EQ(q.pop_for(v, 200ms), queue_status::timeout);
        timed_ms = thread_cpu_ms() - c0;
        const double c1 = thread_cpu_ms();
        EXPECT_TRUE(q.pop(v));  // blocks ~200 ms until the push below
        woken_ms = thread_cpu_ms() - c1;
    });
    std::this_thread::sleep_for(400ms);
    ASSERT_TRUE(q.try_push(1));
    waiter.join();
    EXPECT_LT(timed_ms, 5.0);
    EXPECT_LT(woken_ms, 5.0);
    // And a blocked pusher.
    ASSERT_TRUE(q.try_push(2));
    double push_ms = 0;
    std::thread pusher([&] {
        const double c0 = thread_cpu_ms();
        EXPECT_EQ(q.push_for(2, 200ms), queue_status::timeout);
        push_ms = thread_cpu_ms() - c0;
    });
    pusher.join();
    EXPECT_LT(push_ms, 5.0);
}

// With nobody asleep, a million pushes and pops make no wake-up system call.
TYPED_TEST(QueueTest, NoWakeupCallsWithoutSleepers) {
    using Q = typename TestFixture::template queue<int>;
    Q q(64);
    auto& calls = millrace::detail::event_count_wake_calls();
    const auto before = calls.load();
    for (int i = 0; i < 1'000'000; ++i) {
        if (i % 2 == 0) {
            ASSERT_TRUE(q.try_push(i));
            ASSERT_TRUE(q.try_pop().has_value());
        } else {
            ASSERT_TRUE(q.push(i));
            int v;
            ASSERT_TRUE(q.pop(v));
        }
    }
    int block[16];
    for (int i = 0; i < 1000; ++i) {
        std::vector<int> in(16, i);
        (void)q.try_push_bulk(in.begin(), in.end());
        ASSERT_EQ(q.try_pop_bulk(block, 16), 16u);
    }
    EXPECT_EQ(calls.load() - before, 0u);

    // The hook itself works: a push to a sleeping popper makes a call.
    std::thread popper([&] { EXPECT_TRUE(q.pop().has_value()); });
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(q.try_push(1));
    popper.join();
    EXPECT_GE(calls.load() - before, 1u);
}

// ---- publication ----------------------------------------------------------------------

// An item must not be visible to consumers before its value exists. The probe's move
// constructor runs while the producer holds the slot (after the claim, before the
// publish) and tries to pop that very item from the same thread: deterministic, no race.
struct probe;
inline std::optional<probe> (*probe_try_pop)() = nullptr;
inline int probe_seen_early = 0;
struct probe {
    std::uint64_t value = 0;
    std::uint64_t check = ~std::uint64_t{0};
    explicit probe(std::uint64_t v) : value(v), check(~v) {}
    probe(probe&& o) noexcept {
        static thread_local bool inside = false;
        if (probe_try_pop != nullptr && !inside) {
            inside = true;
            if (probe_try_pop().has_value()) ++probe_seen_early;
            inside = false;
        }
        value = o.value;
        check = o.check;
    }
    probe& operator=(probe&& o) noexcept {
        value = o.value;
        check = o.check;
        return *this;
    }
};

TYPED_TEST(QueueTest, ItemIsPublishedOnlyAfterItsValueIsBuilt) {
    using Q = typename TestFixture::template queue<probe>;
    static Q* q = nullptr;
    Q queue(4);
    q = &queue;
    probe_seen_early = 0;
    for (std::uint64_t i = 1; i <= 10; ++i) {
        probe_try_pop = [] { return q->try_pop(); };
        const bool pushed = q->try_push(probe(i));
        probe_try_pop = nullptr;
        ASSERT_TRUE(pushed);
        ASSERT_EQ(probe_seen_early, 0) << "an item was poppable while its value was being constructed";
        auto p = q->try_pop();
        ASSERT_TRUE(p.has_value());
        EXPECT_EQ(p->value, i);
        EXPECT_EQ(p->check, ~i);
    }
    q = nullptr;
}

// A payload written non-atomically and checked by a consumer on another thread: a
// publish that is not a release (or comes before the value) shows as a torn or stale
// payload here, and as a data race under ThreadSanitizer.
TYPED_TEST(QueueTest, PayloadWrittenByProducerIsSeenWhole) {
    using Q = typename TestFixture::template queue<probe>;
    Q q(16);
    constexpr std::uint64_t n = 20'000;
    std::thread consumer([&] {
        for (std::uint64_t i = 1; i <= n; ++i) {
            std::optional<probe> p;
            while (!(p = q.try_pop()))
                std::this_thread::yield();
            ASSERT_EQ(p->value, i);
            ASSERT_EQ(p->check, ~i);
        }
    });
    for (std::uint64_t i = 1; i <= n; ++i) {
        while (!q.try_push(probe(i)))
            std::this_thread::yield();
    }
    consumer.join();
}

TYPED_TEST(QueueTest, SizeAndEmptyTrackContents) {
    using Q = typename TestFixture::template queue<int>;
    Q q(3);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.size(), 0u);
    for (int round = 0; round < 10; ++round) {
        ASSERT_TRUE(q.try_push(1));
        EXPECT_EQ(q.size(), 1u);
        ASSERT_TRUE(q.try_push(2));
        ASSERT_TRUE(q.try_push(3));
        EXPECT_EQ(q.size(), 3u);
        EXPECT_FALSE(q.empty());
        (void)q.try_pop();
        EXPECT_EQ(q.size(), 2u);
        (void)q.try_pop();
        (void)q.try_pop();
        EXPECT_TRUE(q.empty());
    }
}

}  // namespace
