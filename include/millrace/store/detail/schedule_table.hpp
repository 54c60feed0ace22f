// millrace/store/detail/schedule_table.hpp: the persisted schedules of a store, by name.
//
// Single-threaded (the adapter serializes calls). advance() is the compare-and-set that
// lets exactly one caller win each firing: it moves next_run from `expected` to `next`
// and refuses when next_run is no longer `expected` (another caller won, or the schedule
// was replaced or removed). The table never looks at jobs, so a fired job that finished and
// was purged changes nothing about which firings were won.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "millrace/core/detail/planted.hpp"
#include "millrace/store/job.hpp"

namespace millrace::detail {

class schedule_table {
public:
    /// Throws std::invalid_argument for an empty name or queue.
    static void validate(const schedule_record& r) {
        if (r.name.empty()) throw std::invalid_argument("upsert_schedule: schedule_record.name is empty");
        if (r.queue.empty()) throw std::invalid_argument("upsert_schedule: schedule_record.queue is empty");
    }

    /// Inserts or replaces the schedule of r.name; true when inserted. Validates first.
    bool upsert(schedule_record r) {
        validate(r);
        auto it = by_name_.find(r.name);
        if (it != by_name_.end()) {
            it->second = std::move(r);
            return false;
        }
        std::string key = r.name;
        by_name_.emplace(std::move(key), std::move(r));
        return true;
    }

    /// Every schedule, by name.
    [[nodiscard]] std::vector<schedule_record> list() const {
        std::vector<schedule_record> out;
        out.reserve(by_name_.size());
        for (const auto& [name, r] : by_name_)
            out.push_back(r);
        return out;
    }

    bool remove(std::string_view name) {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) return false;
        by_name_.erase(it);
        return true;
    }

    /// The compare-and-set: next_run == expected -> next_run = next, true; else false.
    bool advance(std::string_view name, job_time expected, job_time next) {
        schedule_record* r = find(name);
        if (r == nullptr) return false;
        if constexpr (planted("store_advance_schedule_not_atomic")) expected = r->next_run;  // no compare
        if (r->next_run != expected) return false;
        r->next_run = next;
        return true;
    }

    [[nodiscard]] schedule_record* find(std::string_view name) noexcept {
        auto it = by_name_.find(name);
        return it == by_name_.end() ? nullptr : &it->second;
    }
    [[nodiscard]] std::size_t size() const noexcept { return by_name_.size(); }

private:
    std::map<std::string, schedule_record, std::less<>> by_name_;
};

}  // namespace millrace::detail
