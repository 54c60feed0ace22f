// millrace/dispatch/sharded_delay_scheduler.hpp: sched/sharded_scheduler as the dispatcher's
// delay scheduler policy (`template <class I, class C> using scheduler =
// millrace::sharded_delay_scheduler<I, C>;`): timing wheels fed by lock-free inboxes, one
// shard thread by default, a task handed over at the first tick boundary (1 ms by default) at
// or after its due time; heap_scheduler.hpp has the policy's contract.
//
// Nothing is lost at shutdown: stop() and take_all() take the pending tasks back from the
// wheels (stop_and_take) and keep them; a schedule that comes after keeps its item here too,
// and take_all hands all of them over.
//
// What throws: the constructor (std::system_error when the shard thread cannot start),
// schedule (std::bad_alloc).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <shared_mutex>
#include <utility>
#include <vector>

#include "millrace/dispatch/heap_scheduler.hpp"
#include "millrace/sched/sharded_scheduler.hpp"

namespace millrace {

/// The delay scheduler on sharded_scheduler's timing wheels (tick-rounded, never early).
template <class Item, class Clock>
class sharded_delay_scheduler {
public:
    using time_point = typename Clock::time_point;  ///< the clock's time points

    /// One shard; `manual`: no thread, poll() hands items over (rounded up to the tick).
    sharded_delay_scheduler(const Clock& clock, delay_sink<Item> sink, bool manual)
        : sched_(std::move(sink), options(clock, manual)) {}
    sharded_delay_scheduler(const sharded_delay_scheduler&) = delete;
    sharded_delay_scheduler& operator=(const sharded_delay_scheduler&) = delete;
    ~sharded_delay_scheduler() { stop(); }

    /// Bytes one pending item takes (the item and the wheel's entry around it, roughly).
    static constexpr std::size_t bytes_per_item = sizeof(Item) + 4 * sizeof(void*);

    /// Nothing to do: the shard thread starts with the scheduler.
    void start() noexcept {}

    /// Keeps `item` until `due`. Throws std::bad_alloc.
    void schedule(time_point due, Item&& item) {
        {
            std::shared_lock lock(mutex_);
            if (!stopped_) {
                (void)sched_.schedule_at(due, std::move(item));
                return;
            }
        }
        std::lock_guard lock(mutex_);
        left_.push_back(std::move(item));  // after stop: kept for take_all
    }

    /// Manual mode: hands every item due at `now` (tick-rounded) to the sink.
    std::size_t poll(time_point now) { return sched_.poll(now); }

    /// Stops the wheels and hands every pending item to `f`; returns how many.
    std::size_t take_all(const delay_sink<Item>& f) {
        std::vector<Item> items;
        {
            std::lock_guard lock(mutex_);
            stop_locked();
            items.swap(left_);
        }
        for (auto& i : items)
            f(std::move(i));
        return items.size();
    }

    /// Stops the shard thread; pending items stay for take_all.
    void stop() noexcept {
        std::lock_guard lock(mutex_);
        stop_locked();
    }

private:
    static scheduler_options<Clock> options(const Clock& clock, bool manual) {
        scheduler_options<Clock> o;
        o.shards = 1;
        o.manual = manual;
        o.clock = clock;
        return o;
    }

    void stop_locked() noexcept {
        if (stopped_) return;
        stopped_ = true;
        try {
            (void)sched_.stop_and_take([this](Item&& i) { left_.push_back(std::move(i)); });
        } catch (...) {  // std::logic_error from a sink cannot happen: the dispatcher never stops from one
        }
    }

    sharded_scheduler<Item, Clock> sched_;
    std::shared_mutex mutex_;
    // Guarded by mutex_ (schedule holds it shared while it hands an item to the wheels):
    bool stopped_ = false;
    std::vector<Item> left_;  // taken back from the wheels or scheduled after stop
};

}  // namespace millrace
