// tests/store/conformance/model_test.hpp: the randomized model test: random operations on the
// adapter and on model_store (tests/store/model.hpp), every result and record compared.
#pragma once

#include "store/conformance/suite.hpp"
#include "store/model.hpp"

namespace millrace::test {

// ---------------------------------------------------------------------------------------
// The randomized model test: random operations on the adapter and on model_store
// (tests/store/model.hpp), every result and every touched record compared, and the whole
// table every 256 operations. Ids and tokens are mapped (adapters number them their way).
// ---------------------------------------------------------------------------------------
template <class Store>
class model_checker {
public:
    explicit model_checker(Store& s, std::uint64_t seed) : s_(s), rng_(seed) {}

    void run(std::size_t ops) {
        for (std::size_t i = 0; i < ops && !::testing::Test::HasFailure(); ++i) {
            step(i);
            if (i % 256 == 255) compare_all(i);
        }
        compare_all(ops);
    }

private:
    static constexpr const char* queues[3] = {"a", "b", "c"};
    static constexpr const char* types[3] = {"t0", "t1", "t2"};

    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }
    job_time t(std::int64_t s) { return at(s); }
    job_time near_now() { return at(now_ + static_cast<std::int64_t>(pick(9)) - 3); }

    job_record random_record() {
        job_record r = make_job(queues[pick(3)], static_cast<std::int32_t>(pick(3)) - 1);
        r.type = types[pick(3)];
        r.created_at = t(now_);
        r.run_at = near_now();
        r.max_attempts = static_cast<std::uint32_t>(1 + pick(3));
        if (pick(3) == 0) r.dedup_key = "k" + std::to_string(pick(4));
        r.payload.resize(pick(4), std::byte{7});
        return r;
    }

    // A model id, and its adapter id: a known job (purged ones included) or an unknown id.
    std::pair<job_id, job_id> random_job() {
        if (to_store_.empty() || pick(20) == 0) return {1'000'000'000, 999'999'937};
        auto it = to_store_.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(pick(to_store_.size())));
        return *it;
    }
    // A model token and its adapter token for a job: mostly the current one, sometimes an old
    // one, sometimes one never issued.
    std::pair<lease_token, lease_token> random_token(job_id model_id) {
        auto rec = model_.find(model_id);
        const std::size_t roll = pick(10);
        if (rec && rec->token != 0 && roll < 7) return {rec->token, tok_to_store_.at(rec->token)};
        auto& hist = history_[model_id];
        if (!hist.empty() && roll < 9) {
            lease_token m = hist[pick(hist.size())];
            return {m, tok_to_store_.at(m)};
        }
        return {~lease_token{0}, ~lease_token{0} - 1};
    }

    void learn(const enqueue_result& m, const enqueue_result& r, const char* what) {
        ASSERT_EQ(m.inserted, r.inserted) << what;
        if (m.inserted) {
            ASSERT_EQ(to_store_.count(m.id), 0u);
            to_store_[m.id] = r.id;
            to_model_[r.id] = m.id;
        } else {
            ASSERT_EQ(to_model_.at(r.id), m.id) << what << ": dedup hit names another job";
        }
    }

    // The adapter's record in the model's numbering.
    job_record mapped(job_record r) {
        r.id = to_model_.at(r.id);
        if (r.token != 0) r.token = tok_to_model_.at(r.token);
        return r;
    }

    void compare_job(job_id model_id, job_id store_id, std::size_t op) {
        auto m = model_.find(model_id);
        auto r = s_.find(store_id);
        ASSERT_EQ(m.has_value(), r.has_value()) << "op " << op << " job " << model_id;
        if (m) {
            ASSERT_EQ(*m, mapped(*r)) << "op " << op << " job " << model_id;
        }
    }

    void compare_all(std::size_t op) {
        for (const char* q : queues) {
            ASSERT_EQ(model_.stats(q), s_.stats(q)) << "op " << op << " queue " << q;
            ASSERT_EQ(model_.next_run_at(q), s_.next_run_at(q)) << "op " << op << " queue " << q;
            for (job_state st : all_job_states) {
                auto ml = model_.list(q, st, 1'000'000);
                auto rl = s_.list(q, st, 1'000'000);
                ASSERT_EQ(ml.size(), rl.size()) << "op " << op;
                for (std::size_t i = 0; i < ml.size(); ++i)
                    ASSERT_EQ(ml[i], mapped(rl[i])) << "op " << op;
            }
        }
        for (auto [m, r] : to_store_)
            compare_job(m, r, op);
    }

    void step(std::size_t op) {
        if (pick(4) == 0) now_ += static_cast<std::int64_t>(pick(3));
        const job_time now = t(now_);
        switch (pick(16)) {
            case 0:
            case 1:
            case 2: {
                auto r = random_record();
                if (pick(50) == 0) r.max_attempts = 0;
                if (r.max_attempts == 0) {
                    EXPECT_THROW((void)model_.enqueue(r), std::invalid_argument);
                    EXPECT_THROW((void)s_.enqueue(r), std::invalid_argument);
                    return;
                }
                learn(model_.enqueue(r), s_.enqueue(r), "enqueue");
                return;
            }
            case 3: {
                std::vector<job_record> batch(1 + pick(3));
                for (auto& r : batch)
                    r = random_record();
                auto rr = s_.enqueue_batch(batch);
                ASSERT_EQ(rr.size(), batch.size());
                for (std::size_t i = 0; i < batch.size(); ++i)
                    learn(model_.enqueue(batch[i]), rr[i], "batch");
                return;
            }
            case 4:
            case 5:
            case 6: {
                const char* q = queues[pick(3)];
                const std::size_t max = pick(5);
                const job_time until = at(now_ + static_cast<std::int64_t>(pick(6)));
                const std::string worker = "w" + std::to_string(pick(3));
                std::vector<std::string> only;  // sometimes a type filter
                for (const char* ty : types)
                    if (pick(4) == 0) only.emplace_back(ty);
                auto mc = model_.claim(q, max, now, until, worker, only);
                auto rc = s_.claim(q, max, now, until, worker, only);
                ASSERT_EQ(mc.size(), rc.size()) << "op " << op << " claim";
                for (std::size_t i = 0; i < mc.size(); ++i) {
                    ASSERT_EQ(tok_to_store_.count(mc[i].token), 0u);
                    ASSERT_EQ(tok_to_model_.count(rc[i].token), 0u)
                        << "op " << op << ": adapter reused a token";
                    ASSERT_EQ(rc[i].token, rc[i].record.token);
                    tok_to_store_[mc[i].token] = rc[i].token;
                    tok_to_model_[rc[i].token] = mc[i].token;
                    history_[mc[i].id()].push_back(mc[i].token);
                    ASSERT_EQ(mc[i].record, mapped(rc[i].record)) << "op " << op << " claim #" << i;
                }
                return;
            }
            case 7: {
                auto [m, r] = random_job();
                auto [mt, rt] = random_token(m);
                ASSERT_EQ(model_.complete(m, mt, now), s_.complete(r, rt, now)) << "op " << op << " complete";
                compare_job(m, r, op);
                return;
            }
            case 8: {
                const std::size_t kind = pick(3);
                if (kind == 0) {  // release
                    auto [m, r] = random_job();
                    auto [mt, rt] = random_token(m);
                    ASSERT_EQ(model_.release(m, mt, now), s_.release(r, rt, now))
                        << "op " << op << " release";
                    compare_job(m, r, op);
                    return;
                }
                std::vector<std::pair<job_id, job_id>> jobs(1 + pick(4));
                for (auto& j : jobs)
                    j = random_job();
                if (kind == 1) {  // complete_many
                    std::vector<lease_ref> mi, ri;
                    for (auto [m, r] : jobs) {
                        auto [mt, rt] = random_token(m);
                        mi.push_back({m, mt});
                        ri.push_back({r, rt});
                    }
                    ASSERT_EQ(model_.complete_many(mi, now), s_.complete_many(ri, now))
                        << "op " << op << " complete_many";
                } else {  // fail_many
                    std::vector<failure> mi, ri;
                    for (auto [m, r] : jobs) {
                        auto [mt, rt] = random_token(m);
                        const fail_outcome o =
                            pick(3) == 0 ? fail_outcome::dead() : fail_outcome::retry_at(near_now());
                        const std::string err = "m" + std::to_string(op);
                        mi.push_back({m, mt, o, err});
                        ri.push_back({r, rt, o, err});
                    }
                    ASSERT_EQ(model_.fail_many(mi, now), s_.fail_many(ri, now))
                        << "op " << op << " fail_many";
                }
                for (auto [m, r] : jobs)
                    compare_job(m, r, op);
                return;
            }
            case 9: {
                auto [m, r] = random_job();
                auto [mt, rt] = random_token(m);
                const fail_outcome o =
                    pick(3) == 0 ? fail_outcome::dead() : fail_outcome::retry_at(near_now());
                const std::string err = "e" + std::to_string(op);
                ASSERT_EQ(model_.fail(m, mt, o, err, now), s_.fail(r, rt, o, err, now))
                    << "op " << op << " fail";
                compare_job(m, r, op);
                return;
            }
            case 10: {
                auto [m, r] = random_job();
                auto [mt, rt] = random_token(m);
                const job_time until = at(now_ + static_cast<std::int64_t>(pick(6)));
                ASSERT_EQ(model_.extend_lease(m, mt, until), s_.extend_lease(r, rt, until)) << "op " << op;
                compare_job(m, r, op);
                return;
            }
            case 11:
                ASSERT_EQ(model_.requeue_expired(now), s_.requeue_expired(now)) << "op " << op << " requeue";
                return;
            case 12: {
                auto [m, r] = random_job();
                ASSERT_EQ(model_.cancel(m, now), s_.cancel(r, now)) << "op " << op << " cancel";
                compare_job(m, r, op);
                return;
            }
            case 13: {
                auto [m, r] = random_job();
                ASSERT_EQ(model_.retry_dead(m, now), s_.retry_dead(r, now)) << "op " << op << " retry_dead";
                compare_job(m, r, op);
                return;
            }
            case 14: {
                if (pick(4) != 0) {  // purge rarely enough that terminal jobs are seen
                    const char* q = queues[pick(3)];
                    ASSERT_EQ(model_.next_run_at(q), s_.next_run_at(q)) << "op " << op;
                    ASSERT_EQ(model_.stats(q), s_.stats(q)) << "op " << op;
                    return;
                }
                const job_state st = all_job_states[3 + pick(3)];
                const job_time older = at(now_ - static_cast<std::int64_t>(pick(20)));
                ASSERT_EQ(model_.purge(st, older), s_.purge(st, older)) << "op " << op << " purge";
                return;
            }
            default: {
                const char* q = queues[pick(3)];
                const job_state st = all_job_states[pick(6)];
                const std::size_t limit = pick(6);
                auto ml = model_.list(q, st, limit);
                auto rl = s_.list(q, st, limit);
                ASSERT_EQ(ml.size(), rl.size()) << "op " << op << " list";
                for (std::size_t i = 0; i < ml.size(); ++i)
                    ASSERT_EQ(ml[i], mapped(rl[i])) << "op " << op;
                return;
            }
        }
    }

    Store& s_;
    model_store model_;
    std::mt19937_64 rng_;
    std::int64_t now_ = 0;
    std::map<job_id, job_id> to_store_;
    std::unordered_map<job_id, job_id> to_model_;
    std::unordered_map<lease_token, lease_token> tok_to_store_, tok_to_model_;
    std::unordered_map<job_id, std::vector<lease_token>> history_;
};

template <class Factory>
constexpr std::size_t model_operations() {
    if constexpr (requires { Factory::model_operations; }) {
        return Factory::model_operations;
    } else {
        return 100'000;
    }
}

TYPED_TEST_P(StoreConformance, RandomizedAgainstTheModel) {
    // Several seeds over fresh stores: small tables, so every path is hit often; 100k
    // operations in all at scale 1.
    const std::size_t total = scaled(model_operations<TypeParam>(), 5'000);
    const std::size_t per_seed = 10'000;
    for (std::uint64_t seed = 1; seed * per_seed <= std::max(total, per_seed); ++seed) {
        auto fresh = TypeParam::make();
        model_checker<typename TypeParam::store_type> checker(*fresh, seed);
        checker.run(std::min(per_seed, total));
        if (::testing::Test::HasFailure()) {
            ADD_FAILURE() << "model test seed " << seed;
            return;
        }
    }
}

}  // namespace millrace::test
