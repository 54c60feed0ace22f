// libFuzzer target: random operation sequences on memory_store (one shard, so ids and tokens
// are numbered exactly like the model's) against tests/store/model.hpp; abort() on the first
// disagreement of a result or of a record.
#include <millrace/store/memory_store.hpp>

#include "fuzz_input.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "../tests/store/model.hpp"

namespace {

using namespace millrace;

using reader = millrace::fuzz::byte_reader;

job_time at(std::int64_t s) { return job_time{} + std::chrono::seconds{1'700'000'000 + s}; }

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
                r.type = "t";
                const std::uint8_t b = in.byte();
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
                const auto m = model.claim(q, b & 3, t, at(now + (b >> 2) % 4), "w");
                const auto s = store.claim(q, b & 3, t, at(now + (b >> 2) % 4), "w");
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
                const auto o = (b & 4) ? fail_outcome::dead() : fail_outcome::retry_at(at(now + (b >> 3) % 4 - 1));
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
            case 11: check(model.requeue_expired(t) == store.requeue_expired(t), "requeue_expired", op); break;
            case 12: check(model.cancel(id, t) == store.cancel(id, t), "cancel", op); break;
            case 13: check(model.retry_dead(id, t) == store.retry_dead(id, t), "retry_dead", op); break;
            case 14: {
                const job_state st = all_job_states[3 + in.byte() % 3];
                check(model.purge(st, at(now - 2)) == store.purge(st, at(now - 2)), "purge", op);
                break;
            }
            default:
                check(model.next_run_at(q) == store.next_run_at(q), "next_run_at", op);
                check(model.stats(q) == store.stats(q), "stats", op);
                break;
        }
        check(model.find(id) == store.find(id), "record", op);
    }
    for (const char* q : queues) {
        check(model.stats(q) == store.stats(q), "final stats", 0);
        for (job_state st : all_job_states) check(model.list(q, st, 1000) == store.list(q, st, 1000), "final list", 0);
    }
    return 0;
}
