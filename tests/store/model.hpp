// tests/store/model.hpp: the simplest task_store that could work, for the randomized model
// test of tests/store/conformance.hpp. A vector of records and linear scans: no index, no
// heaps, no sharding, no locks, so each rule of docs/storage.md reads as one line here.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "millrace/store/job.hpp"

namespace millrace::test {

class model_store {
public:
    enqueue_result enqueue(job_record r) {
        if (r.queue.empty() || r.max_attempts == 0) throw std::invalid_argument("bad record");
        if (!r.dedup_key.empty()) {
            for (auto& [id, j] : jobs_)
                if (j.queue == r.queue && j.dedup_key == r.dedup_key && is_live(j.state)) return {id, false};
        }
        r.id = next_id_++;
        r.state = r.run_at > r.created_at ? job_state::scheduled : job_state::ready;
        r.attempts = 0;
        r.updated_at = r.created_at;
        r.lease_until = {};
        r.token = 0;
        r.worker.clear();
        r.last_error.clear();
        jobs_[r.id] = r;
        return {r.id, true};
    }

    std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now, job_time until,
                                   std::string_view worker, std::span<const std::string> types = {}) {
        std::vector<claimed_job> out;
        if (max == 0) return out;
        std::vector<job_record*> cands;
        for (auto& [id, j] : jobs_) {
            if (j.queue != queue) continue;
            if (j.state == job_state::scheduled && j.run_at <= now) j.state = job_state::ready;
            const bool wanted = types.empty() || std::find(types.begin(), types.end(), j.type) != types.end();
            if (j.state == job_state::ready && wanted) cands.push_back(&j);
        }
        std::sort(cands.begin(), cands.end(), [](const job_record* a, const job_record* b) {
            if (a->priority != b->priority) return a->priority > b->priority;
            if (a->run_at != b->run_at) return a->run_at < b->run_at;
            return a->id < b->id;
        });
        for (std::size_t i = 0; i < cands.size() && i < max; ++i) {
            job_record& j = *cands[i];
            j.state = job_state::running;
            ++j.attempts;
            j.token = next_token_++;
            j.lease_until = until;
            j.updated_at = now;
            j.worker = std::string(worker);
            out.push_back({j, j.token});
        }
        return out;
    }

    bool complete(job_id id, lease_token t, job_time now) {
        job_record* j = owned(id, t);
        if (!j) return false;
        j->state = job_state::succeeded;
        j->updated_at = now;
        return true;
    }

    bool fail(job_id id, lease_token t, fail_outcome o, std::string_view err, job_time now) {
        job_record* j = owned(id, t);
        if (!j) return false;
        j->last_error = std::string(err);
        j->updated_at = now;
        if (o.is_dead || j->attempts >= j->max_attempts) {
            j->state = job_state::dead;
        } else {
            j->run_at = o.retry_time;
            j->state = o.retry_time > now ? job_state::scheduled : job_state::ready;
        }
        return true;
    }

    bool release(job_id id, lease_token t, job_time now) {
        job_record* j = owned(id, t);
        if (!j) return false;
        --j->attempts;
        j->updated_at = now;
        j->state = j->run_at > now ? job_state::scheduled : job_state::ready;
        return true;
    }

    std::vector<bool> complete_many(std::span<const lease_ref> items, job_time now) {
        std::vector<bool> out;
        for (const auto& i : items)
            out.push_back(complete(i.id, i.token, now));
        return out;
    }

    std::vector<bool> fail_many(std::span<const failure> items, job_time now) {
        std::vector<bool> out;
        for (const auto& f : items)
            out.push_back(fail(f.id, f.token, f.outcome, f.error, now));
        return out;
    }

    bool extend_lease(job_id id, lease_token t, job_time until) {
        job_record* j = owned(id, t);
        if (!j) return false;
        j->lease_until = until;
        return true;
    }

    std::size_t requeue_expired(job_time now) {
        std::size_t n = 0;
        for (auto& [id, j] : jobs_) {
            if (j.state != job_state::running || j.lease_until > now) continue;
            j.updated_at = now;
            if (j.attempts >= j.max_attempts) {
                j.state = job_state::dead;
                j.last_error = "lease expired";
            } else {
                j.state = job_state::ready;
            }
            ++n;
        }
        return n;
    }

    bool cancel(job_id id, job_time now) {
        auto it = jobs_.find(id);
        if (it == jobs_.end() || !is_live(it->second.state)) return false;
        it->second.state = job_state::cancelled;
        it->second.updated_at = now;
        return true;
    }

    std::optional<job_time> next_run_at(std::string_view queue) const {
        std::optional<job_time> t;
        for (auto& [id, j] : jobs_)
            if (j.queue == queue && (j.state == job_state::scheduled || j.state == job_state::ready))
                if (!t || j.run_at < *t) t = j.run_at;
        return t;
    }

    store_stats stats(std::string_view queue) const {
        store_stats s;
        for (auto& [id, j] : jobs_)
            if (j.queue == queue) {
                ++s[j.state];
                ++s.by_type[j.type][j.state];
            }
        return s;
    }

    std::vector<job_record> list(std::string_view queue, job_state st, std::size_t limit) const {
        std::vector<job_record> out;
        for (auto& [id, j] : jobs_)  // std::map: by id
            if (j.queue == queue && j.state == st && out.size() < limit) out.push_back(j);
        return out;
    }

    std::optional<job_record> find(job_id id) const {
        auto it = jobs_.find(id);
        if (it == jobs_.end()) return std::nullopt;
        return it->second;
    }

    bool retry_dead(job_id id, job_time now) {
        auto it = jobs_.find(id);
        if (it == jobs_.end() || it->second.state != job_state::dead) return false;
        job_record& j = it->second;
        if (!j.dedup_key.empty()) {
            for (auto& [oid, o] : jobs_)
                if (oid != id && o.queue == j.queue && o.dedup_key == j.dedup_key && is_live(o.state))
                    return false;
        }
        j.state = job_state::ready;
        j.attempts = 0;
        j.run_at = now;
        j.updated_at = now;
        return true;
    }

    std::size_t purge(job_state st, job_time older_than) {
        if (is_live(st)) throw std::invalid_argument("live state");
        std::size_t n = 0;
        for (auto it = jobs_.begin(); it != jobs_.end();) {
            if (it->second.state == st && it->second.updated_at < older_than) {
                it = jobs_.erase(it);
                ++n;
            } else {
                ++it;
            }
        }
        return n;
    }

    bool upsert_schedule(schedule_record r) {
        if (r.name.empty() || r.queue.empty()) throw std::invalid_argument("bad schedule");
        const bool inserted = schedules_.count(r.name) == 0;
        schedules_[r.name] = r;
        return inserted;
    }
    std::vector<schedule_record> list_schedules() const {
        std::vector<schedule_record> out;
        for (const auto& [name, r] : schedules_)
            out.push_back(r);
        return out;
    }
    bool remove_schedule(std::string_view name) { return schedules_.erase(std::string(name)) != 0; }
    bool advance_schedule(std::string_view name, job_time expected, job_time next) {
        auto it = schedules_.find(std::string(name));
        if (it == schedules_.end() || it->second.next_run != expected) return false;
        it->second.next_run = next;
        return true;
    }

    const std::map<job_id, job_record>& jobs() const { return jobs_; }

private:
    job_record* owned(job_id id, lease_token t) {
        auto it = jobs_.find(id);
        if (it == jobs_.end() || it->second.state != job_state::running || it->second.token != t)
            return nullptr;
        return &it->second;
    }

    std::map<job_id, job_record> jobs_;
    std::map<std::string, schedule_record> schedules_;
    job_id next_id_ = 1;
    lease_token next_token_ = 1;
};

}  // namespace millrace::test
