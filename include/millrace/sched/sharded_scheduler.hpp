// millrace/sched/sharded_scheduler.hpp: delayed and recurring tasks over S independent shards.
//
// sharded_scheduler<Task, Clock> hands each task to a sink (any callable taking Task&&) when it
// falls due. Each shard is a timing wheel fed by an unbounded lock-free multi-producer inbox and
// driven by its own thread (or, with `manual = true`, by the caller's poll(now)). The design,
// the cron rules in full, the memory bounds and the measurements are in docs/scheduler.md.
//
// Guarantees
//  - Never early: a task due at t fires at the first wheel advance at or after t rounded up to
//    the tick (ticks count from the clock's time at construction).
//  - Exactly once for a one-shot task, unless cancel() returned true for it: then never.
//  - Within one shard, wheel timers fire in due-tick order; a task that reaches its shard
//    already due fires in the pass that moves it. No order across shards or within a tick.
//  - Producers never block and, before stop(), schedule calls never fail (bar std::bad_alloc).
//  - Recurring: schedule_every fires at start + n*period without drift, missed firings
//    coalesced into one; schedule_cron fires at the expression's wall times, re-checking the
//    wall clock at least every second, never firing a wall time twice.
//  - cancel(handle) from any thread: true when the task will not fire again. Handles are
//    values (shard, slot, generation), valid forever; stale ones do nothing.
//  - A sleeping shard is signalled only by a task due before its next expiry (or every
//    wake_batch-th call of a thread); idle shards sleep without a timeout.
//  - No allocation in steady state; cancelled entries are recycled within a stated bound.
//  - The sink runs on the shard's thread (poll's caller in manual mode), concurrently for
//    different shards; what a sink or task factory throws goes to on_error.
//  - stop() joins the threads and destroys every pending task once; stop_and_take() hands the
//    pending one-shot tasks back instead. The destructor must not run in a sink.
//
// Memory ordering: release/acquire pairs are labelled (Rn)/(An); the wake-up handshake is a
// store-load (Dekker) pair on seq_cst operations labelled (S1)/(S2), the cancel backlog's
// (S3)/(S4), stop() against a running poll (S5).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "millrace/core/cache.hpp"
#include "millrace/core/detail/planted.hpp"
#include "millrace/core/unique_function.hpp"
#include "millrace/sched/cron.hpp"
#include "millrace/sched/detail/mpsc_inbox.hpp"
#include "millrace/sched/detail/node_slab.hpp"
#include "millrace/sched/detail/recurrence.hpp"
#include "millrace/sched/detail/scheduler_entry.hpp"
#include "millrace/sched/scheduler_types.hpp"
#include "millrace/time/clock.hpp"
#include "millrace/time/timing_wheel.hpp"

namespace millrace {

namespace detail {

template <class T>
inline constexpr bool is_task_factory = false;
template <class F>
inline constexpr bool is_task_factory<task_factory_t<F>> = true;

template <class Clock>
concept chrono_backed_clock = requires {
    typename Clock::clock;
}
&&std::chrono::is_clock_v<typename Clock::clock>&&
    std::same_as<typename Clock::time_point, typename Clock::clock::time_point>;

// A small index per thread, assigned once at the thread's first schedule call. The shared
// counter is touched once per thread, never on the hot path.
inline std::size_t this_thread_index() noexcept {
    static std::atomic<std::size_t> counter{0};
    thread_local const std::size_t index = counter.fetch_add(1, std::memory_order_relaxed);
    return index;
}

// Per-thread count of schedule calls, for the wake_batch rule.
struct wake_batch_counter {
    const void* owner = nullptr;
    std::size_t count = 0;
};
inline thread_local wake_batch_counter tl_wake_batch{};

// The scheduler whose shard loop runs on this thread (null elsewhere): stop() from a sink
// must not join its own thread.
inline thread_local const void* tl_shard_owner = nullptr;

}  // namespace detail

/// Delayed, recurring and cron tasks from any thread, fired on the shard threads (or by poll()).
template <class Task, class Clock = steady_clock_policy>
requires clock_policy<Clock>
class sharded_scheduler {
    static_assert(std::is_nothrow_move_constructible_v<Task>,
                  "sharded_scheduler: Task must be nothrow-move-constructible");
    static_assert(std::is_nothrow_destructible_v<Task>,
                  "sharded_scheduler: Task must be nothrow-destructible");

public:
    /// The task type the sink receives.
    using task_type = Task;
    /// The clock policy delays are measured by.
    using clock_type = Clock;
    /// A time of the clock policy.
    using time_point = typename Clock::time_point;
    /// A duration of the clock policy.
    using duration = typename Clock::duration;
    /// A wall-clock time, for cron schedules.
    using sys_time_point = std::chrono::system_clock::time_point;
    /// The constructor's options.
    using options = scheduler_options<Clock>;

private:
    using recurrence = detail::recurrence<Task, Clock>;
    using entry = detail::scheduler_entry<Task, time_point, recurrence>;
    using wheel_type = timing_wheel<entry*>;

public:
    /// Throws std::invalid_argument for a non-positive tick or a zero initial_capacity,
    /// cancel_reclaim_threshold or wake_batch; std::system_error when a thread cannot start.
    template <class Sink>
    requires std::is_invocable_v<Sink&, Task&&>
    explicit sharded_scheduler(Sink sink, options opts = {})
        : opts_(std::move(opts)), sink_(std::move(sink)), conv_(opts_.clock.now(), check_tick(opts_.tick)) {
        if (opts_.initial_capacity == 0)
            throw std::invalid_argument("sharded_scheduler: initial_capacity must be positive");
        if (opts_.cancel_reclaim_threshold == 0)
            throw std::invalid_argument("sharded_scheduler: cancel_reclaim_threshold must be positive");
        if (opts_.wake_batch == 0)
            throw std::invalid_argument("sharded_scheduler: wake_batch must be positive");
        if (opts_.shards == 0) opts_.shards = std::max(1u, std::thread::hardware_concurrency());
        if (opts_.shards > 0xFFFF'FFFFu) throw std::invalid_argument("sharded_scheduler: too many shards");
        if (!opts_.wall_clock) opts_.wall_clock = [] { return std::chrono::system_clock::now(); };
        shards_.reserve(opts_.shards);
        for (std::size_t i = 0; i < opts_.shards; ++i)
            shards_.push_back(std::make_unique<shard>(opts_.initial_capacity));
        if (!opts_.manual) {
            try {
                for (std::size_t i = 0; i < shards_.size(); ++i)
                    shards_[i]->thread = std::thread([this, i] { run(*shards_[i]); });
            } catch (...) {
                stop();
                throw;
            }
        }
    }

    sharded_scheduler(const sharded_scheduler&) = delete;
    sharded_scheduler& operator=(const sharded_scheduler&) = delete;

    /// Must not run in a sink (on a shard thread or inside poll): it terminates there.
    ~sharded_scheduler() {
        if (detail::tl_shard_owner == this || polling_.load(std::memory_order_relaxed)) {
            std::fputs("millrace::sharded_scheduler: destroyed from its own sink\n", stderr);
            std::terminate();
        }
        stop();
        for (auto& s : shards_)
            cleanup(*s);  // tasks of schedule calls that raced with stop()
    }

    // ---- scheduling ------------------------------------------------------------------

    /// Schedules `t` to fire at `tp` (a past `tp` fires at the next wake-up / poll).
    /// Never blocks; throws std::bad_alloc only when memory is exhausted.
    [[nodiscard("keep the handle to cancel")]] schedule_handle schedule_at(time_point tp, Task t) {
        if (stopped_.load(std::memory_order_acquire)) return {};
        auto [s, index] = pick();
        entry* e = s.slab.allocate();
        ::new (static_cast<void*>(e->task_buf)) Task(std::move(t));
        e->due = tp;
        e->rec = nullptr;
        return publish(s, index, e, tp, false);
    }

    /// schedule_at(clock.now() + d, t), saturating: a sum past time_point::max() is
    /// time_point::max() (such a task never fires before stop()), one below min() is min()
    /// (it fires at the next wake-up / poll).
    template <class Rep, class Period>
    [[nodiscard("keep the handle to cancel")]] schedule_handle schedule_after(
        std::chrono::duration<Rep, Period> d, Task t) {
        return schedule_at(add_saturating(opts_.clock.now(), d), std::move(t));
    }

    /// Fires a new Task copied from `fn` at now + n*period for n = 1, 2, ... (see the header
    /// comment for coalescing). `fn` is any copyable callable or value that a Task can be
    /// constructed from (a lambda for a move-only millrace::task, or a copyable Task itself);
    /// for one that is not copyable, pass millrace::task_factory (a static_assert says so).
    /// Throws std::invalid_argument when period is not positive or now + period is not
    /// representable in the clock (saturated).
    template <class Rep, class Period, class T>
    requires(!detail::is_task_factory<std::remove_cvref_t<T>>)
        [[nodiscard("keep the handle to cancel")]] schedule_handle
        schedule_every(std::chrono::duration<Rep, Period> period, T&& fn) {
        return schedule_every(period, copy_per_firing(std::forward<T>(fn)));
    }

    /// As above, with a fresh Task from `factory.make()` per firing.
    template <class Rep, class Period, class F>
    requires std::is_invocable_r_v<Task, F&>
    [[nodiscard("keep the handle to cancel")]] schedule_handle schedule_every(
        std::chrono::duration<Rep, Period> period, task_factory_t<F> factory) {
        if (period <= period.zero())
            throw std::invalid_argument("sharded_scheduler::schedule_every: period must be positive");
        const time_point now = opts_.clock.now();
        if (add_saturating(now, period) == time_point::max())
            throw std::invalid_argument("sharded_scheduler::schedule_every: period too long for the clock");
        const auto p = std::chrono::ceil<duration>(period);
        if (stopped_.load(std::memory_order_acquire)) return {};
        auto rec = std::make_unique<recurrence>();
        rec->make = std::move(factory.make);
        rec->start = now;
        rec->period = p;
        const time_point first = rec->start + p;
        return publish_recurring(std::move(rec), first);
    }

    /// Fires a new Task copied from `fn` (as schedule_every) at each wall time `expr`
    /// matches (Vixie-cron semantics of millrace::cron_expression, or any type with
    /// `optional<system time_point> next_after(system time_point) const`). Empty handle when it
    /// never matches.
    template <class Cron, class T>
    requires detail::cron_schedule<Cron> &&(!detail::is_task_factory<std::remove_cvref_t<T>>)
        [[nodiscard("keep the handle to cancel")]] schedule_handle schedule_cron(const Cron& expr, T&& fn) {
        return schedule_cron(expr, copy_per_firing(std::forward<T>(fn)));
    }

    /// As above, with a fresh Task from `factory.make()` per firing.
    template <class Cron, class F>
    requires detail::cron_schedule<Cron> && std::is_invocable_r_v<Task, F&>
    [[nodiscard("keep the handle to cancel")]] schedule_handle schedule_cron(const Cron& expr,
                                                                             task_factory_t<F> factory) {
        if (stopped_.load(std::memory_order_acquire)) return {};
        auto rec = std::make_unique<recurrence>();
        rec->make = std::move(factory.make);
        rec->next_wall = [c = expr](sys_time_point t) { return c.next_after(t); };
        const sys_time_point wall = opts_.wall_clock();
        const auto first = rec->next_wall(wall);
        if (!first) return {};
        rec->last_wall = *first;
        const time_point due = opts_.clock.now() + detail::cron_wait(conv_.tick(), *first - wall);
        return publish_recurring(std::move(rec), due);
    }

    /// True when the task will not fire again (see the header comment). Any thread; noexcept.
    [[nodiscard]] bool cancel(schedule_handle h) noexcept {
        if (!h || h.shard >= shards_.size()) return false;
        shard& s = *shards_[h.shard];
        entry* e = s.slab.find(h.slot);
        if (e == nullptr) return false;
        std::uint64_t st = e->state.load(std::memory_order_acquire);  // (A5)
        std::uint64_t kind;
        for (;;) {
            if ((st >> detail::generation_shift) != h.generation) return false;
            switch (st & detail::kind_mask) {
                case detail::k_queued:
                    kind = detail::k_cancelled_queued;
                    break;
                case detail::k_armed:
                    kind = detail::k_cancelled;
                    break;
                case detail::k_firing:
                    if ((st & detail::recurring_bit) == 0) return false;
                    kind = detail::k_cancelled_firing;
                    break;
                default:
                    return false;
            }
            if constexpr (detail::planted("cancel_ignored"))
                if (kind == detail::k_cancelled) return true;  // fires anyway
            // acq_rel: (A5) as above; release so the shard's acquire of the state sees nothing
            // new from us (cancel writes no payload), kept for symmetry with the shard's CASes.
            if (e->state.compare_exchange_weak(st, (st & ~detail::kind_mask) | kind,
                                               std::memory_order_acq_rel, std::memory_order_acquire))
                break;
        }
        s.cancelled.fetch_add(1, std::memory_order_relaxed);
        if (kind == detail::k_cancelled) {
            entry* head = s.cancel_head.load(std::memory_order_relaxed);
            do {
                e->cancel_next.store(head, std::memory_order_relaxed);
                // (R6) publishes cancel_next; pairs with the shard's exchange (A6).
            } while (!s.cancel_head.compare_exchange_weak(head, e, std::memory_order_release,
                                                          std::memory_order_relaxed));
            // seq_cst: (S3) store half; the shard re-checks the backlog after publishing its
            // sleep (S4). >=, not ==: cancels landing during a reclaim walk still wake it.
            if (s.cancel_backlog.fetch_add(1, std::memory_order_seq_cst) + 1 >=
                opts_.cancel_reclaim_threshold)
                claim_wake(s);
        }
        return true;
    }

    // ---- driving -----------------------------------------------------------------------

    /// Manual mode: delivers every task due at `now` on the calling thread; returns the number
    /// of sink calls. A `now` earlier than an earlier poll's counts as that one (time never
    /// goes back). Tasks scheduled by other threads while poll runs may wait for the next poll. One caller at
    /// a time. Throws std::logic_error when the scheduler runs its own threads or when called concurrently.
    /// Returns 0 after stop().
    std::size_t poll(time_point now) {
        if (!opts_.manual) throw std::logic_error("sharded_scheduler::poll: only in manual mode");
        if (polling_.exchange(true, std::memory_order_acquire))
            throw std::logic_error("sharded_scheduler::poll: called concurrently");
        struct release_flag {
            sharded_scheduler& self;
            ~release_flag() {
                // seq_cst: against stop()'s read of polling_ (S5): a stop() that saw poll
                // running left the cleanup to this poll, which then sees stopped_.
                self.polling_.store(false, std::memory_order_seq_cst);
                if (self.stopped_.load(std::memory_order_seq_cst)) self.finish_stop();
            }
        } guard{*this};
        if (stopped_.load(std::memory_order_acquire)) return 0;
        now = std::max(now, last_poll_);  // time never goes back for the wheels and grids
        last_poll_ = now;
        std::size_t n = 0;
        for (auto& sp : shards_) {
            if (stopped_.load(std::memory_order_relaxed)) break;  // a sink called stop()
            shard& s = *sp;
            n += process(s, now).delivered;
            publish_sleep(s, s.wheel.next_expiry().value_or(no_expiry));
        }
        return n;
    }

    /// Tasks scheduled and not yet fired for the last time nor cancelled. A snapshot that scans
    /// every slab: O(capacity), for tests and diagnostics.
    std::size_t pending() const noexcept {
        std::size_t n = 0;
        for (const auto& s : shards_)
            s->slab.for_each([&](const entry& e) {
                const auto k = e.state.load(std::memory_order_relaxed) & detail::kind_mask;
                n += (k == detail::k_queued || k == detail::k_armed || k == detail::k_firing) ? 1 : 0;
            });
        return n;
    }

    /// The counters of every shard added up (relaxed snapshots; see scheduler_stats).
    scheduler_stats stats() const noexcept {
        scheduler_stats r;
        for (const auto& s : shards_) {
            r.wakeups += s->wakeups.load(std::memory_order_relaxed);
            r.moved += s->moved.load(std::memory_order_relaxed);
            r.fired += s->fired.load(std::memory_order_relaxed);
            r.cancelled += s->cancelled.load(std::memory_order_relaxed);
            r.reclaimed += s->reclaimed.load(std::memory_order_relaxed);
            r.capacity += s->slab.capacity();
        }
        return r;
    }

    /// Joins the shard threads, then destroys every pending task. Idempotent; later schedule
    /// calls return an empty handle. From a sink it only requests the stop: no further task
    /// fires, and the join and cleanup are left to the end of the poll (manual mode) or to
    /// the destructor or a stop() from another thread (threaded mode).
    void stop() noexcept {
        request_stop();
        // From a shard thread: joining would join itself. Inside poll: poll cleans up last.
        if (detail::tl_shard_owner == this || polling_.load(std::memory_order_seq_cst)) return;  // (S5)
        finish_stop();
    }

    /// stop(), handing each pending one-shot task to `on_pending(Task&&)` (or
    /// `on_pending(Task&&, time_point due)`) on the calling thread, after the shard threads are
    /// joined, instead of destroying it; in no particular order. Recurring schedules are
    /// dropped (their task or factory destroyed), as are cancelled tasks. Returns the number
    /// handed over: 0 when the scheduler had already stopped (stop() destroyed them). What
    /// on_pending throws goes to the error handler and the rest are still handed over.
    /// Throws std::logic_error from a sink or while a poll runs.
    template <class F>
    requires std::is_invocable_v<F&, Task&&> || std::is_invocable_v<F&, Task&&, time_point> std::size_t
    stop_and_take(F&& on_pending) {
        if (detail::tl_shard_owner == this || polling_.load(std::memory_order_seq_cst))  // (S5)
            throw std::logic_error("sharded_scheduler::stop_and_take: called from a sink or during a poll");
        request_stop();
        std::size_t n = 0;
        finish_stop([&](Task&& t, time_point due) noexcept {
            ++n;
            try {
                if constexpr (std::is_invocable_v<F&, Task&&, time_point>)
                    on_pending(std::move(t), due);
                else
                    on_pending(std::move(t));
            } catch (...) {
                report(std::current_exception(), "stop_and_take's callback");
            }
        });
        return n;
    }

    /// The number of shards (options.shards, or the hardware threads when that was 0).
    std::size_t shard_count() const noexcept { return shards_.size(); }
    /// The wheel resolution: a task fires at the first tick boundary at or after its due time.
    duration tick() const noexcept { return conv_.tick(); }
    /// The clock the scheduler reads (a manual_clock copy shares the caller's time).
    const Clock& clock() const noexcept { return opts_.clock; }
    /// True when the caller drives the shards with poll() (no threads).
    bool manual() const noexcept { return opts_.manual; }

private:
    // The factory of a recurring schedule given a callable or value: a new Task from a copy per
    // firing. A type that cannot be copied into a Task stops here with a message that names
    // the fix.
    template <class T>
    static auto copy_per_firing(T&& fn) {
        using F = std::decay_t<T>;
        static_assert(
            std::is_copy_constructible_v<F> && std::is_constructible_v<Task, const F&>,
            "sharded_scheduler: a recurring task is copied into a new Task per firing, so it must be "
            "copyable and convert to Task; for a move-only one, pass "
            "millrace::task_factory([] { return Task(...); })");
        if constexpr (std::is_copy_constructible_v<F> && std::is_constructible_v<Task, const F&>)
            return task_factory([f = F(std::forward<T>(fn))] { return Task(f); });
        else
            return task_factory([]() -> Task { std::terminate(); });  // never built: the assert failed
    }

    void request_stop() noexcept {
        if (stopped_.exchange(true, std::memory_order_seq_cst)) return;  // (S5) store half
        for (auto& s : shards_) {
            std::lock_guard lk(s->mutex);
            s->stopping.store(true, std::memory_order_relaxed);  // the mutex orders it
            s->wake_pending = true;
            notify(*s);
        }
    }

    static constexpr auto discard_pending = [](Task&&, time_point) noexcept {};

    // Joins the shard threads and empties the shards; `take(Task&&, due)` receives each
    // pending one-shot task before it is destroyed.
    void finish_stop() noexcept { finish_stop(discard_pending); }
    template <class Take>
    void finish_stop(Take&& take) noexcept {
        std::lock_guard lock(stop_mutex_);
        for (auto& s : shards_)
            if (s->thread.joinable()) s->thread.join();
        for (auto& s : shards_)
            cleanup(*s, take);
    }

    static constexpr std::uint64_t no_expiry = std::numeric_limits<std::uint64_t>::max();
    using rep_type = typename duration::rep;
    static_assert(std::is_integral_v<rep_type>, "sharded_scheduler: the clock's rep must be integral");
    static constexpr rep_type awake = std::numeric_limits<rep_type>::min();

    struct alignas(detail::cache_line) shard {
        // The wheel's pools are sized like the slab: initial_capacity pending timers per shard
        // never make the shard allocate either.
        // Its memory is touched here too (a dummy fill of the wheel, then clear), so the first
        // tasks scheduled do not pay the page faults.
        explicit shard(std::size_t cap) : slab(cap) {
            wheel.reserve(cap);
            for (std::size_t i = 0; i < cap; ++i)
                (void)wheel.insert(i, nullptr);
            wheel.clear();
            expired.reserve(std::min<std::size_t>(cap, 4096));
        }

        detail::node_slab<entry> slab;
        detail::mpsc_inbox inbox;
        // Published by the shard: a task due at or before this time must wake it. `awake`
        // (the lowest rep) while the shard runs; the highest rep when nothing is pending.
        // A time, not a tick, so that the producer's check costs no division.
        alignas(detail::cache_line) std::atomic<rep_type> wake_before{std::numeric_limits<rep_type>::max()};
        alignas(detail::cache_line) std::atomic<entry*> cancel_head{nullptr};
        std::atomic<std::size_t> cancel_backlog{0};
        std::atomic<std::uint64_t> wakeups{0};
        std::atomic<std::uint64_t> cancelled{0};
        // Shard-side (written by the shard thread or poll's caller only).
        alignas(detail::cache_line) wheel_type wheel;
        std::vector<entry*> expired;
        entry* retry = nullptr;  // queued entries whose arming ran out of memory
        std::atomic<std::uint64_t> moved{0};
        std::atomic<std::uint64_t> fired{0};
        std::atomic<std::uint64_t> reclaimed{0};
        entry* release_first = nullptr;  // entries recycled this pass, pushed in one CAS
        entry* release_last = nullptr;
        std::size_t release_count = 0;
        // Sleeping.
        std::mutex mutex;
        std::condition_variable cv;  // chrono-backed clocks
        // Guarded by mutex:
        std::stop_source sleep_stop;        // other clocks: wait_until(tp, token)
        bool wake_pending = false;          // a signal arrived since the shard last slept
        std::atomic<bool> stopping{false};  // written under mutex; read without it by the loop
        // Not guarded: started by the constructor, joined by stop().
        std::thread thread;
    };

    static duration check_tick(duration t) {
        if (t <= duration::zero()) throw std::invalid_argument("sharded_scheduler: tick must be positive");
        return t;
    }

    // t + d without overflow: saturates at time_point::max() / min(). The bound is checked in
    // long double (exact enough: a margin of 2^12 units), the sum itself in integers.
    template <class Rep, class Period>
    static time_point add_saturating(time_point t, std::chrono::duration<Rep, Period> d) noexcept {
        const long double x = std::chrono::duration<long double, typename duration::period>(d).count();
        const long double sum = static_cast<long double>(t.time_since_epoch().count()) + x;
        constexpr long double margin = 4096.0L;
        if (!(sum < static_cast<long double>(std::numeric_limits<rep_type>::max()) - margin))
            return time_point::max();
        if (!(sum > static_cast<long double>(std::numeric_limits<rep_type>::min()) + margin))
            return time_point::min();
        return t + std::chrono::ceil<duration>(d);
    }

    std::pair<shard&, std::uint32_t> pick() noexcept {
        const std::size_t i = detail::this_thread_index() % shards_.size();
        return {*shards_[i], static_cast<std::uint32_t>(i)};
    }

    schedule_handle publish_recurring(std::unique_ptr<recurrence> rec, time_point due) {
        auto [s, index] = pick();
        entry* e = s.slab.allocate();
        e->due = due;
        e->rec = rec.release();
        return publish(s, index, e, due, true);
    }

    schedule_handle publish(shard& s, std::uint32_t index, entry* e, time_point due,
                            bool recurring) noexcept {
        // Relaxed: the entry is ours since allocate()'s (A1); its generation was set by the
        // shard before it released the entry.
        const std::uint64_t gen = e->state.load(std::memory_order_relaxed) >> detail::generation_shift;
        // (R5) publishes the payload to cancel()'s and stop()'s acquire loads (A5).
        e->state.store(
            gen << detail::generation_shift | (recurring ? detail::recurring_bit : 0) | detail::k_queued,
            std::memory_order_release);
        const std::uint32_t slot = e->slot;
        s.inbox.push(e);  // (S1) store half: seq_cst exchange of the inbox tail
        const rep_type when = due.time_since_epoch().count();
        rep_type next = s.wake_before.load(std::memory_order_seq_cst);  // (S1) load half
        if (next != awake) {
            auto& b = detail::tl_wake_batch;
            bool batch = false;
            if (b.owner != static_cast<const void*>(&s) || ++b.count >= opts_.wake_batch) {
                b.owner = &s;
                b.count = 0;
                batch = true;
            }
            // The first producer to claim the wake-up (-> awake) signals; the others see awake
            // and stay silent until the shard publishes again.
            while (next != awake && (when <= next || batch)) {
                if (s.wake_before.compare_exchange_weak(next, awake, std::memory_order_seq_cst)) {
                    wake(s);
                    break;
                }
            }
        }
        return {index, slot, gen};
    }

    // Wakes the shard unless it is awake or another thread already claimed this sleep's
    // wake-up: one signal per sleep. seq_cst: (S3) load half.
    void claim_wake(shard& s) noexcept {
        rep_type next = s.wake_before.load(std::memory_order_seq_cst);
        while (next != awake)
            if (s.wake_before.compare_exchange_weak(next, awake, std::memory_order_seq_cst)) {
                wake(s);
                return;
            }
    }

    // The shard is about to sleep until tick `next` (>= 1 here, or no_expiry): a task due at or
    // before the start of tick next-1 would fire earlier, so it must wake the shard. seq_cst:
    // the store half of (S2).
    void publish_sleep(shard& s, std::uint64_t next) noexcept {
        const rep_type v = next == no_expiry ? std::numeric_limits<rep_type>::max()
                           : next == 0       ? awake
                                             : conv_.to_time(next - 1).time_since_epoch().count();
        s.wake_before.store(v, std::memory_order_seq_cst);
    }

    void notify(shard& s) noexcept {
        if constexpr (detail::chrono_backed_clock<Clock>) {
            s.cv.notify_one();
        } else {
            s.sleep_stop.request_stop();
        }
    }

    void wake(shard& s) noexcept {
        s.wakeups.fetch_add(1, std::memory_order_relaxed);
        if (opts_.manual) return;
        std::lock_guard lk(s.mutex);
        s.wake_pending = true;
        notify(s);
    }

    void report(std::exception_ptr ex, const char* what = "a sink") noexcept {
        try {
            if (opts_.on_error) {
                opts_.on_error(ex);
            } else {
                try {
                    std::rethrow_exception(ex);
                } catch (const std::exception& x) {
                    std::fprintf(stderr, "millrace::sharded_scheduler: %s threw: %s\n", what, x.what());
                } catch (...) {
                    std::fprintf(stderr, "millrace::sharded_scheduler: %s threw a non-exception\n", what);
                }
            }
        } catch (...) {
        }
    }

    // ---- the shard side ----------------------------------------------------------------

    void run(shard& s) {
#if defined(__linux__) && defined(PR_SET_TIMERSLACK)
        if (opts_.timer_slack.count() > 0)
            (void)::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(opts_.timer_slack.count()), 0UL, 0UL,
                          0UL);
#endif
        detail::tl_shard_owner = this;
        unsigned gaps = 0;
        for (;;) {
            bool gap = false;
            try {
                gap = process(s, opts_.clock.now()).gap;
            } catch (...) {
                report(std::current_exception(), "a shard pass");
            }
            if (gap) {  // a producer is between its two push steps: it resumes shortly
                // A producer stalled for good (stopped by a debugger, killed by a signal
                // handler) must not hang stop(): cleanup() scans the slab, inbox or not.
                if (s.stopping.load(std::memory_order_relaxed)) return;
                if (++gaps < 64)
                    std::this_thread::yield();
                else
                    std::this_thread::sleep_for(std::chrono::microseconds(20));
                continue;
            }
            gaps = 0;
            flush_releases(s);
            if (s.stopping.load(std::memory_order_relaxed)) return;
            const std::uint64_t next = s.wheel.next_expiry().value_or(no_expiry);
            // Work left: no sleep, and nothing published (producers keep seeing 0).
            if (!s.inbox.empty() || (next != no_expiry && conv_.to_tick_floor(opts_.clock.now()) >= next))
                continue;
            publish_sleep(s, next);  // (S2) store half
            // (S2)/(S4) load halves: a racing push or cancel is seen here, or it saw the sleep.
            if (s.inbox.empty() &&
                s.cancel_backlog.load(std::memory_order_seq_cst) < opts_.cancel_reclaim_threshold)
                sleep(s, next);
            s.wake_before.store(awake, std::memory_order_relaxed);  // producers need not signal
        }
    }

    void sleep(shard& s, std::uint64_t next) {
        std::unique_lock lk(s.mutex);
        if (!s.wake_pending && !s.stopping) {
            if constexpr (detail::chrono_backed_clock<Clock>) {
                auto woken = [&] { return s.wake_pending || s.stopping; };
                if (next == no_expiry || conv_.to_time(next) == time_point::max())
                    s.cv.wait(lk, woken);
                else
                    s.cv.wait_until(lk, conv_.to_time(next), woken);
            } else {
                s.sleep_stop = std::stop_source{};
                const std::stop_token token = s.sleep_stop.get_token();
                lk.unlock();
                (void)opts_.clock.wait_until(next == no_expiry ? time_point::max() : conv_.to_time(next),
                                             token);
                lk.lock();
            }
        }
        s.wake_pending = false;
    }

    struct pass_result {
        std::size_t delivered;  // sink calls
        bool gap;               // the inbox showed a producer between its two push steps
    };

    // Moves the inbox into the wheel, recycles cancelled entries, fires what is due.
    // A threaded pass moves at most drain_batch inbox items before it fires what is due, so
    // that producers outpacing the shard cannot starve the firing; manual poll drains what
    // was there when it began.
    static constexpr std::size_t drain_batch = 1024;

    pass_result process(shard& s, time_point now) {
        bool gap = false;
        retry_arms(s);
        // Manual: everything in the inbox at entry (at most the slab's capacity then), plus a
        // batch, so producers on other threads cannot keep poll from returning.
        const std::size_t limit = opts_.manual ? s.slab.capacity() + drain_batch : drain_batch;
        for (std::size_t moved = 0; moved < limit; ++moved) {
            detail::inbox_node* n = nullptr;
            const auto r = s.inbox.pop(n);
            if (r == detail::mpsc_inbox::pop_status::item) {
                arm(s, static_cast<entry*>(n));
                continue;
            }
            gap = r == detail::mpsc_inbox::pop_status::gap;
            break;
        }
        reclaim_cancels(s);
        struct clear_on_exit {  // stale pointers must never reach the next pass
            std::vector<entry*>& v;
            ~clear_on_exit() { v.clear(); }
        } clear_expired{s.expired};
        // Room for every timer the wheel holds, so that the expiry callback cannot throw; out
        // of memory, the wheel advances at the next pass (what arm() found due still fires).
        bool room = true;
        try {
            if (s.expired.capacity() < s.expired.size() + s.wheel.size())
                s.expired.reserve(s.expired.size() + s.wheel.size());
        } catch (...) {
            report(std::current_exception(), "a shard pass (the wheel advances next pass)");
            room = false;
        }
        const std::uint64_t now_tick = std::max(conv_.to_tick_floor(now), s.wheel.now());
        if (room) s.wheel.advance(now_tick, [&](auto&& e) { s.expired.push_back(e); });
        std::size_t delivered = 0;
        for (entry* e : s.expired) {
            if (s.stopping.load(std::memory_order_relaxed)) break;  // a sink called stop()
            delivered += fire(s, e, now);
        }
        s.expired.clear();
        if (opts_.manual) flush_releases(s);
        return {delivered, gap};
    }

    // Out of memory while arming: the entry stays queued on the shard's retry list (linked
    // through cancel_next, unused while queued) and is armed again at the next pass.
    void arm(shard& s, entry* e) noexcept {
        try {
            arm_once(s, e);
        } catch (...) {
            report(std::current_exception(), "arming a task (retried next pass)");
            e->cancel_next.store(s.retry, std::memory_order_relaxed);
            s.retry = e;
        }
    }

    void retry_arms(shard& s) noexcept {
        entry* e = std::exchange(s.retry, nullptr);
        while (e != nullptr) {
            entry* next = e->cancel_next.load(std::memory_order_relaxed);
            arm(s, e);
            e = next;
        }
    }

    // Throws only before the entry's state changes (it stays queued).
    void arm_once(shard& s, entry* e) {
        // (A4) of the inbox link made the producer's writes visible; the state may have been
        // changed since by a cancel, which the CAS below settles.
        std::uint64_t st = e->state.load(std::memory_order_acquire);
        if ((st & detail::kind_mask) == detail::k_cancelled_queued) {
            reclaim(s, e, st);
            return;
        }
        const std::uint64_t tick = conv_.to_tick_ceil(e->due);
        const std::uint64_t armed = (st & ~detail::kind_mask) | detail::k_armed;
        if (tick <= s.wheel.now()) {
            // Already due (it reached the shard late): it skips the wheel and fires in this
            // pass, after the wheel's earlier-due timers fired in earlier passes.
            e->tid = timer_id{};  // names no timer: a cancel notice's wheel.cancel is a no-op
            if (s.expired.size() == s.expired.capacity()) s.expired.reserve(2 * s.expired.size() + 16);
            if (e->state.compare_exchange_strong(st, armed, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
                s.expired.push_back(e);
                bump(s.moved);  // after the CAS: a task cancelled in the inbox was not moved
            } else
                reclaim(s, e, st);
            return;
        }
        e->tid = s.wheel.insert(tick, e);
        if (!e->state.compare_exchange_strong(st, armed, std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
            (void)s.wheel.cancel(e->tid);  // cancelled while we inserted it
            reclaim(s, e, st);
            return;
        }
        bump(s.moved);
    }

    void reclaim_cancels(shard& s) {
        entry* c = s.cancel_head.exchange(nullptr, std::memory_order_acquire);  // (A6)
        std::size_t n = 0;
        while (c != nullptr) {
            entry* next = c->cancel_next.load(std::memory_order_relaxed);
            (void)s.wheel.cancel(c->tid);  // false when it already fell due (fire skipped it)
            reclaim(s, c, c->state.load(std::memory_order_acquire));
            ++n;
            c = next;
        }
        if (n != 0) s.cancel_backlog.fetch_sub(n, std::memory_order_relaxed);
    }

    // Destroys the payload and recycles the entry under a new generation. `st` is the state
    // the caller observed; no cancel can change it any more (cancel only moves entries out
    // of queued, armed and firing-recurring, and every caller holds another state).
    void reclaim(shard& s, entry* e, std::uint64_t st, bool by_cancel = true) noexcept {
        destroy_payload(e, st);
        const std::uint64_t gen = (st >> detail::generation_shift) + 1;
        // (R7) the new generation is visible to whoever allocates the entry next (through the
        // free stack's (R1)/(A1)) and to cancel()'s (A5): stale handles fail from now on.
        e->state.store(gen << detail::generation_shift | detail::k_free, std::memory_order_release);
        if (by_cancel && (st & detail::kind_mask) >= detail::k_cancelled) bump(s.reclaimed);
        // Batched: one CAS on the free stack per pass instead of one per entry.
        e->free_next.store(s.release_first ? s.release_first->slot + 1 : 0, std::memory_order_relaxed);
        if (!s.release_first) s.release_last = e;
        s.release_first = e;
        if (++s.release_count >= release_batch) flush_releases(s);
    }

    static constexpr std::size_t release_batch = 256;

    void flush_releases(shard& s) noexcept {
        if (s.release_first == nullptr) return;
        s.slab.release_chain(s.release_first, s.release_last);
        s.release_first = s.release_last = nullptr;
        s.release_count = 0;
    }

    // Counters with one writer: a plain load and store, no locked instruction.
    static void bump(std::atomic<std::uint64_t>& c) noexcept {
        c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }

    static void destroy_payload(entry* e, std::uint64_t st) noexcept {
        if (st & detail::recurring_bit) {
            delete e->rec;
            e->rec = nullptr;
        } else {
            e->task().~Task();
        }
    }

    std::size_t fire(shard& s, entry* e, time_point now) {
        std::uint64_t st = e->state.load(std::memory_order_acquire);
        do {
            if ((st & detail::kind_mask) != detail::k_armed) return 0;  // cancelled: its notice recycles it
        } while (!e->state.compare_exchange_weak(st, (st & ~detail::kind_mask) | detail::k_firing,
                                                 std::memory_order_acq_rel, std::memory_order_acquire));
        const std::uint64_t firing = (st & ~detail::kind_mask) | detail::k_firing;
        if ((st & detail::recurring_bit) == 0) {
            bump(s.fired);
            try {
                sink_(std::move(e->task()));
            } catch (...) {
                report(std::current_exception());
            }
            reclaim(s, e, firing);  // a one-shot in firing state cannot be cancelled
            return 1;
        }
        recurrence& r = *e->rec;
        std::optional<time_point> next;
        try {
            next = r.not_yet(opts_.clock, opts_.wall_clock, conv_.tick());
        } catch (...) {
            report(std::current_exception(), "the wall clock");
        }
        std::size_t delivered = 0;  // 0 when re-armed for later, or when the factory threw
        if (!next) {
            std::optional<Task> t;
            try {
                t.emplace(r.make());
            } catch (...) {
                report(std::current_exception(), "a task factory");
            }
            if (t) {
                bump(s.fired);
                delivered = 1;
                try {
                    sink_(std::move(*t));
                } catch (...) {
                    report(std::current_exception());
                }
            }
            try {
                next = r.next_due(now, opts_.clock, opts_.wall_clock, conv_.tick());
            } catch (...) {
                report(std::current_exception(), "a schedule's next time (its schedule ended)");
            }
        }
        if (next) {
            e->due = *next;
            try {
                e->tid = s.wheel.insert(conv_.to_tick_ceil(*next), e);
            } catch (...) {  // out of memory: the schedule ends here, its entry is recycled
                report(std::current_exception(), "re-arming a recurring task (its schedule ended)");
                next.reset();
            }
        }
        std::uint64_t expected = firing;
        if (next &&
            e->state.compare_exchange_strong(expected, (firing & ~detail::kind_mask) | detail::k_armed,
                                             std::memory_order_acq_rel, std::memory_order_acquire))
            return delivered;
        if (next) (void)s.wheel.cancel(e->tid);
        // Cancelled while firing, or no further firing: settle the state against a racing
        // cancel (firing -> cancelled_firing) before recycling.
        std::uint64_t cur = e->state.load(std::memory_order_acquire);
        bool ended = false;  // we settled it (no more matches): not a cancel's reclaim
        while ((cur & detail::kind_mask) == detail::k_firing) {
            if (e->state.compare_exchange_weak(cur, (cur & ~detail::kind_mask) | detail::k_cancelled_firing,
                                               std::memory_order_acq_rel, std::memory_order_acquire)) {
                ended = true;
                break;
            }
        }
        reclaim(s, e, e->state.load(std::memory_order_acquire), !ended);
        return delivered;
    }

    // After the threads are joined: destroy every payload exactly once, invalidate handles.
    // A one-shot task still queued or armed goes to `take` first.
    void cleanup(shard& s) noexcept {
        cleanup(s, discard_pending);
    }
    template <class Take>
    void cleanup(shard& s, Take&& take) noexcept {
        s.cancel_head.store(nullptr, std::memory_order_relaxed);
        s.cancel_backlog.store(0, std::memory_order_relaxed);
        s.slab.for_each([&](entry& e) {
            std::uint64_t st = e.state.load(std::memory_order_acquire);  // (A5)
            for (;;) {
                if ((st & detail::kind_mask) == detail::k_free) return;
                const std::uint64_t freed = ((st >> detail::generation_shift) + 1)
                                            << detail::generation_shift;
                if (e.state.compare_exchange_weak(st, freed, std::memory_order_acq_rel,
                                                  std::memory_order_acquire))
                    break;
            }
            const std::uint64_t kind = st & detail::kind_mask;
            if ((st & detail::recurring_bit) == 0 && (kind == detail::k_queued || kind == detail::k_armed))
                take(std::move(e.task()), e.due);
            destroy_payload(&e, st);
        });
        s.wheel.clear();
        s.expired.clear();
        s.retry = nullptr;
    }

    options opts_;
    unique_function<void(Task&&)> sink_;
    tick_converter<time_point> conv_;
    std::vector<std::unique_ptr<shard>> shards_;
    alignas(detail::cache_line) std::atomic<bool> stopped_{false};
    std::atomic<bool> polling_{false};
    time_point last_poll_ = time_point::min();  // poll's caller only
    std::mutex stop_mutex_;
};

}  // namespace millrace
