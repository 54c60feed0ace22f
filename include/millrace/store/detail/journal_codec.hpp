// millrace/store/detail/journal_codec.hpp: encoding of job_record fields in journal records.
//
// The record types of journal_store (one per call) and the job entry's layout are here too.
//
// Field-generic: integers and enums as 8 bytes, time points and durations as their tick
// count (8 bytes), optionals as a presence byte and the value, strings and byte containers
// as a 4-byte length and the bytes. Decoding throws journal_decode_error on a payload that
// ends early or holds an out-of-range enum; the caller checks what the values mean.
//
// A record's payload is a sequence of entries, each a one-byte kind and its fields:
//   entry_upsert          a whole job_record (encode_job below)
//   entry_erase           a purged job's id
//   entry_schedule_put    a whole schedule_record (encode_schedule below)
//   entry_schedule_erase  a removed schedule's name
// Whole-record entries make replay order-independent per job and per schedule.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "millrace/store/detail/journal_format.hpp"
#include "millrace/store/job.hpp"

namespace millrace::detail::journal {

template <class T>
struct is_time_point : std::false_type {};
template <class C, class D>
struct is_time_point<std::chrono::time_point<C, D>> : std::true_type {};
template <class T>
struct is_duration : std::false_type {};
template <class R, class P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
void put(payload_writer& w, const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        w.u8(v ? 1 : 0);
    } else if constexpr (std::is_enum_v<T>) {
        w.u64(static_cast<std::uint64_t>(static_cast<std::underlying_type_t<T>>(v)));
    } else if constexpr (std::is_integral_v<T>) {
        w.u64(static_cast<std::uint64_t>(v));
    } else if constexpr (is_time_point<T>::value) {
        w.i64(static_cast<std::int64_t>(v.time_since_epoch().count()));
    } else if constexpr (is_duration<T>::value) {
        w.i64(static_cast<std::int64_t>(v.count()));
    } else if constexpr (is_optional<T>::value) {
        w.u8(v.has_value() ? 1 : 0);
        if (v) put(w, *v);
    } else {  // strings and contiguous byte containers
        w.str(std::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
    }
}

template <class T>
void get(payload_reader& r, T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        const auto b = r.u8();
        if (b > 1) throw journal_decode_error("bad boolean");
        v = b == 1;
    } else if constexpr (std::is_enum_v<T>) {
        v = static_cast<T>(static_cast<std::underlying_type_t<T>>(r.u64()));
    } else if constexpr (std::is_integral_v<T>) {
        v = static_cast<T>(r.u64());
    } else if constexpr (is_time_point<T>::value) {
        v = T(typename T::duration(static_cast<typename T::rep>(r.i64())));
    } else if constexpr (is_duration<T>::value) {
        v = T(static_cast<typename T::rep>(r.i64()));
    } else if constexpr (is_optional<T>::value) {
        const auto b = r.u8();
        if (b > 1) throw journal_decode_error("bad optional flag");
        if (b == 0) {
            v.reset();
        } else {
            typename T::value_type x{};
            get(r, x);
            v = std::move(x);
        }
    } else {
        const std::string s = r.str();
        using E = typename T::value_type;
        static_assert(sizeof(E) == 1, "byte containers only");
        v = T(reinterpret_cast<const E*>(s.data()), reinterpret_cast<const E*>(s.data()) + s.size());
    }
}

// Entry kinds inside a record's payload (see the header).
inline constexpr std::uint8_t entry_upsert = 1;
inline constexpr std::uint8_t entry_erase = 2;
inline constexpr std::uint8_t entry_schedule_put = 3;
inline constexpr std::uint8_t entry_schedule_erase = 4;

// Record types: the operation whose changes a record holds (one record per call).
enum record_type : std::uint8_t {
    rt_enqueue = 1,
    rt_enqueue_batch,
    rt_claim,
    rt_complete,
    rt_fail,
    rt_extend_lease,
    rt_requeue_expired,
    rt_cancel,
    rt_retry_dead,
    rt_purge,
    rt_snapshot,  // compaction: jobs (and schedules) of the base segment
    rt_counters,  // compaction: next id and next token (purged jobs' numbers stay used)
    rt_release,
    rt_complete_many,
    rt_fail_many,
    rt_schedule,  // upsert_schedule, remove_schedule, advance_schedule
    rt_last = rt_schedule,
};

// The upsert entry of a job: the field layout above (integers as 8 bytes,
// strings as a 4-byte length and the bytes), written with one resize (the hot path of
// every mutating call and of compaction).
// The bytes encode_job writes for `r` (its upsert entry).
[[nodiscard]] inline std::size_t encoded_job_size(const job_record& r) noexcept {
    return 1 + 8 * 10 + 4 * 7 + r.queue.size() + r.type.size() + r.payload.size() + r.dedup_key.size() +
           r.partition_key.size() + r.worker.size() + r.last_error.size();
}
inline void encode_job(payload_writer& w, const job_record& r) {
    const auto strlen_ = [](std::size_t n) {
        if (n > max_payload) throw std::invalid_argument("journal field larger than 256 MiB");
        return 4 + n;
    };
    const std::size_t size = 1 + 8 * 10 + strlen_(r.queue.size()) + strlen_(r.type.size()) +
                             strlen_(r.payload.size()) + strlen_(r.dedup_key.size()) +
                             strlen_(r.partition_key.size()) + strlen_(r.worker.size()) +
                             strlen_(r.last_error.size());
    const std::size_t at = w.out.size();
    w.out.resize(at + size);
    unsigned char* p = w.out.data() + at;
    const auto u64 = [&](std::uint64_t v) {
        put_u64(p, v);
        p += 8;
    };
    const auto str = [&](const void* d, std::size_t n) {
        put_u32(p, static_cast<std::uint32_t>(n));
        if (n != 0) std::memcpy(p + 4, d, n);
        p += 4 + n;
    };
    const auto ticks = [](job_time t) { return static_cast<std::uint64_t>(t.time_since_epoch().count()); };
    *p++ = entry_upsert;
    u64(r.id);
    str(r.queue.data(), r.queue.size());
    str(r.type.data(), r.type.size());
    str(r.payload.data(), r.payload.size());
    u64(static_cast<std::uint64_t>(static_cast<std::int64_t>(r.priority)));
    u64(ticks(r.run_at));
    u64(r.attempts);
    u64(r.max_attempts);
    str(r.dedup_key.data(), r.dedup_key.size());
    str(r.partition_key.data(), r.partition_key.size());
    u64(static_cast<std::uint64_t>(r.state));
    u64(ticks(r.created_at));
    u64(ticks(r.updated_at));
    u64(ticks(r.lease_until));
    u64(r.token);
    str(r.worker.data(), r.worker.size());
    str(r.last_error.data(), r.last_error.size());
    if (p != w.out.data() + at + size) throw std::logic_error("journal: encode_job size mismatch");
}

inline void decode_job(payload_reader& rd, job_record& r) {
    get(rd, r.id);
    get(rd, r.queue);
    get(rd, r.type);
    get(rd, r.payload);
    get(rd, r.priority);
    get(rd, r.run_at);
    get(rd, r.attempts);
    get(rd, r.max_attempts);
    get(rd, r.dedup_key);
    get(rd, r.partition_key);
    std::uint64_t st = 0;
    get(rd, st);
    if (st >= job_state_count) throw journal_decode_error("job state out of range");
    r.state = static_cast<job_state>(st);
    get(rd, r.created_at);
    get(rd, r.updated_at);
    get(rd, r.lease_until);
    get(rd, r.token);
    get(rd, r.worker);
    get(rd, r.last_error);
    if (r.id == 0) throw journal_decode_error("job id 0");
    if (r.queue.empty()) throw journal_decode_error("job with an empty queue");
    if (r.max_attempts == 0) throw journal_decode_error("job with max_attempts 0");
}

/// Appends the entry_schedule_put entry of `r`.
inline void encode_schedule(payload_writer& w, const schedule_record& r) {
    w.u8(entry_schedule_put);
    put(w, r.name);
    put(w, r.queue);
    put(w, r.type);
    put(w, r.payload);
    put(w, r.recurrence);
    put(w, r.next_run);
    put(w, r.missed);
    put(w, r.paused);
}

/// Reads the fields of an entry_schedule_put entry (its kind byte already read).
inline void decode_schedule(payload_reader& rd, schedule_record& r) {
    get(rd, r.name);
    get(rd, r.queue);
    get(rd, r.type);
    get(rd, r.payload);
    get(rd, r.recurrence);
    get(rd, r.next_run);
    std::uint64_t missed = 0;
    get(rd, missed);
    if (missed > static_cast<std::uint64_t>(missed_firing::skip))
        throw journal_decode_error("missed_firing out of range");
    r.missed = static_cast<missed_firing>(missed);
    get(rd, r.paused);
    if (r.name.empty()) throw journal_decode_error("schedule with an empty name");
    if (r.queue.empty()) throw journal_decode_error("schedule with an empty queue");
}

}  // namespace millrace::detail::journal
