// millrace/dispatch/heap_scheduler.hpp: the dispatcher's default delay scheduler: a min-heap of
// delayed tasks by (due, submission order) under one mutex, driven by one timer thread in
// threaded mode and by poll() in manual mode (exact to the clock's resolution: a task due at
// 1.5 ms is handed over at 1.5 ms, not at a tick boundary).
//
// The scheduler policy (`Policies::scheduler`, `template <class Item, class Clock>`) is built
// from (const Clock&, delay_sink<Item>, bool manual) and offers:
//   start()                  threaded mode: starts whatever thread hands due items to the sink
//   schedule(due, Item&&)    keeps an item until `due` (may throw std::bad_alloc; then it is not kept)
//   poll(now) -> size_t      hands every item due at `now` to the sink, earliest first
//   take_all(f) -> size_t    hands every pending item to f, due or not (shutdown)
//   stop()                   stops the thread; pending items stay for take_all
// The sink is called from the scheduler's thread (or poll's caller) without the scheduler's
// lock held, so it may schedule again.
//
// What throws: schedule (std::bad_alloc), start (std::system_error when no thread starts).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "millrace/core/detail/planted.hpp"
#include "millrace/time/clock.hpp"

namespace millrace {

/// Where a delay scheduler hands a due item.
template <class Item>
using delay_sink = std::function<void(Item&&)>;

/// The default delay scheduler: a min-heap under a mutex and one timer thread that sleeps
/// until the earliest due time (re-armed when an earlier item arrives).
template <class Item, class Clock>
class heap_delay_scheduler {
public:
    using time_point = typename Clock::time_point;  ///< the clock's time points

    /// `manual`: no thread; poll() hands items over.
    heap_delay_scheduler(const Clock& clock, delay_sink<Item> sink, bool manual)
        : clock_(clock), sink_(std::move(sink)), manual_(manual) {}
    heap_delay_scheduler(const heap_delay_scheduler&) = delete;
    heap_delay_scheduler& operator=(const heap_delay_scheduler&) = delete;
    ~heap_delay_scheduler() { stop(); }

    /// Starts the timer thread (nothing in manual mode). Throws std::system_error.
    void start() {
        if (!manual_) thread_ = std::jthread([this](std::stop_token st) { run(st); });
    }

    /// Keeps `item` until `due`. Throws std::bad_alloc (the item is then not kept).
    void schedule(time_point due, Item&& item) {
        std::lock_guard lock(mutex_);
        heap_.push_back(entry{due, next_seq_++, std::move(item)});
        std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
        if (heap_.front().seq == next_seq_ - 1) {  // a new earliest: the timer re-arms
            rearm_ = true;
            cv_.notify_one();
        }
    }

    /// Hands every item due at `now` to the sink, by (due, submission order); returns how many.
    std::size_t poll(time_point now) { return drain(now, false, sink_); }

    /// Hands every pending item to `f`, due or not; returns how many.
    std::size_t take_all(const delay_sink<Item>& f) { return drain(now_unused(), true, f); }

    /// Bytes one pending item takes in the heap (without the vector's spare room).
    static constexpr std::size_t bytes_per_item = sizeof(Item) + sizeof(time_point) + sizeof(std::uint64_t);

    /// Stops the timer thread; pending items stay for take_all.
    void stop() noexcept {
        if (thread_.joinable()) {
            thread_.request_stop();
            thread_.join();
        }
    }

private:
    struct entry {
        time_point due;
        std::uint64_t seq;
        Item item;
        bool operator>(const entry& o) const noexcept { return due != o.due ? due > o.due : seq > o.seq; }
    };

    static time_point now_unused() noexcept { return time_point{}; }

    std::size_t drain(time_point now, bool everything, const delay_sink<Item>& f) {
        std::vector<entry> due;
        {
            std::lock_guard lock(mutex_);
            time_point limit = now;
            if constexpr (detail::planted("delay_one_ns_early"))  // a delay fires a nanosecond early
                limit += std::chrono::duration_cast<typename Clock::duration>(std::chrono::nanoseconds(1));
            while (!heap_.empty() && (everything || heap_.front().due <= limit)) {
                std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
                due.push_back(std::move(heap_.back()));
                heap_.pop_back();
            }
        }
        for (auto& e : due)
            f(std::move(e.item));
        return due.size();
    }

    void run(std::stop_token st) {
        std::unique_lock lock(mutex_);
        while (!st.stop_requested()) {
            if (heap_.empty()) {
                rearm_ = false;
                cv_.wait(lock, st, [this] { return rearm_; });
                continue;
            }
            const time_point now = clock_.now();
            if (heap_.front().due <= now) {
                lock.unlock();
                (void)poll(now);
                lock.lock();
                continue;
            }
            rearm_ = false;
            auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(heap_.front().due - now);
            if constexpr (!std::is_same_v<Clock, steady_clock_policy>)
                left = std::min<std::chrono::nanoseconds>(left, std::chrono::milliseconds(10));  // may jump
            cv_.wait_for(lock, st, left, [this] { return rearm_; });
        }
    }

    const Clock& clock_;
    delay_sink<Item> sink_;
    bool manual_;
    std::mutex mutex_;
    std::condition_variable_any cv_;
    // Guarded by mutex_:
    std::vector<entry> heap_;  // min-heap by (due, seq)
    std::uint64_t next_seq_ = 0;
    bool rearm_ = false;

    std::jthread thread_;  // last: stopped and joined before the members it uses go
};

}  // namespace millrace
