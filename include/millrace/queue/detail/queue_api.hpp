// millrace/queue/detail/queue_api.hpp: the public layer that mpmc_queue and spsc_queue
// share: the try_* wrappers, the bulk forms, the blocking and timed forms, close(),
// closed(), capacity() and empty(). One copy over both rings, so a fix to one of these
// forms reaches both queues.
//
// CRTP: queue_api<Derived, T> holds no state and calls the derived queue's private
// primitives (the derived class declares it a friend):
//   push_with(build)      one push that constructs the value in place with build(void*)
//                         (must not throw), no wake-up; false when full or closed
//   pop_with(take)        one pop into take (must not throw), no wake-up; false when empty
//   push_in_flight() / pop_in_flight()
//                         seq_cst re-check after a failed try: the other side is part-way
//                         through an operation that changes the outcome (do not sleep)
//   wait_settle           how long a registered waiter keeps re-checking before it sleeps
//   not_empty_, not_full_ (padded<event_count>), closed_ (atomic<bool>), capacity_
// and its public size(). The base adds emplace_one (build before the claim unless that
// cannot throw), notify_pushed/notify_popped (one wake-up after a successful try) and the
// blocking loops push_wait/pop_wait/pop_into. Everything that touches the ring (and every memory order) stays
// in the derived queue; its header documents what these guarantees rest on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "millrace/queue/detail/blocking.hpp"
#include "millrace/queue/queue_status.hpp"

namespace millrace::detail {

template <class Derived, class T>
class queue_api {
    // Checked here, in the base, so the clear message comes ahead of the errors that the
    // declarations below give for such a T; both queues share these rules.
    static_assert(
        std::is_object_v<T> && !std::is_array_v<T> && !std::is_const_v<T> && !std::is_volatile_v<T>,
        "millrace::mpmc_queue/spsc_queue<T>: T must be a plain object type (not a reference, array or "
        "const type)");
    static_assert(
        std::is_nothrow_move_constructible_v<T>,
        "millrace::mpmc_queue/spsc_queue<T>: T must have a noexcept move constructor, because an item "
        "that throws while it moves into or out of the queue would be lost");
    static_assert(std::is_nothrow_destructible_v<T>,
                  "millrace::mpmc_queue/spsc_queue<T>: T must have a noexcept destructor");

public:
    using size_type = std::size_t;

    // ---- non-blocking -----------------------------------------------------------------
    /// false when full or closed; a failed push leaves its argument untouched.
    [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>) {
        return this->notify_pushed(this->emplace_one(v));
    }
    [[nodiscard]] bool try_push(T&& v) noexcept {
        return this->notify_pushed(this->emplace_one(std::move(v)));
    }
    /// Builds the value before it claims a slot (a throwing constructor leaves the queue as
    /// it was); a T that is nothrow-constructible from the arguments is built in place.
    template <class... A>
    requires std::is_constructible_v<T, A...>
    [[nodiscard]] bool try_emplace(A&&... a) noexcept(std::is_nothrow_constructible_v<T, A...>) {
        return this->notify_pushed(this->emplace_one(std::forward<A>(a)...));
    }

    /// false / nullopt when empty. If T's move assignment throws (out-parameter form), the
    /// exception propagates and that one item is lost; the queue stays consistent.
    [[nodiscard]] bool try_pop(T& out) noexcept(
        std::is_nothrow_move_assignable_v<T>) requires std::is_move_assignable_v<T> {
        if constexpr (std::is_nothrow_move_assignable_v<T>) {
            return this->notify_popped(self().pop_with([&](T& v) noexcept { out = std::move(v); }));
        } else {
            std::optional<T> v = try_pop();
            if (!v) return false;
            out = std::move(*v);
            return true;
        }
    }
    [[nodiscard]] std::optional<T> try_pop() noexcept {
        std::optional<T> r;
        this->notify_popped(self().pop_with([&](T& v) noexcept { r.emplace(std::move(v)); }));
        return r;
    }

    /// Pushes the longest prefix of [first, last) that fits (copying lvalues, moving what a
    /// move_iterator yields) and returns the end of that prefix. One wake-up for all.
    template <std::input_iterator It, std::sentinel_for<It> S>
    It try_push_bulk(It first, S last) {
        std::size_t n = 0;
        for (; first != last; ++first, ++n) {
            if (!this->emplace_one(*first)) break;
        }
        if (n != 0) self().not_empty_->notify(n > INT32_MAX ? INT32_MAX : static_cast<int>(n));
        return first;
    }
    /// Pops up to max items into out (any output iterator); returns how many.
    template <class Out>
    std::size_t try_pop_bulk(Out out, std::size_t max) {
        std::size_t n = 0;
        if constexpr (noexcept(*out = std::declval<T&&>())&& noexcept(++out)) {
            while (n < max && self().pop_with([&](T& v) noexcept {
                *out = std::move(v);
                ++out;
            }))
                ++n;
        } else {
            while (n < max) {
                std::optional<T> v;
                if (!self().pop_with([&](T& x) noexcept { v.emplace(std::move(x)); })) break;
                ++n;
                *out = std::move(*v);
                ++out;
            }
        }
        if (n != 0) self().not_full_->notify(n > INT32_MAX ? INT32_MAX : static_cast<int>(n));
        return n;
    }

    // ---- blocking and timed -----------------------------------------------------------
    /// Blocks while full; false only when closed (before or while waiting).
    bool push(const T& v) {
        if constexpr (std::is_nothrow_copy_constructible_v<T>) {
            return push_wait(v, detail::no_deadline{}) == queue_status::ok;
        } else {
            T tmp(v);
            return push(std::move(tmp));
        }
    }
    bool push(T&& v) noexcept { return push_wait(std::move(v), detail::no_deadline{}) == queue_status::ok; }
    template <class... A>
    requires std::is_constructible_v<T, A...>
    bool emplace(A&&... a) noexcept(std::is_nothrow_constructible_v<T, A...>) {
        T tmp(std::forward<A>(a)...);
        return push(std::move(tmp));
    }
    /// ok, timeout (still full at the deadline) or closed; v is untouched unless ok.
    template <class R, class P>
    [[nodiscard]] queue_status push_for(T&& v, std::chrono::duration<R, P> timeout) {
        return push_until(std::move(v), detail::steady_after(timeout));
    }
    template <class C, class D>
    [[nodiscard]] queue_status push_until(T&& v, std::chrono::time_point<C, D> deadline) {
        return push_wait(std::move(v), detail::clock_deadline<C, D>{deadline});
    }

    /// Blocks while empty; false / nullopt once closed and drained.
    bool pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>) requires std::is_move_assignable_v<T> {
        return pop_into(out, detail::no_deadline{}) == queue_status::ok;
    }
    std::optional<T> pop() noexcept {
        std::optional<T> r;
        (void)pop_wait([&](T& v) noexcept { r.emplace(std::move(v)); }, detail::no_deadline{});
        return r;
    }
    /// ok, timeout (still empty at the deadline) or closed (closed and drained).
    template <class R, class P>
    requires std::is_move_assignable_v<T>
    [[nodiscard]] queue_status pop_for(T& out, std::chrono::duration<R, P> timeout) {
        return pop_until(out, detail::steady_after(timeout));
    }
    template <class C, class D>
    requires std::is_move_assignable_v<T>
    [[nodiscard]] queue_status pop_until(T& out, std::chrono::time_point<C, D> deadline) {
        return pop_into(out, detail::clock_deadline<C, D>{deadline});
    }

    // ---- state ------------------------------------------------------------------------
    /// Refuses every later push and wakes every blocked caller: pushers return false /
    /// closed, poppers drain what is left and then return false / closed. A push that
    /// overlaps close() may still land; its item is delivered like any other. Idempotent.
    void close() noexcept {
        self().closed_.store(true, std::memory_order_seq_cst);  // seq_cst: read by waiters after prepare_wait
        self().not_empty_->notify_all();
        self().not_full_->notify_all();
    }
    [[nodiscard]] bool closed() const noexcept { return self().closed_.load(std::memory_order_acquire); }

    [[nodiscard]] size_type capacity() const noexcept { return self().capacity_; }

    [[nodiscard]] bool empty() const noexcept { return self().size() == 0; }

protected:
    // One push, no wake-up. The value is built before the claim unless that cannot throw.
    template <class... A>
    bool emplace_one(A&&... a) noexcept(std::is_nothrow_constructible_v<T, A...>) {
        if constexpr (std::is_nothrow_constructible_v<T, A...>) {
            return self().push_with([&](void* p) noexcept { ::new (p) T(std::forward<A>(a)...); });
        } else {
            T tmp(std::forward<A>(a)...);
            return self().push_with([&](void* p) noexcept { ::new (p) T(std::move(tmp)); });
        }
    }
    bool notify_pushed(bool pushed) noexcept {
        if (pushed) self().not_empty_->notify_one();  // one load when nobody sleeps
        return pushed;
    }
    bool notify_popped(bool popped) noexcept {
        if (popped) self().not_full_->notify_one();
        return popped;
    }
    queue_api() = default;
    ~queue_api() = default;

private:
    // The blocking loop (detail::block_on) over the derived queue's push_with / pop_with,
    // its push_in_flight / pop_in_flight re-checks and its wait_settle, then one wake-up.
    template <class V, class Deadline>
    queue_status push_wait(V&& v, const Deadline& deadline) {
        Derived& q = self();
        const queue_status st = detail::block_on(
            *q.not_full_, q.closed_, false, [&] { return this->emplace_one(std::forward<V>(v)); },
            [&] { return q.push_in_flight(); }, deadline, Derived::wait_settle);
        if (st == queue_status::ok) q.not_empty_->notify_one();
        return st;
    }
    template <class Take, class Deadline>
    queue_status pop_wait(Take&& take, const Deadline& deadline) {
        Derived& q = self();
        const queue_status st = detail::block_on(
            *q.not_empty_, q.closed_, true, [&] { return q.pop_with(take); },
            [&] { return q.pop_in_flight(); }, deadline, Derived::wait_settle);
        if (st == queue_status::ok) q.not_full_->notify_one();
        return st;
    }
    template <class Deadline>
    queue_status pop_into(T& out, const Deadline& deadline) {
        if constexpr (std::is_nothrow_move_assignable_v<T>) {
            return pop_wait([&](T& v) noexcept { out = std::move(v); }, deadline);
        } else {
            std::optional<T> r;
            const queue_status st = pop_wait([&](T& v) noexcept { r.emplace(std::move(v)); }, deadline);
            if (st == queue_status::ok) out = std::move(*r);
            return st;
        }
    }

    Derived& self() noexcept { return static_cast<Derived&>(*this); }
    const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }
};

}  // namespace millrace::detail
