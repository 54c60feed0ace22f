// Randomized differential test of millrace::timing_wheel against a std::multimap model over
// millions of operations (scaled by MILLRACE_STRESS_SCALE): inserts with delays from 0 to
// 2^44 ticks, cancels, stale cancels and reschedules, reschedules, advances of every size,
// and callbacks that insert, cancel and throw. See wheel_differential.hpp for the checks.
#include <cstdint>
#include <random>

#include <gtest/gtest.h>

#include "support/stress.hpp"
#include "time/wheel_differential.hpp"

namespace {

struct prng_source {
    std::mt19937_64 rng;
    std::uint64_t next() { return rng(); }
    bool done() const { return false; }
};

template <class Wheel>
void run_differential(std::uint64_t seed, std::uint64_t start, std::size_t ops) {
    prng_source src{std::mt19937_64(seed)};
    millrace::test::wheel_differential<Wheel, prng_source> diff(src, start);
    try {
        diff.run(ops);
    } catch (const millrace::test::differential_failure& f) {
        FAIL() << "seed " << seed << ": " << f.what;
    }
    EXPECT_GT(diff.fired(), ops / 10);
}

TEST(TimingWheelStress, DifferentialDefaultShape) {
    const std::size_t ops = millrace::test::scaled(1500000);
    run_differential<millrace::timing_wheel<std::uint64_t>>(1, 0, ops);
    run_differential<millrace::timing_wheel<std::uint64_t>>(2, (std::uint64_t{1} << 36) - 1000, ops / 3);
}

TEST(TimingWheelStress, DifferentialSmallShapeExercisesTheFarHeap) {
    // 3 levels x 4 slots cover 64 ticks: most timers go through the heap.
    run_differential<millrace::timing_wheel<std::uint64_t, millrace::wheel_config<3, 4>>>(
        3, 12345, millrace::test::scaled(500000));
}

TEST(TimingWheelStress, DifferentialFullRangeShapeWithoutHeap) {
    run_differential<millrace::timing_wheel<std::uint64_t, millrace::wheel_config<16, 16>>>(
        4, 0, millrace::test::scaled(500000));
}

}  // namespace
