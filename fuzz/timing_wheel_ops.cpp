// Fuzzes millrace::timing_wheel: the fuzzer's bytes drive the same differential driver as
// the stress test (tests/time/wheel_differential.hpp): random inserts, cancels, stale ids,
// reschedules, advances of every size and callbacks that insert, cancel and throw, checked
// against a std::multimap model; any disagreement aborts. Two wheel shapes per input: the
// default 6 x 64 and a tiny 3 x 4 whose 64-tick range sends most timers through the heap.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../tests/time/wheel_differential.hpp"

namespace {

// Eight bytes per draw; once the input runs out, done() ends the run.
struct byte_source {
    const std::uint8_t* data;
    std::size_t size;
    std::uint64_t next() {
        std::uint64_t v = 0;
        const std::size_t n = size < sizeof v ? size : sizeof v;
        std::memcpy(&v, data, n);
        data += n;
        size -= n;
        // Spread short inputs over all 64 bits so that small values still reach far ticks.
        v ^= v >> 29;
        v *= 0xbf58476d1ce4e5b9ull;
        v ^= v >> 32;
        return v;
    }
    bool done() const { return size == 0; }
};

template <class Wheel>
void run(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return;
    byte_source src{data + 1, size - 1};
    const std::uint64_t start = data[0] < 128 ? 0 : (std::uint64_t{1} << (data[0] % 64)) - 7;
    millrace::test::wheel_differential<Wheel, byte_source> diff(src, start);
    try {
        diff.run(1u << 20);
    } catch (const millrace::test::differential_failure& f) {
        std::fprintf(stderr, "timing_wheel differential failure: %s\n", f.what.c_str());
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    run<millrace::timing_wheel<std::uint64_t>>(data, size);
    run<millrace::timing_wheel<std::uint64_t, millrace::wheel_config<3, 4>>>(data, size);
    return 0;
}
