// tests/store/conformance/support.hpp: what every conformance section shares: readable
// failure messages for records, times in small integers of seconds, a sample job, counts.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/store/concepts.hpp"
#include "millrace/store/job.hpp"
#include "store/model.hpp"
#include "support/stress.hpp"

namespace millrace {
// Readable failure messages for records (gtest finds these by ADL).
inline void PrintTo(const job_record& r, std::ostream* os) {
    *os << "{id " << r.id << " queue " << r.queue << " " << to_string(r.state) << " prio " << r.priority
        << " run_at " << r.run_at.time_since_epoch().count() << " attempts " << r.attempts << "/"
        << r.max_attempts << " key '" << r.dedup_key << "' created "
        << r.created_at.time_since_epoch().count() << " updated " << r.updated_at.time_since_epoch().count()
        << " lease " << r.lease_until.time_since_epoch().count() << " token " << r.token << " worker '"
        << r.worker << "' error '" << r.last_error << "' payload " << r.payload.size() << "B}";
}
inline void PrintTo(const claimed_job& c, std::ostream* os) {
    *os << "claimed token " << c.token << " ";
    PrintTo(c.record, os);
}
}  // namespace millrace

namespace millrace::test {

/// A fixed epoch plus `s` seconds: tests speak in small integers of time.
inline job_time at(std::int64_t s) {
    return job_time{} + std::chrono::seconds{1'700'000'000} + std::chrono::seconds{s};
}

/// A record ready at at(0), created at at(0).
inline job_record make_job(std::string queue = "q", std::int32_t priority = 0) {
    job_record r;
    r.queue = std::move(queue);
    r.type = "email";
    r.payload = {std::byte{1}, std::byte{2}, std::byte{3}};
    r.priority = priority;
    r.run_at = at(0);
    r.created_at = at(0);
    r.partition_key = "p";
    return r;
}

/// The counts per state (compared with a store_stats, the totals only).
inline state_counts make_stats(std::uint64_t scheduled, std::uint64_t ready, std::uint64_t running,
                               std::uint64_t succeeded, std::uint64_t dead, std::uint64_t cancelled) {
    state_counts s;
    s.counts = {scheduled, ready, running, succeeded, dead, cancelled};
    return s;
}

}  // namespace millrace::test
