// job_index under allocation failure: a test-local operator new that throws std::bad_alloc
// at the Nth allocation after it is armed. Every operation is run with N = 1, 2, ... until it
// succeeds; after each throw the index must be exactly as before (records, stats, next
// run times, ids and tokens) for the operations that change one job, and consistent (the
// stats agree with the records, every ready or scheduled job is claimable, every running
// job is requeued) for the ones that change several.
// This binary replaces the global operator new: it must not include counting_new.hpp.
#include "millrace/store/detail/job_index.hpp"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/conformance.hpp"

namespace {
// Allocations left before the one that throws; 0 = disarmed. Single-threaded test.
long g_fail_in = 0;
bool g_failed = false;

void* checked_alloc(std::size_t n, std::size_t align) {
    if (g_fail_in > 0 && --g_fail_in == 0) {
        g_failed = true;
        throw std::bad_alloc();
    }
    if (n == 0) n = 1;
    void* p = align <= alignof(std::max_align_t) ? std::malloc(n)
                                                 : std::aligned_alloc(align, (n + align - 1) / align * align);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
// Out of line, so that g++ does not pair a visible free() with operator new's call site.
[[gnu::noinline]] void release_block(void* p) noexcept {
    std::free(p);
}
}  // namespace

void* operator new(std::size_t n) {
    return checked_alloc(n, 0);
}
void* operator new[](std::size_t n) {
    return checked_alloc(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a) {
    return checked_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return checked_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
    release_block(p);
}
void operator delete[](void* p) noexcept {
    release_block(p);
}
void operator delete(void* p, std::size_t) noexcept {
    release_block(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    release_block(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    release_block(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    release_block(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    release_block(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    release_block(p);
}

namespace {

using namespace millrace;
using detail::job_index;
using millrace::test::at;
using millrace::test::make_job;

const std::vector<std::string> queues{"q", "r", "a-queue-name-longer-than-sso"};
const std::string long_worker = "a-worker-name-longer-than-the-small-string-buffer";
const std::string long_error = "an-error-text-longer-than-the-small-string-buffer";

struct fixture_ids {
    std::vector<job_id> ready, scheduled_later;
    job_id due = 0;      // scheduled, run_at 5
    job_id running = 0;  // lease until 50
    lease_token running_token = 0;
    job_id running2 = 0;  // lease until 60, max_attempts 1
    lease_token running2_token = 0;
    job_id dead = 0;  // with a dedup key, free again
    job_id succeeded = 0;
    job_id cancelled = 0;
};

// A table with every state, several priority lanes, dedup keys and long strings.
fixture_ids build(job_index& idx) {
    fixture_ids f;
    auto job = [](std::int32_t prio, std::int64_t run_at, std::string dedup = {}) {
        auto r = make_job("q", prio);
        r.created_at = at(0);
        r.run_at = at(run_at);
        r.dedup_key = std::move(dedup);
        r.type = "a-type-name-longer-than-the-small-string-buffer";
        r.payload.assign(40, std::byte{7});
        return r;
    };
    // Claimed first (so that they are the running ones), then the rest.
    auto r1 = job(5, 0, "dedup-key-of-the-first-running-job");
    auto r2 = job(5, 0);
    r2.max_attempts = 1;
    auto d = job(5, 0, "dedup-key-of-the-dead-job-xxxxxxxx");
    auto s = job(5, 0);
    auto c = job(5, 0);
    f.running = idx.enqueue(r1).id;
    f.running2 = idx.enqueue(r2).id;
    f.dead = idx.enqueue(d).id;
    f.succeeded = idx.enqueue(s).id;
    std::vector<claimed_job> out;
    EXPECT_EQ(idx.claim("q", 4, at(1), at(50), long_worker, out), 4u);
    f.running_token = out[0].token;
    f.running2_token = out[1].token;
    EXPECT_TRUE(idx.extend_lease(f.running2, f.running2_token, at(60)));
    EXPECT_TRUE(idx.fail(f.dead, out[2].token, fail_outcome::dead(), long_error, at(2)));
    EXPECT_TRUE(idx.complete(f.succeeded, out[3].token, at(2)));
    f.cancelled = idx.enqueue(c).id;
    EXPECT_TRUE(idx.cancel(f.cancelled, at(2)));
    for (std::int32_t prio : {0, 1, 1, 3})
        f.ready.push_back(idx.enqueue(job(prio, 0, prio == 3 ? "dedup-key-of-a-ready-job-xxxxxxx" : "")).id);
    f.due = idx.enqueue(job(2, 5)).id;
    f.scheduled_later.push_back(idx.enqueue(job(0, 100)).id);
    auto other = make_job("r", 0);
    other.run_at = at(0);
    idx.enqueue(other);
    return f;
}

struct snapshot {
    std::vector<job_record> records;
    std::vector<store_stats> stats;
    std::vector<std::optional<job_time>> next_run;
    job_id next_id = 0;
    lease_token next_token = 0;
    friend bool operator==(const snapshot&, const snapshot&) = default;
};

snapshot take(job_index& idx) {
    snapshot s;
    idx.for_each([&](const job_record& r) { s.records.push_back(r); });
    std::sort(s.records.begin(), s.records.end(), [](auto& a, auto& b) { return a.id < b.id; });
    for (auto& q : queues) {
        s.stats.push_back(idx.stats(q));
        s.next_run.push_back(idx.next_run_at(q));
    }
    s.next_id = idx.next_id();
    s.next_token = idx.next_token();
    return s;
}

// The stats agree with the records; every ready or scheduled job is claimed (in claim order)
// by one claim far in the future; every running job is then requeued by one requeue_expired.
void expect_consistent(job_index& idx, const std::string& what) {
    SCOPED_TRACE(what);
    std::map<std::string, store_stats> counted;
    std::map<std::string, std::vector<job_id>> pending;
    std::size_t running = 0;
    idx.for_each([&](const job_record& r) {
        ++counted[r.queue][r.state];
        ++counted[r.queue].by_type[r.type][r.state];
        if (r.state == job_state::ready || r.state == job_state::scheduled) pending[r.queue].push_back(r.id);
        if (r.state == job_state::running) ++running;
    });
    for (auto& q : queues)
        ASSERT_EQ(idx.stats(q), counted[q]) << "queue " << q;
    for (auto& q : queues) {
        std::vector<claimed_job> out;
        idx.claim(q, 1'000'000, at(10'000), at(20'000), "drain", out);
        std::vector<job_id> got;
        for (auto& c : out)
            got.push_back(c.id());
        for (std::size_t i = 1; i < out.size(); ++i) {
            const auto& a = out[i - 1].record;
            const auto& b = out[i].record;
            ASSERT_TRUE(
                a.priority > b.priority ||
                (a.priority == b.priority && (a.run_at < b.run_at || (a.run_at == b.run_at && a.id < b.id))))
                << "claim order broken at " << i;
        }
        std::sort(got.begin(), got.end());
        std::sort(pending[q].begin(), pending[q].end());
        ASSERT_EQ(got, pending[q]) << "queue " << q << ": a job is not claimable";
        ASSERT_EQ(idx.stats(q).count(job_state::ready) + idx.stats(q).count(job_state::scheduled), 0u);
        running += out.size();
    }
    ASSERT_EQ(idx.requeue_expired(at(30'000)), running) << "a running job is never requeued";
    std::size_t live = 0;
    for (auto& q : queues)
        live += idx.stats(q).count(job_state::running);
    ASSERT_EQ(live, 0u);
}

struct op {
    const char* name;
    bool one_job;  // changes one job: after a throw the index must be exactly as before
    std::function<void(job_index&, const fixture_ids&)> run;
};

std::vector<op> operations() {
    auto new_job = [](const std::string& q, std::int32_t prio, std::int64_t run_at, std::string dedup) {
        auto r = make_job(q, prio);
        r.created_at = at(3);
        r.run_at = at(run_at);
        r.dedup_key = std::move(dedup);
        r.type = "a-type-name-longer-than-the-small-string-buffer";
        r.payload.assign(100, std::byte{1});
        return r;
    };
    return {
        {"enqueue into a new queue and lane", true,
         [=](job_index& i, const fixture_ids&) {
             (void)i.enqueue(new_job(queues[2], 7, 0, "dedup-key-new-xxxxxxxxxxxxxxxxx"));
         }},
        {"enqueue ready, new lane", true,
         [=](job_index& i, const fixture_ids&) { (void)i.enqueue(new_job("q", 9, 0, "")); }},
        {"enqueue scheduled", true,
         [=](job_index& i, const fixture_ids&) {
             (void)i.enqueue(new_job("q", 0, 70, "another-dedup-key-xxxxxxxxxxxxxx"));
         }},
        {"claim one", true,
         [](job_index& i, const fixture_ids&) {
             std::vector<claimed_job> out;
             (void)i.claim("q", 1, at(3), at(40), long_worker, out);
         }},
        {"claim several, promoting", false,
         [](job_index& i, const fixture_ids&) {
             std::vector<claimed_job> out;
             (void)i.claim("q", 4, at(6), at(40), long_worker, out);
         }},
        {"complete", true,
         [](job_index& i, const fixture_ids& f) { (void)i.complete(f.running, f.running_token, at(7)); }},
        {"fail, retry later", true,
         [](job_index& i, const fixture_ids& f) {
             (void)i.fail(f.running, f.running_token, fail_outcome::retry_at(at(80)), long_error, at(7));
         }},
        {"fail, retry now", true,
         [](job_index& i, const fixture_ids& f) {
             (void)i.fail(f.running, f.running_token, fail_outcome::retry_at(at(7)), long_error, at(7));
         }},
        {"fail, dead", true,
         [](job_index& i, const fixture_ids& f) {
             (void)i.fail(f.running, f.running_token, fail_outcome::dead(), long_error, at(7));
         }},
        {"extend_lease", true,
         [](job_index& i, const fixture_ids& f) {
             (void)i.extend_lease(f.running, f.running_token, at(90));
         }},
        {"requeue_expired, one to ready", true,
         [](job_index& i, const fixture_ids&) { (void)i.requeue_expired(at(55)); }},
        {"requeue_expired, to ready and dead", false,
         [](job_index& i, const fixture_ids&) { (void)i.requeue_expired(at(65)); }},
        {"cancel ready", true, [](job_index& i, const fixture_ids& f) { (void)i.cancel(f.ready[3], at(7)); }},
        {"cancel running", true,
         [](job_index& i, const fixture_ids& f) { (void)i.cancel(f.running, at(7)); }},
        {"cancel scheduled", true,
         [](job_index& i, const fixture_ids& f) { (void)i.cancel(f.scheduled_later[0], at(7)); }},
        {"retry_dead", true, [](job_index& i, const fixture_ids& f) { (void)i.retry_dead(f.dead, at(7)); }},
        {"purge", true,
         [](job_index& i, const fixture_ids&) { (void)i.purge(job_state::succeeded, at(100)); }},
        {"restore a new record", true,
         [=](job_index& i, const fixture_ids&) {
             auto r = new_job(queues[2], 4, 0, "restored-dedup-key-xxxxxxxxxxxxxx");
             r.id = 1000;
             r.token = 2000;
             r.state = job_state::ready;
             i.restore(r);
         }},
        {"restore over a running job, other queue and lane", true,
         [=](job_index& i, const fixture_ids& f) {
             job_record r = *i.find(f.running);
             r.queue = queues[2];
             r.priority = 11;
             r.state = job_state::ready;
             r.worker = long_worker + "-restored";
             i.restore(r);
         }},
        {"restore over a dead job, live again", true,
         [=](job_index& i, const fixture_ids& f) {
             job_record r = *i.find(f.dead);
             r.state = job_state::scheduled;
             r.run_at = at(300);
             i.restore(r);
         }},
        {"erase", true, [](job_index& i, const fixture_ids& f) { (void)i.erase(f.ready[0]); }},
    };
}

TEST(JobIndexBadAlloc, EveryOperationIsAllOrNothingPerJob) {
    std::size_t total_throws = 0;
    for (const op& o : operations()) {
        SCOPED_TRACE(o.name);
        // The outcome without a failure, for comparison once the operation gets through.
        job_index ref;
        const fixture_ids rf = build(ref);
        o.run(ref, rf);
        const snapshot expected = take(ref);
        std::size_t throws = 0;
        for (long n = 1;; ++n) {
            ASSERT_LT(n, 1000) << "the operation never got through";
            job_index idx;
            const fixture_ids f = build(idx);
            const snapshot before = take(idx);
            g_failed = false;
            g_fail_in = n;
            bool threw = false;
            try {
                o.run(idx, f);
            } catch (const std::bad_alloc&) {
                threw = true;
            }
            g_fail_in = 0;
            if (!threw) {
                ASSERT_FALSE(g_failed) << "a failed allocation was swallowed";
                ASSERT_EQ(take(idx), expected)
                    << "the operation did something else after " << n - 1 << " failures";
                expect_consistent(idx, std::string(o.name) + ": after success");
                break;
            }
            ++throws;
            const std::string where = std::string(o.name) + ": allocation " + std::to_string(n) + " failed";
            if (o.one_job) {
                ASSERT_EQ(take(idx), before) << where << ": the index changed";
            }
            expect_consistent(idx, where);
            if (HasFatalFailure()) return;
        }
        total_throws += throws;
        if (std::string(o.name).rfind("enqueue", 0) == 0 || std::string(o.name).rfind("claim", 0) == 0 ||
            std::string(o.name).rfind("fail", 0) == 0 || std::string(o.name).rfind("restore", 0) == 0) {
            EXPECT_GT(throws, 0u) << "no allocation to fail: the test proves nothing here";
        }
    }
    EXPECT_GT(total_throws, 20u);
}

}  // namespace

namespace millrace::test {
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformance);  // only its helpers are used here
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceStress);
}  // namespace millrace::test
