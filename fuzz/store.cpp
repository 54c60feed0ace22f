// libFuzzer target: random operation sequences on memory_store (one shard, so ids and tokens
// are numbered exactly like the model's) against tests/store/model.hpp; abort() on the first
// disagreement of a result or of a record. Operations: every task_store call, type-filtered
// claims, release, complete_many, fail_many and the schedule calls.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "../tests/store/model.hpp"
#include "fuzz_input.hpp"
#include "millrace/store/memory_store.hpp"

namespace {

using namespace millrace;

using reader = millrace::fuzz::byte_reader;

job_time at(std::int64_t s) {
    return job_time{} + std::chrono::seconds{1'700'000'000 + s};
}

void check(bool ok, const char* what, std::size_t op) {
    if (!ok) {
        std::fprintf(stderr, "store_fuzz: %s disagrees at op %zu\n", what, op);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    reader in{data, size};
    memory_store store(1);
    test::model_store model;
    std::int64_t now = 0;
    lease_token tokens_issued = 0;
    job_id ids_issued = 0;
    static const char* const queues[2] = {"a", "b"};
    for (std::size_t op = 0; in.more(); ++op) {
        const std::uint8_t code = in.byte();
        now += code >> 6;  // time moves by 0..3
        const job_time t = at(now);
        const char* q = queues[code & 1];
        const job_id id = 1 + in.byte() % (ids_issued + 2);  // mostly known ids, sometimes unknown
        switch ((code >> 1) & 15) {
            case 0:
            case 1: {
                job_record r;
                r.queue = q;
                const std::uint8_t b = in.byte();
                r.type = (code & 0x20) ? "u" : "t";
                r.priority = (b & 3) - 1;
                r.created_at = t;
                r.run_at = at(now + ((b >> 2) & 3) - 1);
                r.max_attempts = 1 + ((b >> 4) & 3) % 3;
                if (b & 0x40) r.dedup_key = std::string(1, static_cast<char>('k' + (b >> 7)));
                const auto m = model.enqueue(r);
                const auto s = store.enqueue(r);
                check(m == s, "enqueue", op);
                if (m.inserted) ++ids_issued;
                break;
            }
            case 2:
            case 3:
            case 4: {
                const std::uint8_t b = in.byte();
                const std::vector<std::string> only_u{"u"};  // sometimes a type filter
                const std::span<const std::string> types =
                    (b & 0x80) ? std::span<const std::string>(only_u) : std::span<const std::string>();
                const auto m = model.claim(q, b & 3, t, at(now + (b >> 2) % 4), "w", types);
                const auto s = store.claim(q, b & 3, t, at(now + (b >> 2) % 4), "w", types);
                check(m == s, "claim", op);
                tokens_issued += m.size();
                break;
            }
            case 5:
            case 6:
            case 7: {  // complete with a recent token: the current one or an older one
                const lease_token tok = tokens_issued - in.byte() % 4;
                check(model.complete(id, tok, t) == store.complete(id, tok, t), "complete", op);
                break;
            }
            case 8: {
                const std::uint8_t b = in.byte();
                const lease_token tok = tokens_issued - b % 4;
                const auto o =
                    (b & 4) ? fail_outcome::dead() : fail_outcome::retry_at(at(now + (b >> 3) % 4 - 1));
                check(model.fail(id, tok, o, "e", t) == store.fail(id, tok, o, "e", t), "fail", op);
                break;
            }
            case 9: {
                const std::uint8_t b = in.byte();
                const lease_token tok = tokens_issued - b % 4;
                check(model.extend_lease(id, tok, at(now + (b >> 2) % 4)) ==
                          store.extend_lease(id, tok, at(now + (b >> 2) % 4)),
                      "extend_lease", op);
                break;
            }
            case 10:
            case 11:
                check(model.requeue_expired(t) == store.requeue_expired(t), "requeue_expired", op);
                break;
            case 12:
                check(model.cancel(id, t) == store.cancel(id, t), "cancel", op);
                break;
            case 13:
                check(model.retry_dead(id, t) == store.retry_dead(id, t), "retry_dead", op);
                break;
            case 14: {
                const job_state st = all_job_states[3 + in.byte() % 3];
                check(model.purge(st, at(now - 2)) == store.purge(st, at(now - 2)), "purge", op);
                break;
            }
            default: {
                const std::uint8_t b = in.byte();
                const lease_token tok = tokens_issued - (b >> 3) % 4;
                switch (b % 8) {
                    case 0:
                        check(model.next_run_at(q) == store.next_run_at(q), "next_run_at", op);
                        check(model.stats(q) == store.stats(q), "stats", op);
                        break;
                    case 1:
                        check(model.release(id, tok, t) == store.release(id, tok, t), "release", op);
                        break;
                    case 2: {  // two items: this job and the next id, the same token
                        const std::vector<lease_ref> items{{id, tok}, {id + 1, tok + 1}};
                        check(model.complete_many(items, t) == store.complete_many(items, t), "complete_many",
                              op);
                        break;
                    }
                    case 3: {
                        const auto o =
                            (b & 0x40) ? fail_outcome::dead() : fail_outcome::retry_at(at(now + 1));
                        const std::vector<failure> items{{id, tok, o, "m"}, {id + 1, tok + 1, o, "n"}};
                        check(model.fail_many(items, t) == store.fail_many(items, t), "fail_many", op);
                        break;
                    }
                    case 4: {
                        schedule_record r;
                        r.name = (b & 0x40) ? "s" : "r";
                        r.queue = q;
                        r.next_run = at(now);
                        check(model.upsert_schedule(r) == store.upsert_schedule(r), "upsert_schedule", op);
                        break;
                    }
                    case 5:
                    case 6: {  // advance with the time read, or a stale one
                        const char* name = (b & 0x40) ? "s" : "r";
                        const auto all = model.list_schedules();
                        job_time expected = at(now - 1);
                        for (const auto& r : all)
                            if (r.name == name && (b & 0x80)) expected = r.next_run;
                        check(model.advance_schedule(name, expected, t + std::chrono::nanoseconds(1)) ==
                                  store.advance_schedule(name, expected, t + std::chrono::nanoseconds(1)),
                              "advance_schedule", op);
                        break;
                    }
                    default: {
                        const char* name = (b & 0x40) ? "s" : "r";
                        check(model.remove_schedule(name) == store.remove_schedule(name), "remove_schedule",
                              op);
                        break;
                    }
                }
                check(model.list_schedules() == store.list_schedules(), "schedules", op);
                break;
            }
        }
        check(model.find(id) == store.find(id), "record", op);
    }
    for (const char* q : queues) {
        check(model.stats(q) == store.stats(q), "final stats", 0);
        for (job_state st : all_job_states)
            check(model.list(q, st, 1000) == store.list(q, st, 1000), "final list", 0);
    }
    return 0;
}
