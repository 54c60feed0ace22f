// memory_store against the store a user would write the obvious way: one std::mutex, the
// records in a hash map and each queue's ready jobs in a std::multimap ordered by
// (priority desc, run_at), FIFO among equals. Same API shape (claims return copies of the
// records with a token, complete checks the token), same job records.
//
// Cases (items = jobs):
//   store/enqueue/<impl>                      one enqueue per iteration, fresh store per run
//   store/claim_complete_b1/<impl>            claim 1 + complete it, backlog of 100k jobs
//   store/claim_complete_b100/<impl>          claim 100 + complete each
//   ..._2t_one_queue/<impl>                   2 threads on one queue (worst contention)
//   ..._2t_two_queues/<impl>                  2 threads, a queue each (memory_store shards)
//   store/ack100_complete_many/<store>        100 claimed jobs acknowledged by one complete_many
//   store/ack100_single_completes/<store>     the same 100 by 100 complete calls
//     (<store>: memory_store, journal_store in group_commit under $TMPDIR; the claim is not
//     timed; counter syncs_per_batch: the journal's fdatasync calls per 100 acknowledgements)
// The backlog is enqueued before the timed loop, sized so the loop never runs dry (fixed
// iteration counts), and the store is discarded after it.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include <benchmark/benchmark.h>

#include "millrace/store/journal_store.hpp"
#include "millrace/store/memory_store.hpp"

namespace {

using namespace millrace;

class mutex_multimap_store {
public:
    enqueue_result enqueue(job_record r) {
        std::lock_guard lock(m_);
        if (!r.dedup_key.empty()) {
            auto d = dedup_.find({r.queue, r.dedup_key});
            if (d != dedup_.end()) return {d->second, false};
            dedup_[{r.queue, r.dedup_key}] = next_id_;
        }
        r.id = next_id_++;
        r.state = r.run_at > r.created_at ? job_state::scheduled : job_state::ready;
        r.updated_at = r.created_at;
        auto& q = queues_[r.queue];
        q.emplace(std::make_pair(-r.priority, r.run_at), r.id);
        const job_id id = r.id;
        jobs_.emplace(id, std::move(r));
        return {id, true};
    }

    std::vector<claimed_job> claim(std::string_view queue, std::size_t max, job_time now, job_time until,
                                   std::string_view worker) {
        std::vector<claimed_job> out;
        std::lock_guard lock(m_);
        auto qi = queues_.find(queue);
        if (qi == queues_.end()) return out;
        auto& q = qi->second;
        for (auto it = q.begin(); it != q.end() && out.size() < max;) {
            if (it->first.second > now) {  // not due yet: skip it
                ++it;
                continue;
            }
            job_record& r = jobs_.at(it->second);
            r.state = job_state::running;
            ++r.attempts;
            r.token = next_token_++;
            r.lease_until = until;
            r.updated_at = now;
            r.worker.assign(worker);
            out.push_back({r, r.token});
            it = q.erase(it);
        }
        return out;
    }

    bool complete(job_id id, lease_token token, job_time now) {
        std::lock_guard lock(m_);
        auto it = jobs_.find(id);
        if (it == jobs_.end() || it->second.state != job_state::running || it->second.token != token)
            return false;
        it->second.state = job_state::succeeded;
        it->second.updated_at = now;
        if (!it->second.dedup_key.empty()) dedup_.erase({it->second.queue, it->second.dedup_key});
        return true;
    }

private:
    std::mutex m_;
    std::unordered_map<job_id, job_record> jobs_;
    std::map<std::string, std::multimap<std::pair<std::int32_t, job_time>, job_id>, std::less<>> queues_;
    std::map<std::pair<std::string, std::string>, job_id> dedup_;
    job_id next_id_ = 1;
    lease_token next_token_ = 1;
};

job_time at(std::int64_t s) {
    return job_time{} + std::chrono::seconds{1'700'000'000 + s};
}

job_record sample_job(std::string queue, std::size_t i) {
    job_record r;
    r.queue = std::move(queue);
    r.type = "send_email";
    r.payload.assign(16, std::byte{0x5a});
    r.priority = static_cast<std::int32_t>(i % 3);
    r.run_at = at(0);
    r.created_at = at(0);
    r.max_attempts = 5;
    return r;
}

template <class Store>
std::unique_ptr<Store> make_store() {
    return std::make_unique<Store>();
}

// Shared between the threads of one run; set up by thread 0 before the timed loop (Google
// Benchmark starts the loop of all threads together) and torn down after it.
template <class Store>
struct shared_run {
    static inline std::unique_ptr<Store> store;
};

template <class Store>
void enqueue(benchmark::State& state) {
    auto store = make_store<Store>();
    const job_record tmpl = sample_job("q", 0);
    std::size_t i = 0;
    for (auto _ : state) {
        job_record r = tmpl;
        r.priority = static_cast<std::int32_t>(i++ % 3);
        benchmark::DoNotOptimize(store->enqueue(std::move(r)));
    }
    state.SetItemsProcessed(state.iterations());
}

template <class Store>
void claim_complete(benchmark::State& state, std::size_t batch, bool queue_per_thread) {
    const auto threads = static_cast<std::size_t>(state.threads());
    const std::string my_queue = queue_per_thread ? "q" + std::to_string(state.thread_index()) : "q";
    if (state.thread_index() == 0) {
        shared_run<Store>::store = make_store<Store>();
        const std::size_t per_thread = static_cast<std::size_t>(state.max_iterations) * batch;
        for (std::size_t t = 0; t < threads; ++t) {
            const std::string q = queue_per_thread ? "q" + std::to_string(t) : "q";
            for (std::size_t i = 0; i < per_thread; ++i)
                (void)shared_run<Store>::store->enqueue(sample_job(q, i));
        }
    }
    const std::string worker = "worker-" + std::to_string(state.thread_index());
    std::size_t done = 0;
    for (auto _ : state) {
        Store& s = *shared_run<Store>::store;
        auto claimed = s.claim(my_queue, batch, at(1), at(60), worker);
        for (auto& c : claimed) {
            if (!s.complete(c.record.id, c.token, at(2))) state.SkipWithError("complete refused");
        }
        done += claimed.size();
    }
    if (done != static_cast<std::size_t>(state.iterations()) * batch) state.SkipWithError("backlog ran dry");
    state.SetItemsProcessed(static_cast<std::int64_t>(done));
    if (state.thread_index() == 0) shared_run<Store>::store.reset();  // after the loop: untimed
}

template <class Store>
void claim_complete_b1(benchmark::State& state) {
    claim_complete<Store>(state, 1, false);
}
template <class Store>
void claim_complete_b100(benchmark::State& state) {
    claim_complete<Store>(state, 100, false);
}
template <class Store>
void claim_complete_b100_two_queues(benchmark::State& state) {
    claim_complete<Store>(state, 100, true);
}
template <class Store>
void claim_complete_b1_two_queues(benchmark::State& state) {
    claim_complete<Store>(state, 1, true);
}

// A journal_store in a fresh directory under $TMPDIR (or /tmp), removed with it.
struct journal_in_temp_dir {
    std::string root;
    std::unique_ptr<journal_store> store;
    journal_in_temp_dir() {
        const char* t = std::getenv("TMPDIR");
        root = std::string((t != nullptr && *t != '\0') ? t : "/tmp") + "/millrace-bench-XXXXXX";
        if (::mkdtemp(root.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + root);
        store = std::make_unique<journal_store>(root + "/j");
    }
    ~journal_in_temp_dir() {
        store.reset();
        std::error_code ec;
        std::filesystem::remove_all(root, ec);
    }
    journal_store& operator*() { return *store; }
};

struct memory_holder {
    memory_store store;
    memory_store& operator*() { return store; }
};

template <class Holder>
std::uint64_t syncs_of(Holder& h) {
    if constexpr (std::is_same_v<Holder, journal_in_temp_dir>) {
        return h.store->log_stats().syncs;
    } else {
        return 0;
    }
}

// Claims 100 jobs (untimed), then acknowledges them with one complete_many or 100 completes.
template <class Holder, bool Batched>
void ack100(benchmark::State& state) {
    Holder h;
    auto& s = *h;
    const std::size_t total = static_cast<std::size_t>(state.max_iterations) * 100;
    std::vector<job_record> backlog;
    backlog.reserve(total);
    for (std::size_t i = 0; i < total; ++i)
        backlog.push_back(sample_job("q", i));
    (void)s.enqueue_batch(backlog);
    std::vector<lease_ref> acks;
    acks.reserve(100);
    std::uint64_t syncs = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto claimed = s.claim("q", 100, at(1), at(60), "w");
        if (claimed.size() != 100) state.SkipWithError("backlog ran dry");
        acks.clear();
        for (const auto& c : claimed)
            acks.push_back({c.id(), c.token});
        const std::uint64_t before = syncs_of(h);
        state.ResumeTiming();
        if constexpr (Batched) {
            const std::vector<bool> ok = s.complete_many(acks, at(2));
            for (bool b : ok)
                if (!b) state.SkipWithError("complete refused");
        } else {
            for (const auto& a : acks)
                if (!s.complete(a.id, a.token, at(2))) state.SkipWithError("complete refused");
        }
        syncs += syncs_of(h) - before;
    }
    state.SetItemsProcessed(state.iterations() * 100);
    state.counters["syncs_per_batch"] =
        static_cast<double>(syncs) /
        static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
}

}  // namespace

BENCHMARK(ack100<memory_holder, true>)->Name("store/ack100_complete_many/memory_store")->Iterations(2'000);
BENCHMARK(ack100<memory_holder, false>)
    ->Name("store/ack100_single_completes/memory_store")
    ->Iterations(2'000);
BENCHMARK(ack100<journal_in_temp_dir, true>)
    ->Name("store/ack100_complete_many/journal_store")
    ->Iterations(50)
    ->UseRealTime();
BENCHMARK(ack100<journal_in_temp_dir, false>)
    ->Name("store/ack100_single_completes/journal_store")
    ->Iterations(50)
    ->UseRealTime();

#define MILLRACE_STORE_BENCH(impl, type)                                                              \
    BENCHMARK(enqueue<type>)->Name("store/enqueue/" impl)->Iterations(200'000);                       \
    BENCHMARK(claim_complete_b1<type>)->Name("store/claim_complete_b1/" impl)->Iterations(100'000);   \
    BENCHMARK(claim_complete_b100<type>)->Name("store/claim_complete_b100/" impl)->Iterations(1'000); \
    BENCHMARK(claim_complete_b1<type>)                                                                \
        ->Name("store/claim_complete_b1_2t_one_queue/" impl)                                          \
        ->Iterations(50'000)                                                                          \
        ->Threads(2)                                                                                  \
        ->UseRealTime();                                                                              \
    BENCHMARK(claim_complete_b100<type>)                                                              \
        ->Name("store/claim_complete_b100_2t_one_queue/" impl)                                        \
        ->Iterations(500)                                                                             \
        ->Threads(2)                                                                                  \
        ->UseRealTime();                                                                              \
    BENCHMARK(claim_complete_b1_two_queues<type>)                                                     \
        ->Name("store/claim_complete_b1_2t_two_queues/" impl)                                         \
        ->Iterations(50'000)                                                                          \
        ->Threads(2)                                                                                  \
        ->UseRealTime();                                                                              \
    BENCHMARK(claim_complete_b100_two_queues<type>)                                                   \
        ->Name("store/claim_complete_b100_2t_two_queues/" impl)                                       \
        ->Iterations(500)                                                                             \
        ->Threads(2)                                                                                  \
        ->UseRealTime()

MILLRACE_STORE_BENCH("memory_store", millrace::memory_store);
MILLRACE_STORE_BENCH("std_mutex_multimap", mutex_multimap_store);

BENCHMARK_MAIN();
