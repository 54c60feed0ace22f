// millrace/dispatch/basic_dispatcher.hpp: named queues of move-only tasks run by worker
// threads: now, after a delay or at a time, in order per key, by weighted priority, behind
// per-queue admission, with a shutdown that never loses work. docs/dispatcher.md has the design.
//
// The way of a task (post, unkeyed, no delay): reserve one unit of the queue's depth (one
// seq_cst fetch_add; depth counts tasks queued, scheduled and running, and never exceeds the
// capacity), ask the admission policy, move the callable into a job, push the job into the ring
// of its priority level (sized to the capacity, so the push always finds room), count it ready
// and wake a worker only if one sleeps. A worker pops by weighted round-robin, runs the task,
// and gives the depth unit back. Keyed tasks wait in their key's strand (a FIFO in a sharded
// table); a strand with work has exactly one token in the rings, so one task of a key runs at a
// time, in order. Delayed tasks wait in a min-heap keyed by (due, sequence), driven by a timer
// thread (threaded mode) or run_pending() (manual mode): the `scheduler` policy, heap_scheduler.hpp.
//
// Guarantees:
//  - every accepted task runs exactly once or is cancelled (and its handle says so); nothing
//    is dropped or moved to another queue; a refused submit leaves the callable untouched;
//  - fairness: within one worker, a non-empty level is served within sum(priority_weights)
//    of that worker's pops, whatever the other levels hold;
//  - the lost-wake-up argument: a submitter counts the job ready with a seq_cst RMW (S4) after
//    pushing it and then reads the event count's waiters; a worker registers (event_count S1)
//    and then re-reads the ready count with seq_cst, so one of them sees the other;
//  - shutdown: submitters reserve depth (seq_cst) before they read `closed` (seq_cst);
//    shutdown stores `closed` before it reads the depth, so a task either sees `closed` or is
//    waited for (run or cancelled) by shutdown.
// What throws: the constructor (std::invalid_argument naming queue and field), a submit with a
// priority out of range (std::invalid_argument), allocation of a callable larger than
// unique_function's inline buffer (std::bad_alloc; the callable stays untouched), blocking calls
// in manual mode that could never return (std::logic_error).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <pthread.h>

#include "millrace/core/cache.hpp"
#include "millrace/core/detail/planted.hpp"
#include "millrace/core/event_count.hpp"
#include "millrace/dispatch/config.hpp"
#include "millrace/dispatch/detail/worker.hpp"
#include "millrace/dispatch/policies.hpp"
#include "millrace/dispatch/status.hpp"
#include "millrace/dispatch/task_context.hpp"
#include "millrace/dispatch/task_handle.hpp"
#include "millrace/queue/mpmc_queue.hpp"

namespace millrace {

/// The result type of a task F: what F returns, called with a task_context& or with nothing.
template <class F>
using task_result_t = typename std::conditional_t<std::is_invocable_v<std::decay_t<F>&, task_context&>,
                                                  std::invoke_result<std::decay_t<F>&, task_context&>,
                                                  std::invoke_result<std::decay_t<F>&>>::type;

/// A callable the dispatcher accepts: move-constructible, invocable with task_context& or ().
template <class F>
concept dispatch_task = std::move_constructible<std::decay_t<F>> &&
    (std::is_invocable_v<std::decay_t<F>&, task_context&> || std::is_invocable_v<std::decay_t<F>&>);

/// What submit returns: the status, the handle (valid when accepted), the retry-after hint
/// (with rejected_rate) and the live task (with duplicate).
template <class R>
struct submit_result {
    submit_status status = submit_status::closed;           ///< accepted or why not
    task_handle<R> handle{};                                ///< valid when accepted
    std::optional<std::chrono::nanoseconds> retry_after{};  ///< with rejected_rate: when a token is due
    task_ref existing{};                                    ///< with duplicate: the live task
};

/// Counters of one queue, merged from the workers at the time of the call.
struct queue_stats {
    std::size_t depth = 0;        ///< tasks queued, scheduled or running now
    std::uint64_t run = 0;        ///< tasks that returned normally
    std::uint64_t failed = 0;     ///< tasks that threw or called fail() (0 with no_metrics)
    std::uint64_t cancelled = 0;  ///< tasks cancelled before they started (0 with no_metrics)
    std::uint64_t rejected = 0;   ///< refused submits (0 with no_metrics)
};

namespace detail {

inline thread_local const void* dispatch_current_core = nullptr;  // the core whose task runs here

template <class F>
decltype(auto) invoke_task(F& f, task_context& c) {
    if constexpr (std::is_invocable_v<F&, task_context&>) {
        return std::invoke(f, c);
    } else {
        return std::invoke(f);
    }
}

/// The shared part of a dispatcher: everything workers touch. Held by shared_ptr by the
/// dispatcher and by every worker thread, so a worker detached at shutdown keeps it alive.
template <class P>
class dispatch_core {
public:
    using clock_type = typename P::clock;
    using time_point = typename clock_type::time_point;
    using ring_type = typename P::template queue<job>;
    using admission_type = typename P::template admission<clock_type>;
    static constexpr bool metrics_on = P::metrics::enabled;
    static constexpr int spin_tries = 64;   // pauses before yielding (a few microseconds)
    static constexpr int yield_tries = 16;  // yields before sleeping

    struct strand {
        std::deque<job> tasks;  // front: the next to run; the running one has left already
    };
    struct alignas(cache_line) strand_shard {
        std::mutex mutex;
        // Guarded by mutex:
        std::unordered_map<std::uint64_t, strand> map;  // present while the strand has a token
    };

    struct queue_rt {
        queue_rt(const queue_config& c, std::size_t i, const clock_type& clock)
            : cfg(c), index(i), adm(c, clock) {}
        queue_config cfg;
        std::size_t index;
        std::vector<std::unique_ptr<ring_type>> levels;
        std::vector<std::uint32_t> round;  // levels in serving order, each weight times
        admission_type adm;
        std::vector<std::unique_ptr<strand_shard>> shards;
        std::vector<std::unique_ptr<worker_rt>> workers;
        // depth and ready share a line on purpose: the same two threads write both per task
        // (submitter: +1, +1; worker: -1, -1), so one line moves instead of two.
        alignas(cache_line) std::atomic<std::int64_t> depth{0};     // queued + scheduled + running
        std::atomic<std::int64_t> ready{0};                         // jobs in the rings
        alignas(cache_line) std::atomic<std::int32_t> spinning{0};  // workers searching before they sleep
        event_count work_ec;                                        // workers sleep here
        event_count room_ec;                                        // blocked submitters, wait_idle
        std::int64_t wake_below = 0;  // depth at which blocked submitters are woken
        std::atomic<bool> paused{false};
        std::atomic<std::uint64_t> rejected{0};
        std::atomic<std::uint64_t> cancelled_outside{0};  // cancelled by shutdown or the timer
    };

    /// What the delay scheduler keeps per delayed task: the job and its queue.
    struct delayed_item {
        std::size_t queue;
        job j;
    };
    using scheduler_type = typename P::template scheduler<delayed_item, clock_type>;

    explicit dispatch_core(dispatcher_config cfg, clock_type clock)
        : cfg_(std::move(cfg)),
          clock_(std::move(clock)),
          sched_(
              clock_, [this](delayed_item&& d) { on_due(std::move(d)); }, cfg_.manual) {
        validate();
        for (std::size_t i = 0; i < cfg_.queues.size(); ++i) {
            const queue_config& qc = cfg_.queues[i];
            std::unique_ptr<queue_rt> q;
            try {
                q = std::make_unique<queue_rt>(qc, i, clock_);
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument("millrace::dispatcher: queue '" + qc.name + "': " + e.what());
            }
            for (std::size_t l = 0; l < qc.priority_weights.size(); ++l)
                q->levels.push_back(std::make_unique<ring_type>(qc.capacity));
            for (std::size_t l = qc.priority_weights.size(); l-- > 0;)
                for (std::uint32_t w = 0; w < qc.priority_weights[l]; ++w)
                    q->round.push_back(static_cast<std::uint32_t>(l));
            q->wake_below =
                static_cast<std::int64_t>(qc.capacity - std::max<std::size_t>(1, qc.capacity / 4));
            const std::size_t nworkers = cfg_.manual ? 1 : qc.workers;
            std::size_t nshards = 8;
            while (nshards < 4 * std::max<std::size_t>(nworkers, 1))
                nshards *= 2;
            for (std::size_t s = 0; s < nshards; ++s)
                q->shards.push_back(std::make_unique<strand_shard>());
            for (std::size_t w = 0; w < std::max<std::size_t>(nworkers, 1); ++w)
                q->workers.push_back(std::make_unique<worker_rt>());
            queues_.push_back(std::move(q));
        }
    }

    dispatch_core(const dispatch_core&) = delete;
    dispatch_core& operator=(const dispatch_core&) = delete;

    ~dispatch_core() { purge_all(); }

    /// Starts the worker and timer threads (threaded mode).
    void start(const std::shared_ptr<dispatch_core>& self) {
        if (cfg_.manual) return;
        try {
            for (auto& q : queues_)
                for (std::size_t w = 0; w < q->cfg.workers; ++w)
                    q->workers[w]->thread =
                        std::thread([self, qp = q.get(), w] { self->worker_main(*qp, w); });
            sched_.start();
        } catch (...) {
            stop_threads_now();
            throw;
        }
    }

    // ---- lookup ---------------------------------------------------------------------------
    queue_rt* find(std::string_view name) noexcept {
        if (name.empty()) return queues_.front().get();
        for (auto& q : queues_)
            if (q->cfg.name == name) return q.get();
        return nullptr;
    }
    queue_rt& checked(std::string_view name) {
        queue_rt* q = find(name);
        if (q == nullptr)
            throw std::invalid_argument("millrace::dispatcher: unknown queue '" + std::string(name) + "'");
        return *q;
    }

    // ---- admission ------------------------------------------------------------------------
    enum class wait_kind { forever, until, never };

    /// Reserves one unit of depth through the admission policy. On anything but accepted, the
    /// depth is as it was.
    submit_status reserve(queue_rt& q, wait_kind wk, std::chrono::steady_clock::time_point deadline,
                          std::optional<std::chrono::nanoseconds>& retry_after) {
        const auto cap = static_cast<std::int64_t>(q.cfg.capacity);
        for (;;) {
            const std::int64_t d = q.depth.fetch_add(1, std::memory_order_seq_cst);  // reserve first
            if (closed_.load(std::memory_order_seq_cst)) {                           // then see shutdown
                unreserve(q);
                return submit_status::closed;
            }
            const queue_state qs{static_cast<std::size_t>(d), q.cfg.capacity, false, 1};
            admission a = q.adm.admit(qs);
            if (a == admission::accepted && d >= cap) {  // the capacity is the dispatcher's own bound
                q.adm.cancel(qs);
                a = admission::wait;
            }
            if (a == admission::accepted) return submit_status::accepted;
            unreserve(q);
            switch (a) {
                case admission::rejected_full:
                    return count_reject(q, submit_status::rejected_full);
                case admission::closed:
                    return submit_status::closed;
                case admission::rejected_rate: {
                    const auto hint = q.adm.retry_after();
                    if (wk == wait_kind::until && std::chrono::steady_clock::now() + hint < deadline) {
                        std::this_thread::sleep_for(hint);
                        continue;
                    }
                    if (wk == wait_kind::until) return count_reject(q, submit_status::timeout);
                    retry_after = hint;
                    return count_reject(q, submit_status::rejected_rate);
                }
                default:
                    break;  // wait for room
            }
            if (wk == wait_kind::never ||
                dispatch_current_core == this)  // a worker never blocks on its own dispatcher
                return count_reject(q, submit_status::rejected_full);
            if (cfg_.manual) {
                if (run_pending() == 0 && q.depth.load(std::memory_order_seq_cst) >= cap)
                    throw std::logic_error(
                        "millrace: blocking submit to a full queue in manual mode with nothing due to run");
                continue;
            }
            const event_count::key k = q.room_ec.prepare_wait();
            if (q.depth.load(std::memory_order_seq_cst) < cap || closed_.load(std::memory_order_seq_cst)) {
                q.room_ec.cancel_wait();
                continue;
            }
            if (wk == wait_kind::forever) {
                q.room_ec.wait(k);
            } else if (!q.room_ec.wait_until(k, deadline)) {
                return count_reject(q, submit_status::timeout);
            }
        }
    }

    void unreserve(queue_rt& q) noexcept {
        q.depth.fetch_sub(1, std::memory_order_seq_cst);  // seq_cst: room_ec's protocol
        q.room_ec.notify_all();
    }

    submit_status count_reject(queue_rt& q, submit_status s) noexcept {
        if constexpr (metrics_on) q.rejected.fetch_add(1, std::memory_order_relaxed);
        return s;
    }

    // ---- dedup ----------------------------------------------------------------------------
    /// Registers `st` under its dedup key; returns the live task holding the key instead, if any.
    state_base* dedup_insert(state_base* st) {
        std::lock_guard lock(dedup_mutex_);
        auto [it, inserted] = dedup_.try_emplace(st->dedup_key, st);
        if (!inserted) {
            state_base* old = it->second;
            if (!is_terminal(old->state.load(std::memory_order_acquire))) {
                old->add_ref();
                return old;
            }
            old->release();  // ended (cancelled through its handle): the key is free again
            it->second = st;
        }
        st->add_ref();
        return nullptr;
    }
    void dedup_erase(state_base* st) noexcept {
        if (st->dedup_key.empty()) return;
        std::lock_guard lock(dedup_mutex_);
        auto it = dedup_.find(st->dedup_key);
        if (it != dedup_.end() && it->second == st) {
            dedup_.erase(it);
            st->release();
        }
    }

    // ---- placing jobs ---------------------------------------------------------------------
    /// Pushes a job into a ring; the depth count guarantees room (a slot a popper has claimed
    /// but not yet released may make a try fail for a moment).
    void push_ring(queue_rt& q, job&& j) noexcept {
        ring_type& r = *q.levels[j.priority];
        while (!r.try_push(std::move(j)))
            cpu_relax();
        q.ready.fetch_add(1, std::memory_order_seq_cst);  // (S4) pairs with the worker's re-check
    }

    /// Places a due job: into its strand or its ring. Wakes a worker when `notify`.
    void enqueue_now(queue_rt& q, job&& j, bool notify) {
        if (j.kind == job::keyed) {
            strand_shard& sh = shard_of(q, j.key);
            std::unique_lock lock(sh.mutex);
            auto [it, fresh] = sh.map.try_emplace(j.key);
            if (!fresh) {
                it->second.tasks.push_back(std::move(j));  // the strand's token is out already
                return;
            }
            try {
                it->second.tasks.push_back(std::move(j));
            } catch (...) {
                sh.map.erase(it);
                throw;
            }
            job t;
            t.kind = job::token;
            t.key = it->second.tasks.front().key;
            t.priority = it->second.tasks.front().priority;
            lock.unlock();
            push_ring(q, std::move(t));
        } else {
            push_ring(q, std::move(j));
        }
        if (notify) wake(q);
    }

    /// Wakes a sleeping worker unless one is searching: it will find the job. The searcher
    /// decrements `spinning` (S5) before it registers and re-checks `ready`, and the submitter
    /// incremented `ready` (S4) before it reads `spinning` here, so one of them sees the other.
    void wake(queue_rt& q) noexcept {
        if (q.spinning.load(std::memory_order_seq_cst) > 0) return;
        q.work_ec.notify_one();
    }

    strand_shard& shard_of(queue_rt& q, std::uint64_t key) noexcept {
        const std::size_t s = router_(key, q.shards.size());
        return *q.shards[s < q.shards.size() ? s : s % q.shards.size()];
    }

    void schedule(queue_rt& q, job&& j, std::chrono::nanoseconds delay) {
        const time_point due =
            clock_.now() + std::chrono::duration_cast<typename clock_type::duration>(delay);
        sched_.schedule(due, delayed_item{q.index, std::move(j)});
    }

    /// The scheduler's sink: a delayed job fell due.
    void on_due(delayed_item&& d) {
        if (d.j.st != nullptr && !d.j.st->make_queued()) {
            drop_unscheduled(d.j);  // its handle cancelled it and gave the unit back
            return;
        }
        enqueue_now(*queues_[d.queue], std::move(d.j), true);
    }

    /// Moves every delayed job due at `now` (all when `everything`) into its queue.
    std::size_t release_due(time_point now, bool everything) {
        if (!everything) return sched_.poll(now);
        return sched_.take_all([this](delayed_item&& d) { on_due(std::move(d)); });
    }

    // ---- running --------------------------------------------------------------------------
    /// One pop by weighted round-robin from the worker's cursor.
    bool try_take(queue_rt& q, worker_rt& w, job& out) noexcept {
        if (q.paused.load(std::memory_order_relaxed)) return false;
        const std::size_t n = q.round.size();
        if (n == 1) {
            if (!q.levels[0]->try_pop(out)) return false;
        } else {
            if constexpr (planted("dispatch_unfair_round"))
                w.cursor = 0;  // strict priority: low levels starve
            std::size_t i = 0;
            for (; i < n; ++i) {
                const std::size_t pos = (w.cursor + i) % n;
                if (q.levels[q.round[pos]]->try_pop(out)) break;
            }
            if (i == n) return false;
            w.cursor = (w.cursor + i + 1) % n;
        }
        q.ready.fetch_sub(1, std::memory_order_relaxed);  // only a hint that work may be left
        return true;
    }

    void process(queue_rt& q, worker_rt& w, job& j) {
        if (j.kind == job::token) {
            run_strand(q, w, j.key);
        } else {
            run_one(q, w, j);
        }
    }

    void run_strand(queue_rt& q, worker_rt& w, std::uint64_t key) {
        strand_shard& sh = shard_of(q, key);
        job j;
        {
            std::lock_guard lock(sh.mutex);
            auto it = sh.map.find(key);
            if (it == sh.map.end()) return;
            if (it->second.tasks.empty()) {  // shutdown took its tasks: the token ends here
                sh.map.erase(it);
                return;
            }
            j = std::move(it->second.tasks.front());
            it->second.tasks.pop_front();
        }
        if constexpr (planted("strand_early_release"))
            release_strand(q, sh, key);  // a second task of the key may start now
        run_one(q, w, j);
        if constexpr (!planted("strand_early_release")) release_strand(q, sh, key);
    }

    /// After a strand's task: its next task gets the token back, or the strand goes.
    void release_strand(queue_rt& q, strand_shard& sh, std::uint64_t key) noexcept {
        job t;
        {
            std::lock_guard lock(sh.mutex);
            auto it = sh.map.find(key);
            if (it == sh.map.end()) return;
            if (it->second.tasks.empty()) {
                sh.map.erase(it);
                return;
            }
            t.kind = job::token;
            t.key = key;
            t.priority = it->second.tasks.front().priority;
        }
        push_ring(q, std::move(t));  // a token per waiting task at most: room is guaranteed
        wake(q);
    }

    void run_one(queue_rt& q, worker_rt& w, job& j) {
        state_base* st = j.st;
        if (cancel_all_.load(std::memory_order_acquire) || (st != nullptr && !st->try_start())) {
            if (st != nullptr) (void)st->try_cancel();
            j.fn = nullptr;
            if constexpr (metrics_on) worker_rt::bump(w.cancelled);
            shutdown_cancelled_.fetch_add(1, std::memory_order_relaxed);
            end_task(q, st);
            return;
        }
        if constexpr (planted("lost_task")) {
            if (lost_countdown_.fetch_add(1, std::memory_order_relaxed) == 777) {
                j.fn = nullptr;
                end_task(q, st);
                return;
            }
        }
        if (st != nullptr) st->set_runner(&w.stop);
        w.in_task.store(true, std::memory_order_relaxed);
        task_context ctx(w.stop.token, q.cfg.name,
                         j.kind == job::keyed ? std::optional<std::uint64_t>(j.key) : std::nullopt);
        bool failed = false;
        const void* outer = dispatch_current_core;
        dispatch_current_core = this;
        try {
            j.fn(ctx, st);
        } catch (...) {
            failed = true;
            if (st != nullptr) st->error = std::current_exception();
        }
        dispatch_current_core = outer;
        j.fn = nullptr;  // captures die before the handle reports the end
        w.in_task.store(false, std::memory_order_relaxed);
        if (ctx.failed()) {
            failed = true;
            if (st != nullptr && !st->error)
                st->error = std::make_exception_ptr(task_failed(ctx.failure_reason()));
        }
        if (st != nullptr) {
            st->set_runner(nullptr);
            st->finish(failed ? task_state::failed : task_state::succeeded);
        }
        if (w.stop.token.stop_requested() && !cancel_all_.load(std::memory_order_relaxed)) {
            std::lock_guard lock(w.stop.mutex);  // the next task starts with a fresh source
            w.stop.source = std::stop_source();
            w.stop.token = w.stop.source.get_token();
        }
        if (failed) {
            if constexpr (metrics_on) worker_rt::bump(w.failed);
        }
        worker_rt::bump(w.run);
        end_task(q, st);
    }

    void end_task(queue_rt& q, state_base* st) noexcept {
        if (st != nullptr) {
            dedup_erase(st);
            st->release();
        }
        const std::int64_t left =
            q.depth.fetch_sub(1, std::memory_order_seq_cst) - 1;  // seq_cst: room_ec's protocol
        // Blocked submitters are woken once a quarter of the capacity is free (and wait_idle at
        // zero), not per task: a wake-up per finished task would cost a system call per task.
        if (left <= q.wake_below) q.room_ec.notify_all();
    }

    /// A delayed job cancelled through its handle while scheduled: the cancel gave its depth
    /// unit back already, so only its references go.
    void drop_unscheduled(job& j) noexcept {
        j.fn = nullptr;
        dedup_erase(j.st);
        j.st->release();
    }

    /// The handle's cancel of a scheduled task: its depth unit is free now.
    static void unschedule(state_base* s) noexcept {
        auto* self = static_cast<dispatch_core*>(s->owner.get());
        queue_rt& q = *self->queues_[s->queue_index];
        if constexpr (metrics_on) q.cancelled_outside.fetch_add(1, std::memory_order_relaxed);
        self->end_task(q, nullptr);
    }

    /// Cancels a delayed job taken from the delay heap (shutdown, purge).
    void cancel_delayed(queue_rt& q, job& j) noexcept {
        if (j.st != nullptr && j.st->state.load(std::memory_order_acquire) == task_state::cancelled) {
            drop_unscheduled(j);  // (A5) its handle's cancel gave the unit back
            return;
        }
        cancel_job(q, j);
    }

    /// Cancels a job outside a worker (shutdown, timer purge).
    void cancel_job(queue_rt& q, job& j) noexcept {
        if (j.kind == job::token) return;  // its strand's tasks are purged with the strand
        if (j.st != nullptr) (void)j.st->try_cancel();
        j.fn = nullptr;
        if constexpr (metrics_on) q.cancelled_outside.fetch_add(1, std::memory_order_relaxed);
        shutdown_cancelled_.fetch_add(1, std::memory_order_relaxed);
        end_task(q, j.st);
    }

    void worker_main(queue_rt& q, std::size_t index) {
        worker_rt& w = *q.workers[index];
        std::string name = q.cfg.name.substr(0, 11) + "/" + std::to_string(index);
        (void)pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
        if (cfg_.on_thread_start) cfg_.on_thread_start(q.cfg.name, index);
        job j;
        for (;;) {
            if (try_take(q, w, j)) {
                process(q, w, j);
                continue;
            }
            // Spin as a searcher: submitters skip the wake-up while someone searches (S5).
            q.spinning.fetch_add(1, std::memory_order_seq_cst);
            bool got = false;
            for (int spin = 0; !got && spin < spin_tries + yield_tries; ++spin) {
                if (spin < spin_tries) {
                    cpu_relax();
                } else {
                    std::this_thread::yield();  // with more threads than cores, let the submitter run
                }
                got = try_take(q, w, j);
            }
            bool last = q.spinning.fetch_sub(1, std::memory_order_seq_cst) == 1;  // (S5)
            if constexpr (planted("searcher_no_handoff")) last = false;  // never wakes another worker
            if (got) {
                // The last searcher found work: if more is ready, another worker takes over
                // the search. Needed for progress, not only for speed: the submitter skipped its
                // wake-up while this worker searched, and the task found may run for long.
                if (last && q.ready.load(std::memory_order_seq_cst) > 0) q.work_ec.notify_one();
                process(q, w, j);
                continue;
            }
            if (stop_.load(std::memory_order_acquire) && q.ready.load(std::memory_order_seq_cst) <= 0) break;
            const event_count::key k = q.work_ec.prepare_wait();
            if ((q.ready.load(std::memory_order_seq_cst) > 0 && !q.paused.load(std::memory_order_seq_cst)) ||
                stop_.load(std::memory_order_seq_cst)) {
                q.work_ec.cancel_wait();
                if (stop_.load(std::memory_order_relaxed) && q.ready.load(std::memory_order_seq_cst) <= 0)
                    break;
                continue;
            }
            q.work_ec.wait(k);
        }
        if (cfg_.on_thread_stop) cfg_.on_thread_stop(q.cfg.name, index);
        w.exited.store(true, std::memory_order_release);  // (R4)
    }

    // ---- manual mode ----------------------------------------------------------------------
    std::size_t run_pending() {
        std::size_t ran = 0;
        for (;;) {
            (void)release_due(clock_.now(), false);
            bool any = false;
            for (auto& q : queues_) {
                job j;
                while (try_take(*q, *q->workers[0], j)) {
                    process(*q, *q->workers[0], j);
                    ++ran;
                    any = true;
                }
            }
            if (!any) return ran;
        }
    }
    static void pump(void* self) { (void)static_cast<dispatch_core*>(self)->run_pending(); }

    // ---- idle, stats ----------------------------------------------------------------------
    bool wait_idle_until(std::chrono::steady_clock::time_point deadline) {
        if (cfg_.manual) {
            (void)run_pending();
            return idle();
        }
        for (auto& q : queues_) {
            for (;;) {
                if (q->depth.load(std::memory_order_seq_cst) == 0) break;
                const event_count::key k = q->room_ec.prepare_wait();
                if (q->depth.load(std::memory_order_seq_cst) == 0) {
                    q->room_ec.cancel_wait();
                    break;
                }
                if (!q->room_ec.wait_until(k, deadline)) return idle();
            }
        }
        return true;
    }
    bool idle() const noexcept {
        for (auto& q : queues_)
            if (q->depth.load(std::memory_order_seq_cst) != 0) return false;
        return true;
    }
    std::uint64_t total_run() const noexcept {
        std::uint64_t n = 0;
        for (auto& q : queues_)
            for (auto& w : q->workers)
                n += w->run.load(std::memory_order_relaxed);
        return n;
    }
    queue_stats stats(const queue_rt& q) const noexcept {
        queue_stats s;
        s.depth =
            static_cast<std::size_t>(std::max<std::int64_t>(q.depth.load(std::memory_order_relaxed), 0));
        for (auto& w : q.workers) {
            s.run += w->run.load(std::memory_order_relaxed) - w->failed.load(std::memory_order_relaxed);
            s.failed += w->failed.load(std::memory_order_relaxed);
            s.cancelled += w->cancelled.load(std::memory_order_relaxed);
        }
        s.cancelled += q.cancelled_outside.load(std::memory_order_relaxed);
        s.rejected = q.rejected.load(std::memory_order_relaxed);
        return s;
    }

    // ---- shutdown -------------------------------------------------------------------------
    /// Stops admission and wakes blocked submitters; async-signal-safe (atomics and futex only).
    void close() noexcept {
        closed_.store(true, std::memory_order_seq_cst);
        for (auto& q : queues_) {
            q->room_ec.notify_all();
            q->work_ec.notify_all();
        }
    }

    /// Cancels everything that has not started: the delayed heap, the rings, the strands.
    void purge_all() noexcept {
        purge_delayed();
        for (auto& q : queues_) {
            job j;
            for (auto& r : q->levels)
                while (r->try_pop(j)) {
                    q->ready.fetch_sub(1, std::memory_order_relaxed);
                    cancel_job(*q, j);
                }
            for (auto& sh : q->shards) {
                std::deque<job> left;
                {
                    std::lock_guard lock(sh->mutex);
                    for (auto& [key, s] : sh->map) {
                        for (auto& t : s.tasks)
                            left.push_back(std::move(t));
                        s.tasks.clear();  // the running task's worker erases the strand
                    }
                }
                for (auto& t : left)
                    cancel_job(*q, t);
            }
        }
    }

    void request_stop_all() noexcept {
        for (auto& q : queues_)
            for (auto& w : q->workers) {
                std::lock_guard lock(w->stop.mutex);
                (void)w->stop.source.request_stop();
            }
    }

    shutdown_report shutdown(shutdown_mode mode, std::chrono::nanoseconds timeout, delayed_on_drain dd) {
        if (dispatch_current_core == this) {  // from a task: a request, done after it returns
            if (mode == shutdown_mode::cancel) cancel_all_.store(true, std::memory_order_release);
            close();
            shutdown_report r;
            r.requested_only = true;
            return r;
        }
        std::lock_guard once(shutdown_mutex_);
        if (finished_) return {};
        const std::uint64_t run_before = total_run();
        shutdown_cancelled_.store(0, std::memory_order_relaxed);
        close();
        for (auto& q : queues_)
            q->paused.store(false, std::memory_order_seq_cst);
        for (auto& q : queues_)
            q->work_ec.notify_all();
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
        bool cancel = mode == shutdown_mode::cancel || cancel_all_.load(std::memory_order_acquire);
        if (!cancel) {
            if (dd == delayed_on_drain::run_now) (void)release_due(clock_.now(), true);
            if (dd == delayed_on_drain::cancel) purge_delayed();
            if (cfg_.manual) {
                (void)run_pending();
                if (!idle()) cancel = true;  // not-due delayed tasks cannot be waited for without threads
            } else if (!wait_idle_until(deadline)) {
                cancel = true;
            }
        }
        shutdown_report r;
        if (cancel) {
            cancel_all_.store(true, std::memory_order_release);
            request_stop_all();
            purge_all();
            for (auto& q : queues_)
                q->work_ec.notify_all();
            if (!cfg_.manual)
                (void)wait_idle_until(
                    std::chrono::steady_clock::now() +
                    std::chrono::ceil<std::chrono::steady_clock::duration>(cfg_.stop_grace));
        }
        r.still_running = stop_threads();
        purge_all();  // a racing submitter's last push, after the workers left
        finished_ = true;
        r.run = static_cast<std::size_t>(total_run() - run_before);
        r.cancelled = shutdown_cancelled_.load(std::memory_order_relaxed);
        return r;
    }

    /// Cancels every delayed job (std::bad_alloc while the scheduler collects them ends the
    /// process: nothing may be left pending behind a stopped dispatcher).
    void purge_delayed() noexcept {
        (void)sched_.take_all([this](delayed_item&& d) { cancel_delayed(*queues_[d.queue], d.j); });
    }

    /// Stops the threads: joins those that leave within the grace period, detaches the rest
    /// (they hold the core by shared_ptr). Returns how many were still in a task.
    std::size_t stop_threads() noexcept {
        stop_.store(true, std::memory_order_seq_cst);
        sched_.stop();
        for (auto& q : queues_)
            q->work_ec.notify_all();
        const auto grace = std::chrono::steady_clock::now() + cfg_.stop_grace;
        std::size_t stuck = 0;
        for (auto& q : queues_)
            for (auto& w : q->workers) {
                if (!w->thread.joinable()) continue;
                while (!w->exited.load(std::memory_order_acquire) &&
                       std::chrono::steady_clock::now() < grace)  // (A4)
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                if (w->exited.load(std::memory_order_acquire)) {
                    w->thread.join();
                } else {
                    ++stuck;
                    w->thread.detach();  // last resort: it keeps the core alive by shared_ptr
                }
            }
        return stuck;
    }

    void stop_threads_now() noexcept {
        cancel_all_.store(true, std::memory_order_release);
        closed_.store(true, std::memory_order_seq_cst);
        (void)stop_threads();
    }

    const dispatcher_config& config() const noexcept { return cfg_; }
    clock_type& clock() noexcept { return clock_; }
    bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
    bool finished() const noexcept { return finished_; }
    std::vector<std::unique_ptr<queue_rt>>& queues() noexcept { return queues_; }

private:
    void validate() const {
        if (cfg_.queues.empty())
            throw std::invalid_argument("millrace::dispatcher: at least one queue is needed");
        for (std::size_t i = 0; i < cfg_.queues.size(); ++i) {
            const queue_config& q = cfg_.queues[i];
            const std::string where = "millrace::dispatcher: queue '" + q.name + "': ";
            if (q.name.empty())
                throw std::invalid_argument("millrace::dispatcher: queue #" + std::to_string(i) +
                                            ": name must not be empty");
            for (std::size_t k = 0; k < i; ++k)
                if (cfg_.queues[k].name == q.name) throw std::invalid_argument(where + "name is used twice");
            if (q.capacity == 0) throw std::invalid_argument(where + "capacity must be >= 1");
            if (q.capacity > (std::size_t{1} << 40))
                throw std::invalid_argument(where + "capacity is too large");
            if (q.workers == 0 && q.max_workers == 0)
                throw std::invalid_argument(where + "workers must be >= 1 (0 only with max_workers > 0)");
            if (q.max_workers != 0 && q.max_workers < q.workers)
                throw std::invalid_argument(where + "max_workers must be >= workers");
            if (q.priority_weights.empty())
                throw std::invalid_argument(where + "priority_weights must name at least one level");
            for (std::uint32_t w : q.priority_weights)
                if (w == 0) throw std::invalid_argument(where + "priority_weights must all be >= 1");
            if (q.admission.high_watermark != 0 && q.admission.high_watermark > q.capacity)
                throw std::invalid_argument(where + "admission.high_watermark must be <= capacity");
        }
    }

    dispatcher_config cfg_;
    clock_type clock_;
    typename P::router router_{};
    std::vector<std::unique_ptr<queue_rt>> queues_;
    alignas(cache_line) std::atomic<bool> closed_{false};
    std::atomic<bool> cancel_all_{false};
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> shutdown_cancelled_{0};
    std::atomic<std::uint64_t> lost_countdown_{0};  // the planted lost_task only

    std::mutex dedup_mutex_;
    // Guarded by dedup_mutex_ (each entry holds one reference):
    std::unordered_map<std::string, state_base*> dedup_;

    scheduler_type sched_;  // after the queues: stopped before they go
    std::mutex shutdown_mutex_;
    // Guarded by shutdown_mutex_:
    bool finished_ = false;
};

}  // namespace detail

/// The dispatcher: named queues of tasks, configured at run time, policies fixed at compile
/// time. Thread-safe (manual mode: drive it from one thread). Not copyable or movable.
template <class Policies = default_policies>
class basic_dispatcher {
    static_assert(
        detail::queue_policy_ok<Policies>,
        "millrace::dispatch_policies: Policies::queue must be `template <class T> using queue = R<T>;` "
        "naming a bounded ring built from a capacity, with try_push(T&&) and try_pop(T&) (like mpmc_queue)");
    static_assert(
        detail::clock_policy_ok<Policies>,
        "millrace::dispatch_policies: Policies::clock must model millrace::clock_policy (now(), wait_until)");
    static_assert(
        detail::scheduler_policy_ok<Policies>,
        "millrace::dispatch_policies: Policies::scheduler must be `template <class Item, class Clock>` "
        "class built from (const Clock&, millrace::delay_sink<Item>, bool manual) with start(), "
        "schedule(time_point, Item&&), poll(time_point) -> std::size_t, take_all(const "
        "delay_sink<Item>&) -> std::size_t and stop() (like heap_delay_scheduler)");
    static_assert(
        detail::router_policy_ok<Policies>,
        "millrace::dispatch_policies: Policies::router must be default-constructible and callable as "
        "router(std::uint64_t key_hash, std::size_t shards) -> std::size_t");
    static_assert(
        detail::admission_policy_ok<Policies>,
        "millrace::dispatch_policies: Policies::admission must be `template <class Clock>` class built from "
        "(const queue_config&, const Clock&) with admit(const queue_state&) -> admission, cancel(const "
        "queue_state&) and retry_after() -> std::chrono::nanoseconds");
    static_assert(detail::metrics_policy_ok<Policies>,
                  "millrace::dispatch_policies: Policies::metrics must have `static constexpr bool enabled`");
    static_assert(
        detail::store_policy_ok<Policies>,
        "millrace::dispatch_policies: Policies::store must be millrace::no_store in this dispatcher");

    using core_t = detail::dispatch_core<Policies>;

public:
    using policies = Policies;                           ///< the policies struct
    using clock_type = typename Policies::clock;         ///< the clock policy
    using time_point = typename clock_type::time_point;  ///< its time points

    /// Validates `cfg` (std::invalid_argument naming queue and field) and starts the threads
    /// unless cfg.manual.
    explicit basic_dispatcher(dispatcher_config cfg, clock_type clock = {})
        : core_(std::make_shared<core_t>(std::move(cfg), std::move(clock))) {
        core_->start(core_);
    }
    basic_dispatcher(const basic_dispatcher&) = delete;
    basic_dispatcher& operator=(const basic_dispatcher&) = delete;

    /// Drains for at most dispatcher_config::destructor_timeout, then cancels what has not
    /// started and requests stop of running tasks; a thread still in a task after stop_grace is
    /// detached (it keeps only reference-counted state alive).
    ~basic_dispatcher() {
        (void)core_->shutdown(shutdown_mode::drain, core_->config().destructor_timeout,
                              delayed_on_drain::run_now);
    }

    /// Fire and forget: no handle, no allocation when the callable fits unique_function's inline
    /// buffer. Blocks while a blocking queue is full (returns rejected_full from a worker of
    /// this dispatcher). The callable is moved from only when accepted.
    template <dispatch_task F>
    submit_status post(F&& f, const submit_options& o = {}) {
        return place<void, false>(std::forward<F>(f), o, wait_kind::forever, {}).status;
    }

    /// Submits and returns a handle to the result.
    template <dispatch_task F>
    submit_result<task_result_t<F>> submit(F&& f, const submit_options& o = {}) {
        return place<task_result_t<F>, true>(std::forward<F>(f), o, wait_kind::forever, {});
    }

    /// As submit, waiting at most `timeout` for room and for a rate token: `timeout` otherwise.
    template <dispatch_task F, class Rep, class Period>
    submit_result<task_result_t<F>> submit_for(F&& f, std::chrono::duration<Rep, Period> timeout,
                                               const submit_options& o = {}) {
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
        return place<task_result_t<F>, true>(std::forward<F>(f), o, wait_kind::until, deadline);
    }

    /// Submits to run at `when` on the dispatcher's clock (now if it has passed).
    template <dispatch_task F>
    submit_result<task_result_t<F>> submit_at(F&& f, time_point when, submit_options o = {}) {
        const auto left = when - core_->clock().now();
        o.delay = left > left.zero() ? std::chrono::duration_cast<std::chrono::nanoseconds>(left)
                                     : std::chrono::nanoseconds(0);
        return place<task_result_t<F>, true>(std::forward<F>(f), o, wait_kind::forever, {});
    }

    /// Posts every callable of `range` (moved from when accepted) with one wake-up for the
    /// batch; stops at the first refusal. Returns how many were accepted (a prefix).
    template <std::ranges::range R>
    std::size_t submit_bulk(R&& range, const submit_options& o = {}) {
        auto* q = core_->find(o.queue);
        if (q == nullptr) return 0;
        std::size_t n = 0;
        for (auto&& f : range) {
            if (place<void, false>(std::move(f), o, wait_kind::never, {}, false).status !=
                submit_status::accepted)
                break;
            ++n;
        }
        if (n != 0) q->work_ec.notify(static_cast<int>(std::min<std::size_t>(n, q->workers.size())));
        return n;
    }

    /// Stops workers from starting tasks of `queue` (submits are still accepted). Throws
    /// std::invalid_argument for an unknown queue.
    void pause(std::string_view queue) {
        core_->checked(queue).paused.store(true, std::memory_order_seq_cst);
    }
    /// Lets `queue`'s workers run tasks again.
    void resume(std::string_view queue) {
        auto& q = core_->checked(queue);
        q.paused.store(false, std::memory_order_seq_cst);
        q.work_ec.notify_all();
    }

    /// Waits until no task is queued, scheduled or running, at most `timeout`; true when idle.
    /// Manual mode: runs what is due and returns whether that made it idle.
    template <class Rep, class Period>
    bool wait_idle(std::chrono::duration<Rep, Period> timeout) {
        return core_->wait_idle_until(std::chrono::steady_clock::now() +
                                      std::chrono::ceil<std::chrono::steady_clock::duration>(timeout));
    }

    /// Manual mode: runs on the caller's thread every task due at the clock's time, including
    /// those the tasks submit; returns how many ran. Throws std::logic_error in threaded mode.
    std::size_t run_pending() {
        if (!core_->config().manual) throw std::logic_error("millrace: run_pending() is for manual mode");
        return core_->run_pending();
    }

    /// Shuts down: drain runs everything admitted (delayed tasks per `delayed`), cancel cancels
    /// what has not started and requests stop of running tasks; a drain that passes `timeout`
    /// turns into a cancel. From inside a task it only records the request. Idempotent.
    shutdown_report shutdown(shutdown_mode mode = shutdown_mode::drain,
                             std::chrono::nanoseconds timeout = std::chrono::seconds(10),
                             delayed_on_drain delayed = delayed_on_drain::run_now) {
        return core_->shutdown(mode, timeout, delayed);
    }

    /// Closes admission and wakes every waiter; async-signal-safe (a SIGTERM handler may call
    /// it). Admitted tasks keep running; call shutdown() or destroy the dispatcher to finish.
    void request_stop() noexcept { core_->close(); }
    /// Whether admission is closed (request_stop or shutdown).
    [[nodiscard]] bool stop_requested() const noexcept { return core_->closed(); }

    /// Counters of `queue`; throws std::invalid_argument for an unknown queue.
    [[nodiscard]] queue_stats stats(std::string_view queue = {}) const {
        return core_->stats(core_->checked(queue));
    }
    /// The clock policy instance.
    [[nodiscard]] clock_type& clock() noexcept { return core_->clock(); }

private:
    using wait_kind = typename core_t::wait_kind;

    template <class Result, bool WithHandle, class F>
    submit_result<Result> place(F&& f, const submit_options& o, wait_kind wk,
                                std::chrono::steady_clock::time_point deadline, bool notify = true) {
        using D = std::decay_t<F>;
        submit_result<Result> res;
        auto* q = core_->find(o.queue);
        if (q == nullptr) {
            res.status = submit_status::unknown_queue;
            return res;
        }
        if (o.priority >= q->levels.size())
            throw std::invalid_argument("millrace::dispatcher: queue '" + q->cfg.name + "': priority " +
                                        std::to_string(o.priority) + " is not below the level count " +
                                        std::to_string(q->levels.size()));
        res.status = core_->reserve(*q, wk, deadline, res.retry_after);
        if (res.status != submit_status::accepted) return res;

        const bool need_state = WithHandle || !o.dedup_key.empty();
        detail::handle_state<Result>* st = nullptr;
        if (need_state) {
            try {
                st = detail::state_slab<Result>::acquire();
                st->refs.store(1, std::memory_order_relaxed);  // the job's reference
                if (!o.dedup_key.empty()) st->dedup_key.assign(o.dedup_key);
            } catch (...) {
                if (st != nullptr) st->release();
                core_->unreserve(*q);
                throw;
            }
            if (core_->config().manual) {
                st->pump = &core_t::pump;
                st->pump_ctx = core_.get();
            }
            if (o.delay > o.delay.zero()) {
                st->state.store(task_state::scheduled, std::memory_order_relaxed);
                st->owner = core_;  // a cancel while scheduled gives the unit back through it
                st->queue_index = q->index;
                st->unschedule = &core_t::unschedule;
            }
            if (!o.dedup_key.empty()) {
                detail::state_base* live = nullptr;
                try {
                    live = core_->dedup_insert(st);
                } catch (...) {
                    st->release();
                    core_->unreserve(*q);
                    throw;
                }
                if (live != nullptr) {  // checked before the callable moves: it stays untouched
                    st->release();
                    core_->unreserve(*q);
                    res.status = submit_status::duplicate;
                    res.existing = task_ref(live);
                    return res;
                }
            }
        }
        detail::job j;
        try {
            if constexpr (std::is_void_v<Result>) {
                j.fn = [fn = D(std::forward<F>(f))](task_context& c, detail::state_base*) mutable {
                    (void)detail::invoke_task(fn, c);
                };
            } else {
                j.fn = [fn = D(std::forward<F>(f))](task_context& c, detail::state_base* s) mutable {
                    static_cast<detail::handle_state<Result>*>(s)->set_value(detail::invoke_task(fn, c));
                };
            }
        } catch (...) {
            undo(*q, st);
            throw;
        }
        if (st != nullptr) {
            if constexpr (WithHandle) {
                st->add_ref();  // the handle's reference
                res.handle = task_handle<Result>(st);
            }
        }
        j.st = st;
        j.priority = o.priority;
        if (o.partition_key) {
            j.kind = detail::job::keyed;
            j.key = o.partition_key.hash;
        }
        try {
            if (o.delay > o.delay.zero()) {
                core_->schedule(*q, std::move(j), o.delay);
            } else {
                core_->enqueue_now(*q, std::move(j), notify);
            }
        } catch (...) {  // std::bad_alloc of a strand or the delay heap: the task never entered
            if (st != nullptr) (void)st->try_cancel();
            res.handle = {};
            undo(*q, st);
            throw;
        }
        return res;
    }

    void undo(typename core_t::queue_rt& q, detail::state_base* st) noexcept {
        if (st != nullptr) {
            core_->dedup_erase(st);
            st->release();
        }
        core_->unreserve(q);
    }

    std::shared_ptr<core_t> core_;
};

/// The dispatcher with every default policy.
using dispatcher = basic_dispatcher<default_policies>;

}  // namespace millrace
