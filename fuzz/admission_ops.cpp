// Fuzzes the admission policies: random queue states and cancels through
// all_of<rate_limited, rate_limited, watermark, reject_when_full> and block_when_full,
// against a model written from their documented rules: closed first; a rate limit takes
// `cost` tokens when it has them (rejected_rate otherwise); the watermark sheds from
// depth >= high until depth < low; a bounded queue at capacity is full (rejected_full, or
// wait for block_when_full); all_of answers the first refusal and gives back what the
// policies before it took. Buckets are plain token counters, so every token is accounted
// for exactly; abort() on any disagreement.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"
#include "millrace/flow/admission.hpp"

namespace {

struct counter_bucket {
    std::uint64_t tokens = 0;
    bool try_acquire(std::uint64_t n) noexcept {
        if (n > tokens) return false;
        tokens -= n;
        return true;
    }
    void refund(std::uint64_t n) noexcept { tokens += n; }
};

struct model {
    std::uint64_t a = 0, b = 0;
    std::size_t high, low;
    bool shedding = false;

    millrace::admission admit(const millrace::queue_state& q) {
        using millrace::admission;
        if (q.closed) return admission::closed;
        if (q.cost > a) return admission::rejected_rate;
        if (q.cost > b) return admission::rejected_rate;  // a's take is given back
        if (!shedding && q.depth >= high)
            shedding = true;
        else if (shedding && q.depth < low)
            shedding = false;
        if (shedding) return admission::rejected_full;
        if (q.capacity != 0 && q.depth >= q.capacity) return admission::rejected_full;
        a -= q.cost;
        b -= q.cost;
        return admission::accepted;
    }
};

[[noreturn]] void fail() {
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace millrace;
    fuzz::byte_reader in{data, size};
    const std::size_t high = 1 + in.byte() % 16;
    const std::size_t low = 1 + in.byte() % high;
    counter_bucket ba, bb;
    all_of policy(rate_limited<counter_bucket>(ba), rate_limited<counter_bucket>(bb), watermark(high, low),
                  reject_when_full{});
    block_when_full blocking;
    model m{0, 0, high, low};
    while (in.more()) {
        const std::uint8_t op = in.byte();
        queue_state q;
        q.depth = in.byte() % 24;
        q.capacity = in.byte() % 20;
        q.closed = (op & 0x10) != 0 && (op & 0x20) != 0;
        q.cost = in.byte() % 4;
        switch (op % 4) {
            case 0: {  // tokens arrive
                const std::uint64_t n = in.byte() % 8;
                ba.refund(n);
                m.a += n;
                if ((op & 0x40) != 0) {
                    bb.refund(n);
                    m.b += n;
                }
                break;
            }
            case 1:
            case 2: {
                const admission got = policy.admit(q);
                if (got != m.admit(q)) fail();
                if (got == admission::accepted && (op & 0x80) != 0) {  // the enqueue failed
                    policy.cancel(q);
                    m.a += q.cost;
                    m.b += q.cost;
                }
                break;
            }
            default: {
                const admission want = q.closed                                   ? admission::closed
                                       : q.capacity != 0 && q.depth >= q.capacity ? admission::wait
                                                                                  : admission::accepted;
                if (blocking.admit(q) != want) fail();
                break;
            }
        }
        if (ba.tokens != m.a || bb.tokens != m.b) fail();
    }
    return 0;
}
