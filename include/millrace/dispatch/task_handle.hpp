// millrace/dispatch/task_handle.hpp: the shared state of a submitted task, the typed handle
// (task_handle<R>) and the type-erased reference (task_ref) that a duplicate submit returns.
//
// Lifetime: a state is reference-counted (the handle, the queued task, and a dedup entry each
// hold one) and belongs to no dispatcher, so a handle may outlive its dispatcher: a task that
// never started is cancelled by the dispatcher's shutdown, and get() then throws task_cancelled.
// States come from a per-result-type slab: a thread keeps up to 64 free states and trades
// batches of 32 with a global list under a mutex, so a submit allocates only while the slab grows.
//
// States: queued|scheduled -> running -> succeeded|failed (the worker), queued|scheduled ->
// cancelled (cancel() or shutdown), by compare-and-swap, so exactly one of "start" and "cancel"
// wins. Memory ordering: the worker writes the result, then stores the terminal state with
// release (R1); a reader that loads a terminal state with acquire (A1) sees the result. Waiting
// uses an event_count; the terminal store is seq_cst so that the event_count protocol holds.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "millrace/core/detail/planted.hpp"
#include "millrace/core/event_count.hpp"
#include "millrace/dispatch/status.hpp"

namespace millrace {

namespace detail {

struct worker_stop;  // a worker's stop source, guarded (basic_dispatcher.hpp)

/// Requests stop of the task a worker runs now (defined with the worker).
void request_worker_stop(worker_stop* w) noexcept;

/// The untyped part of a task's shared state.
struct state_base {
    std::atomic<std::uint32_t> refs{0};
    std::atomic<task_state> state{task_state::queued};
    std::atomic_flag runner_lock = ATOMIC_FLAG_INIT;  // guards runner (a spin lock held for nanoseconds)
    worker_stop* runner = nullptr;                    // the worker running the task, while it runs
    event_count done;                                 // waiters for a terminal state
    std::exception_ptr error;                         // the task's exception, or task_failed
    std::string dedup_key;                            // non-empty while registered for dedup
    void (*pump)(void*) = nullptr;                    // manual mode: runs pending work
    void* pump_ctx = nullptr;
    void (*recycle)(state_base*) noexcept = nullptr;  // returns the state to its slab
    // A delayed task's way to give its capacity unit back when its handle cancels it while
    // scheduled: `owner` keeps the dispatcher's shared part alive for that call; both are set
    // before the state is published and cleared when it is recycled.
    void (*unschedule)(state_base*) noexcept = nullptr;
    std::shared_ptr<void> owner;
    std::size_t queue_index = 0;

    void add_ref() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }  // a holder exists already
    void release() noexcept {
        // acq_rel: the last holder sees every write of the others before recycling (R2)/(A2).
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) recycle(this);
    }

    /// queued|scheduled -> running; false when cancelled first.
    bool try_start() noexcept {
        task_state s = state.load(std::memory_order_relaxed);
        while (s == task_state::queued || s == task_state::scheduled) {
            if (state.compare_exchange_weak(s, task_state::running, std::memory_order_acquire,
                                            std::memory_order_relaxed))
                return true;
        }
        return false;
    }
    /// scheduled -> queued when a delayed task falls due; false when its handle cancelled it
    /// first (that cancel gave the capacity unit back already).
    [[nodiscard]] bool make_queued() noexcept {
        task_state s = task_state::scheduled;
        // acq_rel on success and acquire on failure (A5): the cancel's CAS is seq_cst (R5), so
        // exactly one of the two owns the capacity unit and each sees the other's outcome.
        return state.compare_exchange_strong(s, task_state::queued, std::memory_order_acq_rel,
                                             std::memory_order_acquire) ||
               s != task_state::cancelled;
    }
    /// queued|scheduled -> cancelled; true when this call cancelled it.
    bool try_cancel() noexcept {
        task_state was{};
        return try_cancel(was);
    }
    /// As try_cancel, and says the state it left (queued or scheduled).
    bool try_cancel(task_state& was) noexcept {
        task_state s = state.load(std::memory_order_relaxed);
        while (s == task_state::queued || s == task_state::scheduled) {
            was = s;
            if (state.compare_exchange_weak(s, task_state::cancelled, std::memory_order_seq_cst,  // (R5)
                                            std::memory_order_relaxed)) {
                done.notify_all();
                return true;
            }
        }
        return false;
    }
    /// Publishes the outcome of a run.
    void finish(task_state s) noexcept {
        state.store(s, std::memory_order_seq_cst);  // (R1) result visible to (A1); seq_cst for event_count
        done.notify_all();
    }
    /// Blocks until terminal or until `deadline`; false on time-out.
    bool wait_until(std::chrono::steady_clock::time_point deadline, bool forever) const noexcept {
        auto& ec = const_cast<event_count&>(done);
        for (;;) {
            if (is_terminal(state.load(std::memory_order_acquire))) return true;  // (A1)
            const auto k = ec.prepare_wait();
            if (is_terminal(state.load(std::memory_order_seq_cst))) {
                ec.cancel_wait();
                return true;
            }
            if (forever) {
                ec.wait(k);
            } else if (!ec.wait_until(k, deadline)) {
                return is_terminal(state.load(std::memory_order_acquire));
            }
        }
    }
    /// cancel(): true when the task will not start; a running task gets stop requested.
    bool cancel() noexcept {
        task_state was{};
        if (try_cancel(was)) {
            // A delayed task gives its capacity unit back now, not when it would have been due.
            if constexpr (planted("delayed_cancel_keeps_slot")) return true;  // until it falls due
            if (was == task_state::scheduled && unschedule != nullptr) unschedule(this);
            return true;
        }
        if (state.load(std::memory_order_acquire) == task_state::running) {
            while (runner_lock.test_and_set(std::memory_order_acquire)) {
            }  // (A3) pairs with (R3)
            if (runner != nullptr) request_worker_stop(runner);
            runner_lock.clear(std::memory_order_release);  // (R3)
        }
        return false;
    }
    /// Sets or clears the worker running the task (under runner_lock).
    void set_runner(worker_stop* w) noexcept {
        while (runner_lock.test_and_set(std::memory_order_acquire)) {
        }  // (A3)
        runner = w;
        runner_lock.clear(std::memory_order_release);  // (R3)
    }
    /// Manual mode: runs pending work while the task has not finished; throws std::logic_error
    /// when it still has not (not due yet) so that get() never deadlocks.
    void pump_or_throw() const {
        if (pump == nullptr || is_terminal(state.load(std::memory_order_acquire))) return;
        pump(pump_ctx);
        if (!is_terminal(state.load(std::memory_order_acquire)))
            throw std::logic_error(
                "millrace: get() of a task that is not due in manual mode; advance the clock and "
                "run_pending()");
    }
};

/// A state with room for an R.
template <class R>
struct handle_state : state_base {
    alignas(R) unsigned char storage[sizeof(R)];
    bool has_value = false;

    template <class... A>
    void set_value(A&&... a) {
        ::new (static_cast<void*>(storage)) R(std::forward<A>(a)...);
        has_value = true;
    }
    R& value() noexcept { return *std::launder(reinterpret_cast<R*>(storage)); }
    void clear() noexcept {
        if (has_value) value().~R();
        has_value = false;
    }
};
template <>
struct handle_state<void> : state_base {
    void clear() noexcept {}
};

/// The recycled slab of handle_state<R>.
template <class R>
class state_slab {
public:
    using node = handle_state<R>;

    static node* acquire() {
        auto& c = cache();
        if (c.free.empty()) refill(c);
        node* n = nullptr;
        if (!c.free.empty()) {
            n = c.free.back();
            c.free.pop_back();
        } else {
            n = new node();
        }
        n->refs.store(0, std::memory_order_relaxed);
        n->state.store(task_state::queued, std::memory_order_relaxed);
        n->runner = nullptr;
        n->error = nullptr;
        n->pump = nullptr;
        n->pump_ctx = nullptr;
        n->unschedule = nullptr;
        n->recycle = &recycle;
        return n;
    }

    static void recycle(state_base* b) noexcept {
        auto* n = static_cast<node*>(b);
        // Released after the state is back in the slab: the last owner reference may destroy
        // the dispatcher's shared part, which recycles states of its own.
        const std::shared_ptr<void> owner = std::move(n->owner);
        n->unschedule = nullptr;
        n->clear();
        n->error = nullptr;
        n->dedup_key.clear();
        auto& c = cache();
        if (c.free.size() >= local_max) flush(c);
        c.free.push_back(n);  // capacity reserved: no allocation, never throws
    }

private:
    static constexpr std::size_t local_max = 64;
    static constexpr std::size_t batch = 32;

    struct global_list {
        std::mutex mutex;
        // Guarded by mutex:
        std::vector<node*> free;
        ~global_list() {
            for (node* n : free)
                delete n;
        }
    };
    static global_list& global() {
        static global_list g;  // outlives every thread cache that flushes into it at exit
        return g;
    }
    struct local_cache {
        std::vector<node*> free;
        local_cache() {
            (void)global();  // constructed first, destroyed last
            free.reserve(local_max + 1);
        }
        ~local_cache() {
            auto& g = global();
            std::lock_guard lock(g.mutex);
            try {
                g.free.insert(g.free.end(), free.begin(), free.end());
            } catch (...) {
                for (node* n : free)
                    delete n;
            }
        }
    };
    static local_cache& cache() {
        thread_local local_cache c;
        return c;
    }
    static void refill(local_cache& c) {
        auto& g = global();
        std::lock_guard lock(g.mutex);
        const std::size_t n = std::min(batch, g.free.size());
        c.free.insert(c.free.end(), g.free.end() - static_cast<std::ptrdiff_t>(n), g.free.end());
        g.free.resize(g.free.size() - n);
    }
    static void flush(local_cache& c) noexcept {
        auto& g = global();
        std::lock_guard lock(g.mutex);
        const auto from = c.free.end() - static_cast<std::ptrdiff_t>(batch);
        try {
            g.free.insert(g.free.end(), from, c.free.end());
        } catch (...) {
            for (auto it = from; it != c.free.end(); ++it)
                delete *it;
        }
        c.free.erase(from, c.free.end());
    }
};

}  // namespace detail

/// A type-erased reference to a live task: its state and cancel. Returned with `duplicate`.
class task_ref {
public:
    task_ref() noexcept = default;
    /// Takes one reference held by the caller.
    explicit task_ref(detail::state_base* s) noexcept : s_(s) {}
    /// Another reference to the same task.
    task_ref(const task_ref& o) noexcept : s_(o.s_) {
        if (s_) s_->add_ref();
    }
    /// Takes the reference of `o`, which is left empty.
    task_ref(task_ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    /// Refers to the task `o` refers to, releasing the previous one.
    task_ref& operator=(task_ref o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~task_ref() {
        if (s_) s_->release();
    }
    /// Whether it refers to a task.
    [[nodiscard]] bool valid() const noexcept { return s_ != nullptr; }
    /// Same as valid().
    explicit operator bool() const noexcept { return valid(); }
    /// The task's state now. Throws std::logic_error when !valid().
    [[nodiscard]] task_state state() const { return checked()->state.load(std::memory_order_acquire); }
    /// True when the task will not start; a running task gets stop requested and this returns false.
    bool cancel() { return checked()->cancel(); }

protected:
    /// The state; throws std::logic_error for an empty handle.
    detail::state_base* checked() const {
        if (s_ == nullptr) throw std::logic_error("millrace: use of an empty task handle");
        return s_;
    }
    /// The task's shared state, one reference held; null when empty.
    detail::state_base* s_ = nullptr;
};

/// The handle of a submitted task with result R: get(), wait_for(), cancel(), state().
template <class R>
class task_handle : public task_ref {
public:
    task_handle() noexcept = default;
    /// Takes one reference held by the caller.
    explicit task_handle(detail::handle_state<R>* s) noexcept : task_ref(s) {}

    /// Blocks until the task ends; returns its value (moved out: call once) or rethrows its
    /// exception; throws task_cancelled when it never started, task_failed after
    /// task_context::fail, std::logic_error when empty or, in manual mode, when not due yet.
    R get() {
        auto* s = static_cast<detail::handle_state<R>*>(checked());
        s->pump_or_throw();
        (void)s->wait_until({}, true);
        const task_state st = s->state.load(std::memory_order_acquire);  // (A1)
        if (st == task_state::cancelled) throw task_cancelled();
        if (s->error) std::rethrow_exception(s->error);
        if constexpr (!std::is_void_v<R>) return std::move(s->value());
    }
    /// Waits at most `d` for the task to end; true when it has. In manual mode runs pending work
    /// instead of blocking.
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> d) const {
        auto* s = checked();
        if (s->pump != nullptr) {
            if (!is_terminal(s->state.load(std::memory_order_acquire))) s->pump(s->pump_ctx);
            return is_terminal(s->state.load(std::memory_order_acquire));
        }
        const auto deadline =
            std::chrono::steady_clock::now() + std::chrono::ceil<std::chrono::steady_clock::duration>(d);
        return s->wait_until(deadline, false);
    }
};

}  // namespace millrace
