// Several processes (not threads) on one sqlite_store file and on one postgres_store schema:
// 4 processes x 4 workers drain one queue, each job completed exactly once; a process killed
// with SIGKILL while holding claims loses nothing (its jobs run again after the lease); the
// late worker of another process is refused; a PostgreSQL server restarted under load
// (pg_ctl restart -m fast) loses no acknowledged call and the pool recovers. Children are this binary run
// again
// (/proc/self/exe) with MILLRACE_SQL_CHILD set, which runs only the SqlChild.Run test.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "millrace/store/postgres_store.hpp"
#include "millrace/store/sqlite_store.hpp"
#include "store/conformance/support.hpp"
#include "store/sql/pg_env.hpp"
#include "store/sql/scratch.hpp"
#include "support/stress.hpp"

namespace {

using namespace millrace;
using millrace::test::at;
using millrace::test::make_job;

millrace::test::sql_scratch scratch;

// kind "sqlite" (where = the file) or "pg" (where = the schema).
struct target {
    std::string kind;
    std::string where;
};

std::unique_ptr<sqlite_store> open_sqlite(const std::string& path) {
    sqlite_options o;
    o.sync = sqlite_sync::normal;
    o.busy_timeout = std::chrono::milliseconds{30000};
    return std::make_unique<sqlite_store>(path, o);
}
std::unique_ptr<postgres_store> open_pg(const std::string& schema) {
    postgres_options o;
    o.schema = schema;
    o.pool_size = 4;
    return std::make_unique<postgres_store>(millrace::test::pg_conninfo(), o);
}

// Drains the queue with `threads` workers: claim a batch, complete it; writes the id of
// every accepted complete to `out` (one per line). `hold` > 0: claims that many and then
// sleeps (to be killed).
template <class Store>
int drain(Store& s, int threads, const std::string& out, int hold, std::int64_t t) {
    if (hold > 0) {
        auto c = s.claim("q", static_cast<std::size_t>(hold), at(t), at(t + 100), "holder");
        std::ofstream f(out);
        f << c.size() << "\n";
        f.close();
        for (;;)
            std::this_thread::sleep_for(std::chrono::seconds{1});
    }
    std::vector<std::vector<job_id>> done(static_cast<std::size_t>(threads));
    std::vector<std::thread> ts;
    for (int w = 0; w < threads; ++w)
        ts.emplace_back([&, w] {
            const std::string name = "p" + std::to_string(::getpid()) + "w" + std::to_string(w);
            int empty = 0;
            while (empty < 3) {
                auto c = s.claim("q", 50, at(t), at(t + 1000), name);
                if (c.empty()) {
                    ++empty;
                    std::this_thread::sleep_for(std::chrono::milliseconds{5});
                    continue;
                }
                empty = 0;
                std::vector<lease_ref> refs;
                for (const auto& j : c)
                    refs.push_back({j.id(), j.token});
                const auto ok = s.complete_many(refs, at(t));
                for (std::size_t i = 0; i < ok.size(); ++i)
                    if (ok[i]) done[static_cast<std::size_t>(w)].push_back(refs[i].id);
            }
        });
    for (auto& th : ts)
        th.join();
    std::ofstream f(out);
    for (const auto& d : done)
        for (auto id : d)
            f << id << "\n";
    return 0;
}

// Runs this binary as a child with the given role; returns its pid.
pid_t spawn(const target& tg, const std::string& role, const std::string& out) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::setenv("MILLRACE_SQL_CHILD", (tg.kind + " " + tg.where + " " + role + " " + out).c_str(), 1);
        const char* argv[] = {"/proc/self/exe", "--gtest_filter=SqlChild.Run", nullptr};
        ::execv("/proc/self/exe", const_cast<char* const*>(argv));
        ::_exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::vector<job_id> read_ids(const std::string& path) {
    std::vector<job_id> ids;
    std::ifstream f(path);
    job_id id = 0;
    while (f >> id)
        ids.push_back(id);
    return ids;
}

template <class Store>
void fill(Store& s, std::size_t n) {
    std::vector<job_record> batch;
    for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(make_job());
        if (batch.size() == 1000 || i + 1 == n) {
            s.enqueue_batch(batch);
            batch.clear();
        }
    }
}

template <class Store>
void four_processes_drain_one_queue(const target& tg, Store& s, std::size_t n) {
    fill(s, n);
    const std::string dir = scratch.fresh_dir();
    std::vector<pid_t> kids;
    std::vector<std::string> outs;
    for (int p = 0; p < 4; ++p) {
        outs.push_back(dir + "/done" + std::to_string(p));
        kids.push_back(spawn(tg, "drain", outs.back()));
    }
    for (const auto& o : outs)
        for (int i = 0; i < 30000 && ::access((o + ".ready").c_str(), F_OK) != 0; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds{1});
    std::ofstream(dir + "/go").put('1');
    for (auto k : kids)
        EXPECT_EQ(wait_exit(k), 0);
    std::set<job_id> seen;
    std::size_t accepted = 0;
    std::size_t processes_that_worked = 0;
    for (const auto& o : outs) {
        const auto ids = read_ids(o);
        processes_that_worked += ids.empty() ? 0 : 1;
        for (auto id : ids) {
            ++accepted;
            EXPECT_TRUE(seen.insert(id).second) << "job " << id << " completed twice";
        }
    }
    EXPECT_EQ(accepted, n);
    EXPECT_EQ(seen.size(), n);
    EXPECT_GE(processes_that_worked, 2u) << "the processes did not share the queue";
    const auto st = s.stats("q");
    EXPECT_EQ(st.count(job_state::succeeded), n);
    EXPECT_EQ(st.live(), 0u);
}

template <class Store>
void killed_holder_loses_nothing(const target& tg, Store& s) {
    const std::size_t n = 500;
    fill(s, n);
    const std::string dir = scratch.fresh_dir();
    const pid_t holder = spawn(tg, "hold", dir + "/held");
    // Wait until the holder reports its claims, then kill it without warning.
    std::size_t held = 0;
    for (int i = 0; i < 3000 && held == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
        const auto v = read_ids(dir + "/held");
        if (!v.empty()) held = static_cast<std::size_t>(v.front());
    }
    ASSERT_EQ(held, 200u);
    ::kill(holder, SIGKILL);
    EXPECT_EQ(wait_exit(holder), 128 + SIGKILL);
    EXPECT_EQ(s.stats("q").count(job_state::running), 200u);
    // After the lease (to at(101)), the held jobs come back and are run.
    EXPECT_EQ(s.requeue_expired(at(100)), 0u);  // the lease runs to at(101)
    EXPECT_EQ(s.requeue_expired(at(101)), 200u);
    const pid_t worker = spawn(tg, "drain_late", dir + "/done");
    EXPECT_EQ(wait_exit(worker), 0);
    const auto ids = read_ids(dir + "/done");
    EXPECT_EQ(ids.size(), n);
    EXPECT_EQ(std::set<job_id>(ids.begin(), ids.end()).size(), n);
    EXPECT_EQ(s.stats("q").count(job_state::succeeded), n);
    std::size_t second_attempts = 0;
    for (const auto& r : s.list("q", job_state::succeeded, n))
        second_attempts += r.attempts == 2 ? 1 : 0;
    EXPECT_EQ(second_attempts, 200u);
}

template <class Store>
void late_worker_of_another_process_is_refused(const target& tg, Store& s) {
    const job_id id = s.enqueue(make_job()).id;
    const auto first = s.claim("q", 1, at(0), at(5), "a");
    ASSERT_EQ(first.size(), 1u);
    EXPECT_EQ(s.requeue_expired(at(5)), 1u);
    const auto second = s.claim("q", 1, at(6), at(20), "b");
    ASSERT_EQ(second.size(), 1u);
    const std::string dir = scratch.fresh_dir();
    // Another process presents the first, expired token: refused (exit 3); the second: accepted.
    EXPECT_EQ(wait_exit(spawn(tg, "complete " + std::to_string(id) + " " + std::to_string(first[0].token),
                              dir + "/x")),
              3);
    EXPECT_EQ(s.find(id)->state, job_state::running);
    EXPECT_EQ(wait_exit(spawn(tg, "complete " + std::to_string(id) + " " + std::to_string(second[0].token),
                              dir + "/y")),
              0);
    EXPECT_EQ(s.find(id)->state, job_state::succeeded);
}

template <class Store>
int child_main(Store& s, std::istringstream& in) {
    std::string role;
    in >> role;
    std::string out;
    if (role == "complete") {
        job_id id = 0;
        lease_token tok = 0;
        in >> id >> tok;
        return s.complete(id, tok, at(7)) ? 0 : 3;
    }
    in >> out;
    if (role == "drain") {
        // Start together: report ready, wait for the parent's go (all processes open).
        std::ofstream(out + ".ready").put('1');
        const std::string go = out.substr(0, out.rfind('/')) + "/go";
        while (::access(go.c_str(), F_OK) != 0)
            std::this_thread::sleep_for(std::chrono::milliseconds{1});
        return drain(s, 4, out, 0, 1);
    }
    if (role == "drain_late") return drain(s, 4, out, 0, 101);
    if (role == "hold") return drain(s, 1, out, 200, 1);
    return 2;
}

std::size_t jobs() {
    return millrace::test::scaled(200'000, 2'000);
}

TEST(SqlChild, Run) {
    const char* spec = std::getenv("MILLRACE_SQL_CHILD");
    if (spec == nullptr) GTEST_SKIP() << "runs only as a child process of the multi-process tests";
    std::istringstream in(spec);
    std::string kind, where;
    in >> kind >> where;
    int rc = 2;
    if (kind == "sqlite") {
        auto s = open_sqlite(where);
        rc = child_main(*s, in);
    } else {
        auto s = open_pg(where);
        rc = child_main(*s, in);
    }
    std::fflush(nullptr);
    ::_exit(rc);
}

TEST(SqliteMultiProcess, FourProcessesDrainOneQueueExactlyOnce) {
    const target tg{"sqlite", scratch.fresh_dir() + "/jobs.db"};
    auto s = open_sqlite(tg.where);
    four_processes_drain_one_queue(tg, *s, jobs());
}
TEST(SqliteMultiProcess, KilledHolderLosesNothing) {
    const target tg{"sqlite", scratch.fresh_dir() + "/jobs.db"};
    auto s = open_sqlite(tg.where);
    killed_holder_loses_nothing(tg, *s);
}
TEST(SqliteMultiProcess, LateWorkerOfAnotherProcessIsRefused) {
    const target tg{"sqlite", scratch.fresh_dir() + "/jobs.db"};
    auto s = open_sqlite(tg.where);
    late_worker_of_another_process_is_refused(tg, *s);
}

#define MILLRACE_NEED_PG()                                                               \
    if (millrace::test::pg_conninfo().empty())                                           \
    GTEST_SKIP() << "MILLRACE_TEST_PG is not set: no PostgreSQL server to test against " \
                    "(run the tests under .ci/postgres.sh)"

TEST(PostgresMultiProcess, FourProcessesDrainOneQueueExactlyOnce) {
    MILLRACE_NEED_PG();
    const target tg{"pg", millrace::test::fresh_pg_schema("mp")};
    auto s = open_pg(tg.where);
    four_processes_drain_one_queue(tg, *s, jobs());
}
TEST(PostgresMultiProcess, KilledHolderLosesNothing) {
    MILLRACE_NEED_PG();
    const target tg{"pg", millrace::test::fresh_pg_schema("mp")};
    auto s = open_pg(tg.where);
    killed_holder_loses_nothing(tg, *s);
}
TEST(PostgresMultiProcess, LateWorkerOfAnotherProcessIsRefused) {
    MILLRACE_NEED_PG();
    const target tg{"pg", millrace::test::fresh_pg_schema("mp")};
    auto s = open_pg(tg.where);
    late_worker_of_another_process_is_refused(tg, *s);
}
TEST(PostgresMultiProcess, ProcessesOpeningAFreshSchemaAtOnceMigrateOnce) {
    MILLRACE_NEED_PG();
    const target tg{"pg", millrace::test::fresh_pg_schema("mp")};
    std::vector<pid_t> kids;
    const std::string dir = scratch.fresh_dir();
    for (int i = 0; i < 4; ++i)
        kids.push_back(spawn(tg, "complete 0 0", dir + "/m"));
    // Each child opens the store (migrating it if first) and is refused token 0: exit 3.
    for (auto k : kids)
        EXPECT_EQ(wait_exit(k), 3);
    detail::pg_conn c(millrace::test::pg_conninfo());
    EXPECT_EQ(c.exec("SELECT COUNT(*) FROM " + tg.where + ".migrations").i64(0, 0), 1);
}

TEST(PostgresMultiProcess, ServerRestartedUnderLoadLosesNothingAcknowledged) {
    MILLRACE_NEED_PG();
    const char* ctl = std::getenv("MILLRACE_TEST_PG_CTL");
    const char* data = std::getenv("MILLRACE_TEST_PG_DATA");
    if (ctl == nullptr || data == nullptr)
        GTEST_SKIP() << "MILLRACE_TEST_PG_CTL / _DATA unset (run under .ci/postgres.sh)";
    auto s = open_pg(millrace::test::fresh_pg_schema("mp"));
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> errors{0};
    std::vector<std::vector<job_id>> acked(4);
    std::vector<std::thread> ts;
    for (std::size_t w = 0; w < 4; ++w)
        ts.emplace_back([&, w] {
            while (!stop.load()) {
                try {
                    acked[w].push_back(s->enqueue(make_job()).id);
                } catch (const storage_error&) {
                    errors.fetch_add(1);
                    std::this_thread::sleep_for(std::chrono::milliseconds{5});
                }
            }
        });
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    const std::string cmd =
        std::string(ctl) + " -D " + data + " -l " + data + "/restart.log -m fast -w restart >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::this_thread::sleep_for(std::chrono::milliseconds{500});
    std::size_t before_stop = 0;
    for (const auto& a : acked)
        before_stop += a.size();
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    stop.store(true);
    for (auto& t : ts)
        t.join();
    std::size_t total = 0;
    for (const auto& a : acked)
        total += a.size();
    EXPECT_GT(total, before_stop) << "the pool did not recover after the restart";
    // Every acknowledged enqueue is in the database after the restart.
    std::set<job_id> all;
    for (const auto& a : acked)
        all.insert(a.begin(), a.end());
    EXPECT_EQ(all.size(), total);
    std::size_t found = 0;
    for (auto id : all)
        found += s->find(id).has_value() ? 1 : 0;
    EXPECT_EQ(found, total);
    EXPECT_GE(s->stats("q").total(), total);
    std::printf("restart: %zu acknowledged, %zu calls failed during the restart\n", total, errors.load());
}

}  // namespace
