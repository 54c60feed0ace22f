// Fuzzes millrace::unique_function: random assign / move / swap / reset / call sequences on
// four slots against a model of what each slot holds. Checks every documented guarantee: a
// call returns what the held callable computes (an empty one throws std::bad_function_call),
// a moved-from object is empty, every capture is destroyed exactly once (live count), and a
// callable of up to inline_size (48) bytes lives inside the object (its `this` lies within
// the unique_function), larger ones outside. abort() on any disagreement.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <utility>

#include "fuzz_input.hpp"
#include "millrace/core/unique_function.hpp"

namespace {

long live = 0;                    // callables in existence
const void* last_this = nullptr;  // the object the last call ran on

// A callable of Words 64-bit words: 8 bytes, 48 bytes (six pointers: inline) or 56 (heap).
template <std::size_t Words>
struct fn {
    std::array<std::uint64_t, Words> w{};
    explicit fn(std::uint64_t p) noexcept {
        w.fill(p);
        ++live;
    }
    fn(const fn& o) noexcept : w(o.w) { ++live; }
    fn(fn&& o) noexcept : w(o.w) { ++live; }
    fn& operator=(const fn&) = delete;
    ~fn() { --live; }
    std::uint64_t operator()(std::uint64_t x) noexcept {
        last_this = this;
        return w[0] * x + w[Words - 1] + Words;
    }
};
static_assert(sizeof(fn<6>) == 48 && sizeof(fn<7>) == 56);

using func = millrace::unique_function<std::uint64_t(std::uint64_t)>;

struct held {
    std::size_t words;
    std::uint64_t p;
};

[[noreturn]] void fail() {
    std::abort();
}

void check_call(func& f, const std::optional<held>& m, std::uint64_t x) {
    if (!m) {
        try {
            (void)f(x);
        } catch (const std::bad_function_call&) {
            return;
        }
        fail();
    }
    last_this = nullptr;
    if (f(x) != m->p * x + m->p + m->words) fail();
    const auto* lo = reinterpret_cast<const unsigned char*>(&f);
    const auto* at = static_cast<const unsigned char*>(last_this);
    const bool inside = at >= lo && at < lo + sizeof(func);
    if (inside != (m->words * 8 <= 48)) fail();  // six pointers or fewer: inline
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    millrace::fuzz::byte_reader in{data, size};
    {
        std::array<func, 4> slot;
        std::array<std::optional<held>, 4> model;
        while (in.more()) {
            const std::uint8_t op = in.byte();
            const std::size_t a = op >> 4 & 3, b = op >> 6 & 3;
            switch (op % 6) {
                case 0: {  // assign a new callable
                    const std::uint64_t p = in.byte();
                    const std::size_t words = (op >> 3 & 1) ? 6 : ((in.byte() & 1) ? 1 : 7);
                    if (words == 1)
                        slot[a] = fn<1>(p);
                    else if (words == 6)
                        slot[a] = fn<6>(p);
                    else
                        slot[a] = fn<7>(p);
                    model[a] = held{words, p};
                    break;
                }
                case 1:  // move-assign: the source is left empty
                    if (a == b) break;
                    slot[a] = std::move(slot[b]);
                    model[a] = model[b];
                    model[b].reset();
                    break;
                case 2:
                    slot[a].swap(slot[b]);
                    std::swap(model[a], model[b]);
                    break;
                case 3:
                    slot[a] = nullptr;
                    model[a].reset();
                    break;
                case 4: {  // move-construct out of a, then into b
                    func tmp(std::move(slot[a]));
                    if (static_cast<bool>(slot[a])) fail();
                    slot[b] = std::move(tmp);
                    const auto m = model[a];
                    model[a].reset();
                    model[b] = m;
                    break;
                }
                default:
                    check_call(slot[a], model[a], in.byte());
                    break;
            }
            long expected = 0;
            for (std::size_t i = 0; i < 4; ++i) {
                if (static_cast<bool>(slot[i]) != model[i].has_value()) fail();
                expected += model[i].has_value() ? 1 : 0;
            }
            if (live != expected) fail();  // no leak, no double destruction
        }
    }
    if (live != 0) fail();
    return 0;
}
