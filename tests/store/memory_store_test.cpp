// The conformance suite on memory_store (several shard counts), and what is particular to
// memory_store and to the shared job_index: sharding, the concept's diagnostics, and the
// change reports a journal replays.
#include "millrace/store/memory_store.hpp"

#include <limits>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/store/concepts.hpp"
#include "millrace/store/detail/id_map.hpp"
#include "millrace/store/detail/job_index.hpp"
#include "store/conformance.hpp"

namespace {

using millrace::test::at;
using namespace millrace;
using millrace::test::make_job;

struct memory_store_factory {
    using store_type = memory_store;
    static std::unique_ptr<memory_store> make() { return std::make_unique<memory_store>(); }
};
struct memory_store_one_shard_factory {
    using store_type = memory_store;
    static constexpr std::size_t model_operations = 20'000;  // the 16-shard instance runs the full 100k
    static std::unique_ptr<memory_store> make() { return std::make_unique<memory_store>(1); }
};

}  // namespace

namespace millrace::test {
using memory_store_factories = ::testing::Types<::memory_store_factory, ::memory_store_one_shard_factory>;
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, StoreConformance, memory_store_factories);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StoreConformanceStress);  // in store_stress_test
}  // namespace millrace::test

namespace millrace::detail {
// The test hooks job_index befriends.
struct job_index_test_access {
    static std::size_t lanes(const job_index& idx, std::string_view queue) {
        auto it = idx.queues_.find(queue);
        return it == idx.queues_.end() ? 0 : it->second->ready.size();
    }
    static std::size_t queues(const job_index& idx) { return idx.queues_.size(); }
    // Stands in for 2^32 - n moves of the job: sets the seq of its slot.
    static void set_seq(job_index& idx, job_id id, std::uint32_t seq) { idx.find_entry(id)->seq = seq; }
};
}  // namespace millrace::detail

namespace {

// ---- the concept names the missing operation --------------------------------------------

struct no_complete_store : memory_store {
    bool complete(job_id, lease_token, job_time) = delete;
};
struct wrong_claim_store : memory_store {
    int claim(std::string_view, std::size_t, job_time, job_time, std::string_view);
};

static_assert(task_store<memory_store>);
static_assert(!task_store<no_complete_store>);
static_assert(!task_store_ops::complete<no_complete_store>);
static_assert(task_store_ops::claim<no_complete_store>);
static_assert(!task_store<wrong_claim_store>);
static_assert(!task_store_ops::claim<wrong_claim_store>);
static_assert(task_store_ops::complete<wrong_claim_store>);

TEST(MemoryStore, ShardCountRoundsUpAndRejectsZeroAndTooMany) {
    EXPECT_EQ(memory_store(1).shard_count(), 1u);
    EXPECT_EQ(memory_store(3).shard_count(), 4u);
    EXPECT_EQ(memory_store(1025).shard_count(), 2048u);
    EXPECT_EQ(memory_store().shard_count(), memory_store::default_shards);
    EXPECT_THROW(memory_store(0), std::invalid_argument);
    EXPECT_THROW(memory_store(memory_store::max_shards + 1), std::invalid_argument);
    // Once an endless doubling loop (n <<= 1 overflows to 0) or a huge allocation.
    EXPECT_THROW(memory_store{(std::size_t{1} << 63) + 1}, std::invalid_argument);
    EXPECT_THROW(memory_store{std::numeric_limits<std::size_t>::max()}, std::invalid_argument);
}

TEST(MemoryStore, IdsAreUniqueAcrossShardsAndNameTheirShard) {
    memory_store s(8);
    std::set<job_id> ids;
    for (int q = 0; q < 32; ++q)
        for (int i = 0; i < 20; ++i) {
            auto r = s.enqueue(make_job("queue" + std::to_string(q)));
            ASSERT_TRUE(r.inserted);
            ASSERT_TRUE(ids.insert(r.id).second);
            ASSERT_EQ(s.find(r.id)->queue, "queue" + std::to_string(q));
        }
    // Every job is reachable by id alone (the id names its shard).
    for (job_id id : ids) {
        auto c = s.find(id);
        ASSERT_TRUE(c);
        EXPECT_TRUE(s.cancel(id, at(1)));
    }
}

TEST(MemoryStore, PurgeRejectsLiveStates) {
    memory_store s;
    EXPECT_THROW((void)s.purge(job_state::running, at(0)), std::invalid_argument);
}

// ---- job_index: change reports and replay ------------------------------------------------

struct change_log {
    std::vector<std::pair<detail::job_change, job_record>> entries;
    void operator()(detail::job_change c, const job_record& r) { entries.emplace_back(c, r); }
};

TEST(JobIndex, ReportsEachChangeWithTheRecordAfterIt) {
    detail::job_index idx;
    change_log log;
    auto later = make_job();
    later.run_at = at(5);
    auto a = idx.enqueue(later, log);
    std::vector<claimed_job> out;
    ASSERT_EQ(idx.claim("q", 1, at(5), at(6), "w", out, log), 1u);
    ASSERT_TRUE(idx.extend_lease(a.id, out[0].token, at(7), log));
    EXPECT_FALSE(idx.complete(a.id, out[0].token + 1, at(7), log));  // refused: no report
    ASSERT_TRUE(idx.complete(a.id, out[0].token, at(7), log));
    ASSERT_EQ(idx.purge(job_state::succeeded, at(8), log), 1u);
    using C = detail::job_change;
    std::vector<C> kinds;
    for (auto& [c, r] : log.entries)
        kinds.push_back(c);
    EXPECT_EQ(kinds, (std::vector<C>{C::enqueued, C::promoted, C::claimed, C::lease_extended, C::completed,
                                     C::purged}));
    EXPECT_EQ(log.entries[0].second.state, job_state::scheduled);
    EXPECT_EQ(log.entries[1].second.state, job_state::ready);
    EXPECT_EQ(log.entries[2].second.state, job_state::running);
    EXPECT_EQ(log.entries[2].second.token, out[0].token);
    EXPECT_EQ(log.entries[3].second.lease_until, at(7));
    EXPECT_EQ(log.entries[4].second.state, job_state::succeeded);
    EXPECT_EQ(log.entries[5].second.id, a.id);
    EXPECT_EQ(idx.size(), 0u);
}

// Random operations on one index, every reported change replayed into a second one through
// restore() / erase() (promotions skipped, as a journal may): both tables agree record for
// record, and go on answering the same.
TEST(JobIndex, ReplayingTheReportedChangesRebuildsTheSameTable) {
    detail::job_index live;
    change_log log;
    std::mt19937_64 rng(7);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    std::vector<job_id> ids;
    std::vector<claimed_job> claims;
    std::int64_t now = 0;
    for (int op = 0; op < 10'000; ++op) {
        now += static_cast<std::int64_t>(pick(2));
        const std::string q = pick(2) ? "a" : "b";
        switch (pick(8)) {
            case 0:
            case 1: {
                auto r = make_job(q, static_cast<std::int32_t>(pick(3)));
                r.created_at = at(now);
                r.run_at = at(now + static_cast<std::int64_t>(pick(4)) - 1);
                r.max_attempts = static_cast<std::uint32_t>(1 + pick(3));
                if (pick(2)) r.dedup_key = "k" + std::to_string(pick(5));
                auto res = live.enqueue(r, log);
                if (res.inserted) ids.push_back(res.id);
                break;
            }
            case 2:
                live.claim(q, pick(4), at(now), at(now + static_cast<std::int64_t>(pick(4))), "w", claims,
                           log);
                break;
            case 3:
                if (!claims.empty()) {
                    auto& c = claims[pick(claims.size())];
                    (void)live.complete(c.id(), c.token, at(now), log);
                }
                break;
            case 4:
                if (!claims.empty()) {
                    auto& c = claims[pick(claims.size())];
                    (void)live.fail(c.id(), c.token,
                                    pick(2) ? fail_outcome::dead() : fail_outcome::retry_at(at(now + 2)), "e",
                                    at(now), log);
                }
                break;
            case 5:
                (void)live.requeue_expired(at(now), log);
                break;
            case 6:
                if (!ids.empty()) {
                    (void)live.cancel(ids[pick(ids.size())], at(now), log);
                    (void)live.retry_dead(ids[pick(ids.size())], at(now), log);
                }
                break;
            default:
                (void)live.purge(all_job_states[3 + pick(3)], at(now - 5), log);
                if (!claims.empty())
                    (void)live.extend_lease(claims[pick(claims.size())].id(),
                                            claims[pick(claims.size())].token, at(now + 3), log);
                break;
        }
    }
    detail::job_index replayed;
    std::size_t skipped = 0;
    for (auto& [c, r] : log.entries) {
        if (c == detail::job_change::promoted) {
            ++skipped;
            continue;
        }
        if (c == detail::job_change::purged) {
            ASSERT_TRUE(replayed.erase(r.id));
        } else {
            replayed.restore(r);
        }
    }
    EXPECT_GT(skipped, 0u);
    ASSERT_EQ(replayed.size(), live.size());
    std::size_t promoted_since = 0;
    live.for_each([&](const job_record& r) {
        const job_record* o = replayed.find(r.id);
        ASSERT_NE(o, nullptr);
        if (r.state == job_state::ready && o->state == job_state::scheduled) {
            // A promotion left unlogged: the only allowed difference.
            ++promoted_since;
            job_record x = *o;
            x.state = job_state::ready;
            EXPECT_EQ(x, r);
        } else {
            EXPECT_EQ(*o, r);
        }
    });
    EXPECT_GE(replayed.next_id(), live.next_id());
    EXPECT_LE(replayed.next_token(), live.next_token());
    // From here both answer alike: the next claim on each queue promotes what is due.
    for (const char* q : {"a", "b"}) {
        std::vector<claimed_job> x, y;
        live.claim(q, 1'000'000, at(now), at(now + 10), "z", x);
        replayed.claim(q, 1'000'000, at(now), at(now + 10), "z", y);
        ASSERT_EQ(x.size(), y.size());
        for (std::size_t i = 0; i < x.size(); ++i) {
            EXPECT_EQ(x[i].id(), y[i].id());
            EXPECT_GT(y[i].token, 0u);
        }
        EXPECT_EQ(live.stats(q), replayed.stats(q));
    }
    (void)promoted_since;
}

// The flat id -> slot map against std::unordered_map: random inserts and erases over a
// small id range (long probe runs, wrap-around, backward shifts), strides 1 and 16.
TEST(IdMap, AgreesWithUnorderedMapUnderRandomInsertsAndErases) {
    for (std::uint64_t stride : {1u, 16u}) {
        detail::id_map m(stride);
        std::unordered_map<std::uint64_t, std::uint32_t> ref;
        std::mt19937_64 rng(stride);
        for (std::uint32_t op = 0; op < 60'000; ++op) {
            // Mostly ids of the stride's residue, some others, over a range that forces collisions.
            std::uint64_t id = 1 + (rng() % 3000) * (rng() % 8 == 0 ? 1 : stride);
            if (rng() % 3 != 0) {
                const bool fresh = ref.emplace(id, op).second;
                ASSERT_EQ(m.insert(id, op), fresh);
            } else {
                ASSERT_EQ(m.erase(id), ref.erase(id) == 1);
            }
            if (op % 2000 == 0) {
                ASSERT_EQ(m.size(), ref.size());
                for (auto [k, v] : ref)
                    ASSERT_EQ(m.find(k), v);
                std::size_t seen = 0;
                m.for_each([&](std::uint64_t k, std::uint32_t v) {
                    ++seen;
                    ASSERT_EQ(ref.at(k), v);
                });
                ASSERT_EQ(seen, ref.size());
            }
            ASSERT_EQ(m.find(id), ref.count(id) ? ref[id] : detail::id_map::npos);
        }
        EXPECT_EQ(m.find(0), detail::id_map::npos);
        EXPECT_FALSE(m.erase(0));
    }
}

TEST(JobIndex, RejectsBadConstructionAndRestore) {
    EXPECT_THROW(detail::job_index(0, 1), std::invalid_argument);
    EXPECT_THROW(detail::job_index(1, 0), std::invalid_argument);
    detail::job_index idx;
    auto r = make_job();
    EXPECT_THROW(idx.restore(r), std::invalid_argument);  // id 0
    r.id = 10;
    r.token = 40;
    idx.restore(r);
    EXPECT_EQ(idx.next_id(), 11u);
    EXPECT_EQ(idx.next_token(), 41u);  // stride 1
    EXPECT_EQ(idx.enqueue(make_job()).id, 11u);
}

TEST(JobIndex, StridedIdsStayInTheirResidueAfterRestore) {
    detail::job_index idx(3, 4);  // 3, 7, 11, ...
    EXPECT_EQ(idx.enqueue(make_job()).id, 3u);
    auto r = make_job();
    r.id = 15;
    idx.restore(r);
    EXPECT_EQ(idx.next_id(), 19u);
    EXPECT_EQ(idx.enqueue(make_job()).id, 19u);
}

// ---- job_index: lanes and queues follow live jobs ---------------------------------------

using access = detail::job_index_test_access;

// Once every priority ever used kept its lane (and every queue name its state): after 200k
// distinct priorities were purged, one claim walked 200k empty lanes (37 ms). A lane goes
// with its last ready job, a queue with its last job.
TEST(JobIndex, LanesAndQueuesAreDroppedWhenUnused) {
    detail::job_index idx;
    constexpr int n = 2000;
    for (int p = 0; p < n; ++p)
        (void)idx.enqueue(make_job("q", p));
    EXPECT_EQ(access::lanes(idx, "q"), static_cast<std::size_t>(n));
    std::vector<claimed_job> out;
    ASSERT_EQ(idx.claim("q", n, at(1), at(2), "w", out), static_cast<std::size_t>(n));
    EXPECT_EQ(access::lanes(idx, "q"), 0u);
    for (auto& c : out)
        ASSERT_TRUE(idx.complete(c.id(), c.token, at(1)));
    // Lanes made by every path into ready, dropped by every path out of it.
    auto a = idx.enqueue(make_job("q", 5)).id;  // enqueue
    auto later = make_job("q", 6);
    later.run_at = at(10);
    auto b = idx.enqueue(later).id;  // scheduled: no lane yet
    EXPECT_EQ(access::lanes(idx, "q"), 1u);
    EXPECT_TRUE(idx.cancel(a, at(1)));  // cancel from ready
    EXPECT_EQ(access::lanes(idx, "q"), 0u);
    out.clear();
    ASSERT_EQ(idx.claim("q", 1, at(10), at(20), "w", out), 1u);  // promote, claim
    EXPECT_EQ(access::lanes(idx, "q"), 0u);
    ASSERT_TRUE(idx.fail(b, out[0].token, fail_outcome::retry_at(at(10)), "e", at(11)));  // back to ready
    EXPECT_EQ(access::lanes(idx, "q"), 1u);
    EXPECT_TRUE(idx.cancel(b, at(12)));
    EXPECT_EQ(access::lanes(idx, "q"), 0u);
    auto r = make_job("q", 8);
    r.id = 100'000;
    idx.restore(r);  // restore into ready
    EXPECT_EQ(access::lanes(idx, "q"), 1u);
    r.priority = 9;
    idx.restore(r);  // restore moves it to another lane
    EXPECT_EQ(access::lanes(idx, "q"), 1u);
    EXPECT_TRUE(idx.erase(r.id));
    EXPECT_EQ(access::lanes(idx, "q"), 0u);
    // Purging the last jobs drops the queue; a claim on it finds nothing.
    EXPECT_EQ(access::queues(idx), 1u);
    (void)idx.purge(job_state::succeeded, at(100));
    EXPECT_EQ(access::queues(idx), 1u);  // the cancelled ones remain
    (void)idx.purge(job_state::cancelled, at(100));
    EXPECT_EQ(access::queues(idx), 0u);
    EXPECT_EQ(idx.stats("q"), store_stats{});
    EXPECT_EQ(idx.claim("q", 10, at(100), at(200), "w", out), 0u);
    // Many queue names used once: none is kept.
    for (int i = 0; i < 1000; ++i) {
        auto id = idx.enqueue(make_job("queue" + std::to_string(i))).id;
        EXPECT_TRUE(idx.cancel(id, at(1)));
    }
    EXPECT_EQ(access::queues(idx), 1000u);
    (void)idx.purge(job_state::cancelled, at(100));
    EXPECT_EQ(access::queues(idx), 0u);
}

// A stale key of a purged job must not match the unrelated job that reuses its slot, even
// when the slot's 32-bit seq has wrapped around to the key's (set_seq stands in for the
// 2^32 moves that take).
TEST(JobIndex, StaleKeyDoesNotMatchAReusedSlotAfterSeqWraparound) {
    detail::job_index idx;
    auto early = make_job("q", 0);
    early.run_at = at(0);
    const job_id a = idx.enqueue(early).id;  // slot 0
    auto keep = make_job("q", 0);
    keep.run_at = at(1);
    keep.created_at = at(1);
    const job_id c = idx.enqueue(keep).id;  // keeps the lane alive
    // A's ready key gets seq 2^32 - 1: set_seq(2^32 - 2), then restore re-keys it (+1).
    access::set_seq(idx, a, 0xFFFF'FFFEu);
    idx.restore(*idx.find(a));
    EXPECT_TRUE(idx.cancel(a, at(2)));                      // the ready key of A is stale now (seq 0)
    ASSERT_EQ(idx.purge(job_state::cancelled, at(3)), 1u);  // slot 0 free (seq 1)
    auto later = make_job("q", 0);
    later.run_at = at(100);
    later.created_at = at(3);
    const job_id b = idx.enqueue(later).id;  // scheduled, in slot 0
    // Its seq reaches 2^32 - 1 again: A's stale ready key has B's slot and seq.
    access::set_seq(idx, b, 0xFFFF'FFFEu);
    idx.restore(*idx.find(b));
    std::vector<claimed_job> out;
    ASSERT_EQ(idx.claim("q", 1, at(5), at(6), "w", out), 1u);
    EXPECT_EQ(out[0].id(), c) << "a stale key claimed scheduled job " << b;
    EXPECT_EQ(idx.find(b)->state, job_state::scheduled);
    EXPECT_EQ(idx.stats("q"), millrace::test::make_stats(1, 0, 1, 0, 0, 0));
}

// ---- job_index: every change kind the sink reports, and a throwing sink -----------------

TEST(JobIndex, ReportsEveryChangeKind) {
    using C = detail::job_change;
    detail::job_index idx;
    change_log log;
    auto kinds_since = [&](std::size_t from) {
        std::vector<C> k;
        for (std::size_t i = from; i < log.entries.size(); ++i)
            k.push_back(log.entries[i].first);
        return k;
    };
    std::vector<claimed_job> out;
    auto job = make_job();
    job.max_attempts = 2;
    const job_id a = idx.enqueue(job, log).id;
    ASSERT_EQ(idx.claim("q", 1, at(0), at(5), "w", out, log), 1u);
    // fail with a retry: retry_scheduled, the record scheduled at the retry time.
    std::size_t mark = log.entries.size();
    ASSERT_TRUE(idx.fail(a, out.back().token, fail_outcome::retry_at(at(10)), "boom", at(1), log));
    EXPECT_EQ(kinds_since(mark), std::vector<C>{C::retry_scheduled});
    EXPECT_EQ(log.entries.back().second.state, job_state::scheduled);
    EXPECT_EQ(log.entries.back().second.run_at, at(10));
    EXPECT_EQ(log.entries.back().second.last_error, "boom");
    // Second attempt expires with no attempt left: expired_dead.
    ASSERT_EQ(idx.claim("q", 1, at(10), at(11), "w", out, log), 1u);
    mark = log.entries.size();
    ASSERT_EQ(idx.requeue_expired(at(11), log), 1u);
    EXPECT_EQ(kinds_since(mark), std::vector<C>{C::expired_dead});
    EXPECT_EQ(log.entries.back().second.state, job_state::dead);
    EXPECT_EQ(log.entries.back().second.last_error, "lease expired");
    // retry_dead: revived, ready with attempts 0.
    mark = log.entries.size();
    ASSERT_TRUE(idx.retry_dead(a, at(12), log));
    EXPECT_EQ(kinds_since(mark), std::vector<C>{C::revived});
    EXPECT_EQ(log.entries.back().second.state, job_state::ready);
    EXPECT_EQ(log.entries.back().second.attempts, 0u);
    // An attempt left: expired_requeued.
    ASSERT_EQ(idx.claim("q", 1, at(12), at(13), "w", out, log), 1u);
    mark = log.entries.size();
    ASSERT_EQ(idx.requeue_expired(at(13), log), 1u);
    EXPECT_EQ(kinds_since(mark), std::vector<C>{C::expired_requeued});
    EXPECT_EQ(log.entries.back().second.state, job_state::ready);
    EXPECT_EQ(log.entries.back().second.attempts, 1u);
    // fail dead: failed_dead.
    ASSERT_EQ(idx.claim("q", 1, at(14), at(20), "w", out, log), 1u);
    mark = log.entries.size();
    ASSERT_TRUE(idx.fail(a, out.back().token, fail_outcome::dead(), "fatal", at(15), log));
    EXPECT_EQ(kinds_since(mark), std::vector<C>{C::failed_dead});
    EXPECT_EQ(log.entries.back().second.state, job_state::dead);
    EXPECT_EQ(log.entries.back().second.last_error, "fatal");
    // cancel: cancelled.
    const job_id b = idx.enqueue(make_job(), log).id;
    mark = log.entries.size();
    ASSERT_TRUE(idx.cancel(b, at(16), log));
    EXPECT_EQ(kinds_since(mark), std::vector<C>{C::cancelled});
    EXPECT_EQ(log.entries.back().second.state, job_state::cancelled);
    EXPECT_EQ(log.entries.back().second.id, b);
    // release: released, ready with the attempt given back.
    const job_id d = idx.enqueue(make_job(), log).id;
    ASSERT_EQ(idx.claim("q", 1, at(16), at(30), "w", out, log), 1u);
    ASSERT_EQ(out.back().id(), d);
    mark = log.entries.size();
    ASSERT_TRUE(idx.release(d, out.back().token, at(16), log));
    EXPECT_EQ(kinds_since(mark), std::vector<C>{C::released});
    EXPECT_EQ(log.entries.back().second.state, job_state::ready);
    EXPECT_EQ(log.entries.back().second.attempts, 0u);
    // Refused operations report nothing.
    mark = log.entries.size();
    EXPECT_FALSE(idx.release(d, out.back().token, at(17), log));
    EXPECT_FALSE(idx.cancel(b, at(17), log));
    EXPECT_FALSE(idx.retry_dead(b, at(17), log));
    EXPECT_EQ(idx.requeue_expired(at(17), log), 0u);
    EXPECT_EQ(log.entries.size(), mark);
    // Every record reported is the record as the index holds it right after the change.
    for (auto& [c, r] : log.entries)
        EXPECT_NE(r.id, 0u) << to_string(c);
}

// The index is consistent after a sink throws: the reported change is applied, the later
// changes of the operation are not made, and the stats, find and claim agree.
TEST(JobIndex, ThrowingSinkLeavesTheIndexConsistent) {
    struct throwing_sink {
        int* left;
        void operator()(detail::job_change, const job_record&) const {
            if (--*left == 0) throw std::runtime_error("journal full");
        }
    };
    for (int nth = 1; nth <= 3; ++nth) {
        SCOPED_TRACE(nth);
        detail::job_index idx;
        std::vector<job_id> ids;
        for (int i = 0; i < 3; ++i) {
            auto r = make_job("q", 0);
            r.run_at = at(5);  // scheduled: the claim promotes them first
            ids.push_back(idx.enqueue(r).id);
        }
        // The nth promotion throws: the jobs before it and it are ready, the rest scheduled.
        int left = nth;
        std::vector<claimed_job> out;
        EXPECT_THROW(idx.claim("q", 3, at(5), at(9), "w", out, throwing_sink{&left}), std::runtime_error);
        EXPECT_TRUE(out.empty());
        EXPECT_EQ(idx.stats("q"), millrace::test::make_stats(3 - nth, nth, 0, 0, 0, 0));
        for (int i = 0; i < 3; ++i)
            EXPECT_EQ(idx.find(ids[i])->state, i < nth ? job_state::ready : job_state::scheduled);
        // The nth claim report throws (after 3 - nth promotions): that job is claimed
        // (running), the rest stay ready.
        left = 3;
        EXPECT_THROW(idx.claim("q", 3, at(5), at(9), "w", out, throwing_sink{&left}), std::runtime_error);
        EXPECT_EQ(out.size(), static_cast<std::size_t>(nth - 1));
        EXPECT_EQ(idx.stats("q"), millrace::test::make_stats(0, 3 - nth, nth, 0, 0, 0));
        // What is left is claimable, what is running is requeued, the counts agree.
        EXPECT_EQ(idx.claim("q", 10, at(6), at(9), "w", out), static_cast<std::size_t>(3 - nth));
        EXPECT_EQ(idx.stats("q"), millrace::test::make_stats(0, 0, 3, 0, 0, 0));
        int throw_after_first = 1;
        EXPECT_THROW((void)idx.requeue_expired(at(9), throwing_sink{&throw_after_first}), std::runtime_error);
        EXPECT_EQ(idx.stats("q"), millrace::test::make_stats(0, 1, 2, 0, 0, 0));
        EXPECT_EQ(idx.requeue_expired(at(9)), 2u);
        EXPECT_EQ(idx.stats("q"), millrace::test::make_stats(0, 3, 0, 0, 0, 0));
        std::size_t ready = 0;
        idx.for_each([&](const job_record& r) { ready += r.state == job_state::ready; });
        EXPECT_EQ(ready, 3u);
        EXPECT_EQ(idx.claim("q", 10, at(10), at(20), "w", out), 3u);
    }
}

TEST(MemoryStore, ClaimIntoAppendsAndReusesTheCallersVector) {
    memory_store s;
    for (int i = 0; i < 3; ++i)
        (void)s.enqueue(make_job());
    auto typed = make_job();
    typed.type = "other";
    const job_id other = s.enqueue(typed).id;
    std::vector<claimed_job> out;
    out.reserve(8);
    const auto* data = out.data();
    EXPECT_EQ(s.claim_into("q", 2, at(0), at(10), "w", out), 2u);
    EXPECT_EQ(s.claim_into("q", 5, at(0), at(10), "w", out, std::vector<std::string>{"other"}), 1u);
    ASSERT_EQ(out.size(), 3u);  // appended, not replaced
    EXPECT_EQ(out.back().id(), other);
    EXPECT_EQ(out.data(), data) << "the capacity given was not reused";
    EXPECT_EQ(s.claim_into("q", 5, at(0), at(10), "w", out), 1u);
    EXPECT_EQ(s.claim_into("nope", 5, at(0), at(10), "w", out), 0u);
}

TEST(JobRecord, MakeSetsBothTimesAndRejectsAnEmptyQueue) {
    const job_time now = at(3) + std::chrono::nanoseconds(9);
    const job_record r = job_record::make("mail", "welcome", payload_from("{\"to\":42}"), now);
    EXPECT_EQ(r.queue, "mail");
    EXPECT_EQ(r.type, "welcome");
    EXPECT_EQ(r.created_at, now);
    EXPECT_EQ(r.run_at, now);
    EXPECT_EQ(payload_to_string(r.payload), "{\"to\":42}");
    EXPECT_THROW((void)job_record::make("", "t", {}, now), std::invalid_argument);
    memory_store s;
    const auto e = s.enqueue(r);
    EXPECT_EQ(s.find(e.id)->state, job_state::ready) << "a record made at now is due at now";
}

TEST(JobRecord, PayloadHelpersRoundTripEveryByte) {
    std::string all;
    for (int c = 0; c < 256; ++c)
        all.push_back(static_cast<char>(c));
    const std::vector<std::byte> p = payload_from(all);
    ASSERT_EQ(p.size(), 256u);
    EXPECT_EQ(p[255], std::byte{255});
    EXPECT_EQ(payload_to_string(p), all);
    EXPECT_TRUE(payload_from("").empty());
    EXPECT_EQ(payload_to_string({}), "");
}

}  // namespace
