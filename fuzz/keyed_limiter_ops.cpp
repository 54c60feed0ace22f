// Fuzzes millrace::keyed_limiter: random advance / try_acquire / refund / available /
// evict_full sequences on 16 keys under a manual clock, against the simplest model of its
// contract: one never-evicted token_bucket per key, created with the limiter (itself fuzzed
// against an exact model by token_bucket_ops.cpp). The key bound is never reached here, so
// every decision and every balance must be identical; abort() on any disagreement.
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "fuzz_input.hpp"
#include "millrace/flow/keyed_limiter.hpp"
#include "millrace/flow/token_bucket.hpp"

namespace {

constexpr double rates[] = {1.0, 3.0, 10.0, 1000.0, 999'983.0};
constexpr double bursts[] = {1.0, 2.0, 5.0, 64.0};
constexpr std::size_t keys = 16;

[[noreturn]] void fail() {
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using millrace::manual_clock;
    millrace::fuzz::byte_reader in{data, size};
    const std::uint8_t setup = in.byte();
    const double rate = rates[setup % 5];
    const double burst = bursts[(setup / 5) % 4];
    const std::size_t shards = std::size_t{1} << ((setup / 20) % 3);
    manual_clock clk;
    using limiter = millrace::keyed_limiter<std::uint64_t, manual_clock>;
    limiter l(rate, burst, limiter::options{.max_keys = 4 * keys, .shards = shards}, clk);
    std::array<std::unique_ptr<millrace::token_bucket<manual_clock>>, keys> model;
    for (auto& b : model)
        b = std::make_unique<millrace::token_bucket<manual_clock>>(rate, burst, clk);
    while (in.more()) {
        const std::uint8_t op = in.byte();
        const std::uint64_t key = op >> 4;
        const std::uint64_t n = in.byte() % 8;
        switch (op % 5) {
            case 0:
                clk.advance(std::chrono::nanoseconds(in.word() % 3'000'000'000));
                break;
            case 1:
                if (l.try_acquire(key, n) != model[key]->try_acquire(n)) fail();
                break;
            case 2:
                l.refund(key, n);
                model[key]->refund(n);
                break;
            case 3:
                (void)l.evict_full();  // drops only full buckets: no decision may change
                break;
            default:
                break;
        }
        if (l.available(key) != model[key]->available()) fail();
        if (l.size() > keys || l.rejected_capacity() != 0) fail();
    }
    for (std::uint64_t k = 0; k < keys; ++k)
        if (l.available(k) != model[k]->available()) fail();
    return 0;
}
