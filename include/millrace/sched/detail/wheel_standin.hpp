// millrace/sched/detail/wheel_standin.hpp: TEMPORARY stand-in with the API of
// millrace::timing_wheel (DESIGN.md time/), used only until time/timing_wheel.hpp lands on
// main. An ordered map: O(log n), allocating; correct, not fast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>

namespace millrace::detail {

template <class T>
class wheel_standin {
public:
    struct timer_id {
        std::uint64_t id = 0;
    };

    timer_id insert(std::uint64_t expiry_tick, T value) {
        const std::uint64_t id = ++next_id_;
        auto it = timers_.emplace(key{expiry_tick, id}, std::move(value)).first;
        (void)it;
        ids_.emplace(id, expiry_tick);
        return {id};
    }
    bool cancel(timer_id t) noexcept {
        auto it = ids_.find(t.id);
        if (it == ids_.end()) return false;
        timers_.erase(key{it->second, t.id});
        ids_.erase(it);
        return true;
    }
    template <class F>
    std::size_t advance(std::uint64_t now_tick, F&& on_expire) {
        if (now_tick > now_) now_ = now_tick;
        std::size_t n = 0;
        while (!timers_.empty() && timers_.begin()->first.tick <= now_) {
            auto node = timers_.extract(timers_.begin());
            ids_.erase(node.key().id);
            ++n;
            on_expire(std::move(node.mapped()));
        }
        return n;
    }
    std::optional<std::uint64_t> next_expiry() const {
        if (timers_.empty()) return std::nullopt;
        return timers_.begin()->first.tick;
    }
    std::size_t size() const noexcept { return timers_.size(); }
    std::uint64_t now() const noexcept { return now_; }
    void clear() {
        timers_.clear();
        ids_.clear();
    }

private:
    struct key {
        std::uint64_t tick;
        std::uint64_t id;
        bool operator<(const key& o) const noexcept { return tick != o.tick ? tick < o.tick : id < o.id; }
    };
    std::map<key, T> timers_;
    std::map<std::uint64_t, std::uint64_t> ids_;
    std::uint64_t next_id_ = 0;
    std::uint64_t now_ = 0;
};

}  // namespace millrace::detail
