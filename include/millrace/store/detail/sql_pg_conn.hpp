// millrace/store/detail/sql_pg_conn.hpp: the libpq plumbing of postgres_store: one
// connection with its prepared statements, results that free themselves, errors that carry
// the SQL state, and a fixed-size pool that re-establishes lost connections with backoff.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

// Debian keeps libpq's header in /usr/include/postgresql; the target millrace::postgres_store
// adds that directory, and a plain compile on Debian finds it by the longer name.
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

#include "millrace/core/error.hpp"
#include "millrace/store/detail/sql_common.hpp"

namespace millrace::detail {

/// A PGresult freed on destruction.
class pg_result {
public:
    pg_result() = default;
    explicit pg_result(PGresult* r) noexcept : r_(r) {}
    pg_result(pg_result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
    pg_result& operator=(pg_result&& o) noexcept {
        if (this != &o) {
            PQclear(r_);
            r_ = std::exchange(o.r_, nullptr);
        }
        return *this;
    }
    ~pg_result() { PQclear(r_); }

    [[nodiscard]] int rows() const noexcept { return PQntuples(r_); }
    [[nodiscard]] bool null(int row, int col) const noexcept { return PQgetisnull(r_, row, col) != 0; }
    [[nodiscard]] std::string_view text(int row, int col) const noexcept {
        return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
    }
    [[nodiscard]] std::int64_t i64(int row, int col) const { return std::stoll(std::string(text(row, col))); }
    /// A bytea column in the hex text format (`\x0a1b...`).
    [[nodiscard]] std::vector<std::byte> bytes(int row, int col) const {
        const auto t = text(row, col);
        std::vector<std::byte> out;
        if (t.size() < 2) return out;
        out.reserve((t.size() - 2) / 2);
        auto nib = [](char c) -> unsigned {
            return c <= '9' ? static_cast<unsigned>(c - '0') : static_cast<unsigned>((c | 0x20) - 'a' + 10);
        };
        for (std::size_t i = 2; i + 1 < t.size(); i += 2)
            out.push_back(static_cast<std::byte>((nib(t[i]) << 4) | nib(t[i + 1])));
        return out;
    }
    /// Rows an INSERT / UPDATE / DELETE changed.
    [[nodiscard]] std::size_t affected() const {
        const char* n = PQcmdTuples(r_);
        return (n == nullptr || *n == '\0') ? 0 : static_cast<std::size_t>(std::stoull(n));
    }
    [[nodiscard]] PGresult* get() const noexcept { return r_; }

private:
    PGresult* r_ = nullptr;
};

/// The error of a failed statement: SQL state and message, as storage_error.
inline storage_error pg_error(const std::string& where, PGconn* c, const PGresult* r) {
    std::string state = "?????";
    std::string msg;
    if (r != nullptr) {
        if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) state = s;
        msg = PQresultErrorMessage(r);
    }
    if (msg.empty() && c != nullptr) msg = PQerrorMessage(c);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
        msg.pop_back();
    return storage_error(where, storage_error::npos, "SQLSTATE " + state + ": " + msg);
}

/// Parameters of one statement, as text (nullptr: SQL NULL) or binary (bytea).
class pg_params {
public:
    pg_params& add(std::string v) {
        vals_.push_back(std::move(v));
        null_.push_back(false);
        bin_.push_back(0);
        return *this;
    }
    pg_params& add(std::int64_t v) { return add(std::to_string(v)); }
    pg_params& add_null() {
        vals_.emplace_back();
        null_.push_back(true);
        bin_.push_back(0);
        return *this;
    }
    pg_params& add_bytes(std::span<const std::byte> b) {
        vals_.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
        null_.push_back(false);
        bin_.push_back(1);
        return *this;
    }
    /// A text[] literal: {"a","b"} with quotes and backslashes escaped.
    static std::string text_array(std::span<const std::string> items) {
        std::string s = "{";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i != 0) s += ',';
            s += '"';
            for (char c : items[i]) {
                if (c == '"' || c == '\\') s += '\\';
                s += c;
            }
            s += '"';
        }
        return s + "}";
    }
    template <class T, class F>
    static std::string array(std::span<const T> items, F&& f) {
        std::string s = "{";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i != 0) s += ',';
            s += f(items[i]);
        }
        return s + "}";
    }

    [[nodiscard]] int size() const noexcept { return static_cast<int>(vals_.size()); }
    void fill(std::vector<const char*>& v, std::vector<int>& len, std::vector<int>& fmt) const {
        for (std::size_t i = 0; i < vals_.size(); ++i) {
            v.push_back(null_[i] ? nullptr : vals_[i].c_str());
            len.push_back(static_cast<int>(vals_[i].size()));
            fmt.push_back(bin_[i]);
        }
    }

private:
    std::vector<std::string> vals_;
    std::vector<bool> null_;
    std::vector<int> bin_;
};

/// One connection and the statements prepared on it.
class pg_conn {
public:
    explicit pg_conn(const std::string& conninfo) : c_(PQconnectdb(conninfo.c_str())) {
        if (c_ == nullptr) throw std::bad_alloc();
        if (PQstatus(c_) != CONNECTION_OK) {
            std::string msg = PQerrorMessage(c_);
            PQfinish(c_);
            c_ = nullptr;
            throw storage_error("postgres", storage_error::npos, "connection failed: " + msg);
        }
        // Server notices ("schema already exists, skipping") are not errors: not printed.
        PQsetNoticeProcessor(
            c_, [](void*, const char*) {}, nullptr);
    }
    pg_conn(const pg_conn&) = delete;
    pg_conn& operator=(const pg_conn&) = delete;
    ~pg_conn() { PQfinish(c_); }

    [[nodiscard]] bool ok() const noexcept { return PQstatus(c_) == CONNECTION_OK; }
    /// Re-establishes a lost connection (its prepared statements are gone with it).
    bool reset() {
        PQreset(c_);
        prepared_.clear();
        return ok();
    }

    /// Runs `sql` (no parameters); throws storage_error on failure.
    pg_result exec(const std::string& sql) {
        pg_result r(PQexec(c_, sql.c_str()));
        check(r, sql);
        return r;
    }

    /// Runs the statement `name` (prepared on first use from `sql`) with `p`.
    pg_result run(const char* name, const std::string& sql, const pg_params& p) {
        if (!prepared_.contains(name)) {
            pg_result pr(PQprepare(c_, name, sql.c_str(), 0, nullptr));
            check(pr, sql);
            prepared_.insert(name);
        }
        std::vector<const char*> v;
        std::vector<int> len, fmt;
        p.fill(v, len, fmt);
        pg_result r(PQexecPrepared(c_, name, p.size(), v.data(), len.data(), fmt.data(), 0));
        check(r, sql);
        return r;
    }

    [[nodiscard]] PGconn* raw() const noexcept { return c_; }

private:
    void check(const pg_result& r, const std::string& sql) {
        const auto st = r.get() == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return;
        if (!ok()) prepared_.clear();
        throw pg_error(sql.substr(0, 120), c_, r.get());
    }

    PGconn* c_ = nullptr;
    std::unordered_set<std::string> prepared_;
};

/// A fixed set of connections lent one at a time; a caller waits while all are lent. A
/// connection found lost is re-established with backoff (up to `reconnect_timeout`) before it
/// is lent; a call whose connection dropped mid-statement fails with storage_error and is not
/// acknowledged.
class pg_pool {
public:
    pg_pool(std::string conninfo, std::size_t size, std::chrono::milliseconds reconnect_timeout)
        : conninfo_(std::move(conninfo)), reconnect_timeout_(reconnect_timeout) {
        for (std::size_t i = 0; i < size; ++i)
            idle_.push_back(std::make_unique<pg_conn>(conninfo_));
    }

    /// A lent connection, given back on destruction.
    class lease {
    public:
        lease(pg_pool& p, std::unique_ptr<pg_conn> c) : p_(&p), c_(std::move(c)) {}
        lease(lease&&) = default;
        lease& operator=(lease&&) = delete;
        ~lease() {
            if (c_) p_->give_back(std::move(c_));
        }
        pg_conn* operator->() const noexcept { return c_.get(); }
        pg_conn& operator*() const noexcept { return *c_; }

    private:
        pg_pool* p_;
        std::unique_ptr<pg_conn> c_;
    };

    lease get() {
        std::unique_ptr<pg_conn> c;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [&] { return !idle_.empty(); });
            c = std::move(idle_.back());
            idle_.pop_back();
        }
        if (!c->ok()) {
            sql_backoff backoff(reconnect_timeout_);
            while (!c->reset()) {
                if (!backoff.wait()) {
                    std::string msg = PQerrorMessage(c->raw());
                    give_back(std::move(c));
                    throw storage_error("postgres", storage_error::npos,
                                        "connection lost and not re-established: " + msg);
                }
            }
        }
        return lease(*this, std::move(c));
    }

private:
    void give_back(std::unique_ptr<pg_conn> c) {
        {
            std::lock_guard lock(mu_);
            idle_.push_back(std::move(c));
        }
        cv_.notify_one();
    }

    std::string conninfo_;
    std::chrono::milliseconds reconnect_timeout_;
    std::mutex mu_;
    std::condition_variable cv_;
    // Guarded by mu_:
    std::vector<std::unique_ptr<pg_conn>> idle_;
};

}  // namespace millrace::detail
