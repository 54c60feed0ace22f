#include "millrace/core/unique_function.hpp"

#include <array>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "support/counting_new.hpp"

namespace {

using millrace::unique_function;

// Counts constructions and destructions of captured state.
struct tracker {
    static inline int live = 0;
    static inline int destroyed = 0;
    bool owner = true;
    tracker() { ++live; }
    tracker(tracker&& o) noexcept {
        ++live;
        o.owner = false;
    }
    tracker(const tracker&) = delete;
    ~tracker() {
        --live;
        if (owner) ++destroyed;
    }
    static void reset() { live = destroyed = 0; }
};

TEST(UniqueFunction, EmptyStateAndBadCall) {
    unique_function<int()> f;
    EXPECT_FALSE(f);
    EXPECT_TRUE(f == nullptr);
    EXPECT_THROW(f(), std::bad_function_call);
    int (*null_fp)() = nullptr;
    unique_function<int()> g(null_fp);
    EXPECT_FALSE(g);
}

TEST(UniqueFunction, CallsWithArgumentsAndResult) {
    unique_function<int(int, int)> add = [](int a, int b) { return a + b; };
    ASSERT_TRUE(add);
    EXPECT_EQ(add(2, 3), 5);
    unique_function<std::string(std::string &&)> take = [](std::string&& s) { return s + "!"; };
    EXPECT_EQ(take(std::string("hi")), "hi!");
    unique_function<int(int)> fp = +[](int x) { return x * 2; };
    EXPECT_EQ(fp(21), 42);
    // Result conversion, as std::function: int -> long, and a discarded result for void.
    unique_function<long()> conv = [] { return 7; };
    EXPECT_EQ(conv(), 7L);
    int called = 0;
    unique_function<void()> discard = [&called] {
        ++called;
        return 3;
    };
    discard();
    EXPECT_EQ(called, 1);
}

TEST(UniqueFunction, SixPointerLambdaNeverAllocates) {
    int a = 0, b = 0, c = 0, d = 0, e = 0, f = 0;
    auto six = [pa = &a, pb = &b, pc = &c, pd = &d, pe = &e, pf = &f] {
        return *pa + *pb + *pc + *pd + *pe + *pf + 6;
    };
    static_assert(sizeof(six) == 48);
    millrace::test::allocation_scope scope;
    {
        unique_function<int()> fn = six;
        unique_function<int()> moved = std::move(fn);
        unique_function<int()> again;
        again = std::move(moved);
        EXPECT_EQ(again(), 6);
    }
    EXPECT_EQ(scope.allocations(), 0u);
}

TEST(UniqueFunction, LargeCallableLivesOnTheHeapAndIsFreed) {
    std::array<char, 256> big{};
    big[0] = 'x';
    millrace::test::allocation_scope scope;
    {
        unique_function<char()> fn = [big] { return big[0]; };
        EXPECT_EQ(scope.allocations(), 1u);
        unique_function<char()> moved = std::move(fn);  // moving a heap callable moves the pointer
        EXPECT_EQ(scope.allocations(), 1u);
        EXPECT_EQ(moved(), 'x');
        EXPECT_FALSE(fn);  // NOLINT: moved-from is empty by contract
    }
    EXPECT_EQ(scope.bytes_live_delta(), 0);
}

TEST(UniqueFunction, MoveOnlyCaptures) {
    auto p = std::make_unique<int>(41);
    unique_function<int()> fn = [p = std::move(p)] { return *p + 1; };
    EXPECT_EQ(fn(), 42);
    unique_function<int()> other = std::move(fn);
    EXPECT_EQ(other(), 42);
    EXPECT_FALSE(fn);  // NOLINT
}

TEST(UniqueFunction, CapturesDestroyedExactlyOnce) {
    tracker::reset();
    {
        unique_function<void()> a = [t = tracker{}] { (void)t; };
        EXPECT_EQ(tracker::destroyed, 0);
        unique_function<void()> b = std::move(a);
        unique_function<void()> c;
        c = std::move(b);
        c.swap(a);
        EXPECT_EQ(tracker::destroyed, 0);
    }
    EXPECT_EQ(tracker::destroyed, 1);
    EXPECT_EQ(tracker::live, 0);

    tracker::reset();
    {
        // Heap-stored: a capture too big for the buffer.
        unique_function<void()> a = [t = tracker{}, pad = std::array<char, 128>{}] {
            (void)t;
            (void)pad;
        };
        unique_function<void()> b = std::move(a);
        b = nullptr;  // destroys now
        EXPECT_EQ(tracker::destroyed, 1);
    }
    EXPECT_EQ(tracker::destroyed, 1);
    EXPECT_EQ(tracker::live, 0);

    tracker::reset();
    {
        unique_function<void()> a = [t = tracker{}] { (void)t; };
        a = [t = tracker{}] { (void)t; };  // assignment destroys the old capture
        EXPECT_EQ(tracker::destroyed, 1);
    }
    EXPECT_EQ(tracker::destroyed, 2);
    EXPECT_EQ(tracker::live, 0);
}

TEST(UniqueFunction, ExceptionsFromTheCallablePropagate) {
    int calls = 0;
    unique_function<void()> fn = [&calls] {
        if (++calls == 1) throw std::runtime_error("first call fails");
    };
    EXPECT_THROW(fn(), std::runtime_error);
    EXPECT_NO_THROW(fn());  // still callable afterwards
    EXPECT_EQ(calls, 2);
}

TEST(UniqueFunction, ThrowingConstructionLeavesTargetUntouched) {
    struct throws_on_copy {
        throws_on_copy() = default;
        throws_on_copy(const throws_on_copy&) { throw std::runtime_error("copy"); }
        throws_on_copy(throws_on_copy&&) noexcept = default;
        int operator()() const { return 1; }
    };
    unique_function<int()> fn = [] { return 7; };
    throws_on_copy src;
    EXPECT_THROW(fn = src, std::runtime_error);
    ASSERT_TRUE(fn);
    EXPECT_EQ(fn(), 7);
}

TEST(UniqueFunction, SelfMoveAssignmentIsHarmless) {
    unique_function<int()> fn = [] { return 3; };
    auto& ref = fn;
    fn = std::move(ref);
    ASSERT_TRUE(fn);
    EXPECT_EQ(fn(), 3);
}

TEST(UniqueFunction, TaskAliasIsVoidNullary) {
    int x = 0;
    millrace::task t = [&x] { x = 5; };
    t();
    EXPECT_EQ(x, 5);
    static_assert(std::is_nothrow_move_constructible_v<millrace::task>);
    static_assert(std::is_nothrow_move_assignable_v<millrace::task>);
    static_assert(!std::is_copy_constructible_v<millrace::task>);
}

}  // namespace
