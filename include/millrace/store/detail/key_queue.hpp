// millrace/store/detail/key_queue.hpp: the min-queue of (time, id) keys behind every
// ordering of detail::job_index (ready lanes, scheduled, running, terminal).
//
// Keys that arrive in order (the common case: run_at, lease_until and updated_at mostly grow
// with time, and ids grow) are appended to a sorted run (a vector with a head index); the
// others go to a binary min-heap; the top is the smaller of the two fronts. Pushing in order
// and popping are O(1), the rest O(log n). Deletion is lazy: the owner decides which keys are
// stale (drop_stale, compact). Sources: the binary heap (Williams, CACM 1964); setting the
// in-order run apart exploits presortedness as adaptive sorts do with natural runs
// (Estivill-Castro & Wood, ACM Computing Surveys 1992).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "millrace/store/job.hpp"

namespace millrace::detail {

/// A min-queue of (time, id) keys with lazy deletion: a sorted run for keys that arrive in
/// order, a binary heap for the others (see the header comment).
struct job_key {
    job_time t;
    job_id id;
    std::uint32_t slot;
    std::uint32_t seq;
};
static_assert(sizeof(job_key) == 24);

class key_queue {
public:
    [[nodiscard]] bool empty() const noexcept { return run_.empty() && heap_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return run_.size() - head_ + heap_.size(); }

    /// Makes room for one push(): the only call that allocates. Changes no key (it may move
    /// the sorted run down over the popped keys in front of it).
    void reserve_push() {
        if (run_.size() == run_.capacity()) {
            if (head_ != 0 && head_ >= run_.size() / 2) {
                shift();  // at least half popped: O(1) amortized per pop
            } else {
                run_.reserve(std::max<std::size_t>(8, 2 * run_.capacity()));
            }
        }
        if (heap_.size() == heap_.capacity()) heap_.reserve(std::max<std::size_t>(4, 2 * heap_.capacity()));
    }
    /// Makes room for `k` push() calls.
    void reserve_pushes(std::size_t k) {
        if (run_.capacity() - run_.size() < k) run_.reserve(std::max(2 * run_.capacity(), run_.size() + k));
        if (heap_.capacity() - heap_.size() < k)
            heap_.reserve(std::max(2 * heap_.capacity(), heap_.size() + k));
    }
    /// Requires reserve_push() since the last push (no allocation here).
    void push(const job_key& k) noexcept {
        if (run_.empty() || !before(k, run_.back())) {
            run_.push_back(k);  // within the capacity reserve_push made
        } else {
            heap_.push_back(k);
            std::push_heap(heap_.begin(), heap_.end(), after{});
        }
    }
    /// Requires !empty().
    [[nodiscard]] const job_key& top() const noexcept { return from_heap() ? heap_.front() : run_[head_]; }
    /// Requires !empty().
    void pop() noexcept {
        if (from_heap()) {
            std::pop_heap(heap_.begin(), heap_.end(), after{});
            heap_.pop_back();
        } else if (++head_ == run_.size()) {
            run_.clear();  // keeps the capacity
            head_ = 0;
        }
    }
    template <class Valid>
    void drop_stale(Valid&& valid) noexcept {
        while (!empty() && !valid(top()))
            pop();
    }
    template <class Valid>
    void compact(Valid&& valid) noexcept {
        shift();
        std::erase_if(run_, [&](const job_key& k) { return !valid(k); });  // stays sorted
        std::erase_if(heap_, [&](const job_key& k) { return !valid(k); });
        std::make_heap(heap_.begin(), heap_.end(), after{});
    }

    /// Live jobs keyed here, where no count gives it (ready lanes).
    [[nodiscard]] std::uint64_t live() const noexcept { return live_; }
    void inc_live() noexcept { ++live_; }
    void dec_live() noexcept { --live_; }

private:
    static bool before(const job_key& a, const job_key& b) noexcept {
        return a.t < b.t || (a.t == b.t && a.id < b.id);
    }
    struct after {
        bool operator()(const job_key& a, const job_key& b) const noexcept { return before(b, a); }
    };
    bool from_heap() const noexcept {
        if (heap_.empty()) return false;
        return run_.empty() || before(heap_.front(), run_[head_]);
    }
    void shift() noexcept {
        run_.erase(run_.begin(), run_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }

    std::vector<job_key> run_;  // sorted; the keys before head_ are popped
    std::size_t head_ = 0;
    std::vector<job_key> heap_;
    std::uint64_t live_ = 0;
};

}  // namespace millrace::detail
