// Admission policies: every outcome, the watermark's hysteresis, composition with refunds.
#include "millrace/flow/admission.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

#include "millrace/flow/token_bucket.hpp"

namespace {

using millrace::admission;
using millrace::queue_state;
using bucket = millrace::token_bucket<millrace::manual_clock>;

queue_state q(std::size_t depth, std::size_t cap = 10, bool closed = false, std::uint64_t cost = 1) {
    return queue_state{depth, cap, closed, cost};
}

TEST(Admission, BlockAndRejectWhenFull) {
    millrace::block_when_full b;
    millrace::reject_when_full r;
    EXPECT_EQ(b.admit(q(9)), admission::accepted);
    EXPECT_EQ(b.admit(q(10)), admission::wait);
    EXPECT_EQ(b.admit(q(3, 10, true)), admission::closed);
    EXPECT_EQ(r.admit(q(9)), admission::accepted);
    EXPECT_EQ(r.admit(q(10)), admission::rejected_full);
    EXPECT_EQ(r.admit(q(11)), admission::rejected_full);
    EXPECT_EQ(r.admit(q(0, 10, true)), admission::closed);
    EXPECT_EQ(r.admit(q(1'000'000, 0)), admission::accepted);  // capacity 0: unbounded
}

TEST(Admission, RateLimited) {
    millrace::manual_clock clk;
    bucket tb(1.0, 2.0, clk);
    millrace::rate_limited<bucket> p(tb);
    EXPECT_EQ(p.admit(q(0)), admission::accepted);
    EXPECT_EQ(p.admit(q(0)), admission::accepted);
    EXPECT_EQ(p.admit(q(0)), admission::rejected_rate);
    EXPECT_EQ(p.admit(q(0, 10, true)), admission::closed);
    p.cancel(q(0));  // the enqueue failed: the token comes back
    EXPECT_EQ(p.admit(q(0)), admission::accepted);
    clk.advance(std::chrono::seconds(2));
    EXPECT_EQ(p.admit(q(0, 10, false, 3)), admission::rejected_rate);  // cost above burst
    EXPECT_EQ(p.admit(q(0, 10, false, 2)), admission::accepted);
}

TEST(Admission, WatermarkHysteresis) {
    EXPECT_THROW(millrace::watermark(0, 0), std::invalid_argument);
    EXPECT_THROW(millrace::watermark(5, 6), std::invalid_argument);
    EXPECT_THROW(millrace::watermark(5, 0), std::invalid_argument);
    millrace::watermark w(8, 4);
    const std::size_t rising[] = {0, 5, 7};
    for (auto d : rising)
        EXPECT_EQ(w.admit(q(d, 0)), admission::accepted) << d;
    EXPECT_EQ(w.admit(q(8, 0)), admission::rejected_full);  // reached high
    EXPECT_TRUE(w.shedding());
    const std::size_t falling[] = {9, 7, 5, 4};  // still refusing until below low
    for (auto d : falling)
        EXPECT_EQ(w.admit(q(d, 0)), admission::rejected_full) << d;
    EXPECT_EQ(w.admit(q(3, 0)), admission::accepted);  // fell below low
    EXPECT_FALSE(w.shedding());
    EXPECT_EQ(w.admit(q(7, 0)), admission::accepted);  // rising again through the band
    EXPECT_EQ(w.admit(q(2, 0, true)), admission::closed);
}

TEST(Admission, AllOfFirstRefusalWinsAndRefunds) {
    millrace::manual_clock clk;
    bucket tb(1.0, 3.0, clk);
    millrace::all_of policy{millrace::rate_limited<bucket>(tb), millrace::reject_when_full{}};
    EXPECT_EQ(policy.admit(q(0)), admission::accepted);
    EXPECT_EQ(tb.available(), 2.0);
    // The rate limit took a token, then the depth check refused: the token is refunded.
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(policy.admit(q(10)), admission::rejected_full);
    EXPECT_EQ(tb.available(), 2.0);
    EXPECT_EQ(policy.admit(q(0, 10, true)), admission::closed);
    EXPECT_EQ(tb.available(), 2.0);
    policy.cancel(q(0));  // undo the accepted one
    EXPECT_EQ(tb.available(), 3.0);

    // Order matters: a depth check first never touches the bucket.
    millrace::all_of wait_first{millrace::block_when_full{}, millrace::rate_limited<bucket>(tb)};
    EXPECT_EQ(wait_first.admit(q(10)), admission::wait);
    EXPECT_EQ(tb.available(), 3.0);
    // wait after a token was taken also refunds.
    millrace::all_of wait_last{millrace::rate_limited<bucket>(tb), millrace::watermark(5, 2),
                               millrace::block_when_full{}};
    EXPECT_EQ(wait_last.admit(q(4, 4)), admission::wait);
    EXPECT_EQ(tb.available(), 3.0);
    EXPECT_EQ(wait_last.admit(q(6, 10)), admission::rejected_full);
    EXPECT_EQ(tb.available(), 3.0);
    EXPECT_EQ(wait_last.admit(q(1, 10)), admission::accepted);
    EXPECT_EQ(tb.available(), 2.0);
    EXPECT_EQ(wait_last.admit(q(0, 10, false, 3)), admission::rejected_rate);  // cost 3 > 2 available
    EXPECT_EQ(tb.available(), 2.0);

    // Two rate limits: the second refuses, the first's tokens come back.
    bucket small(1.0, 1.0, clk);
    millrace::all_of two{millrace::rate_limited<bucket>(tb), millrace::rate_limited<bucket>(small)};
    EXPECT_EQ(two.admit(q(0)), admission::accepted);
    EXPECT_EQ(two.admit(q(0)), admission::rejected_rate);
    EXPECT_EQ(tb.available(), 1.0);
    EXPECT_EQ(small.available(), 0.0);
}

// A user-written cancellable policy whose cancel() is not noexcept: all_of must still call it
// (skipping it would leak the slot it took).
struct counting_slots {
    int* held;
    admission admit(const queue_state&) {
        ++*held;
        return admission::accepted;
    }
    void cancel(const queue_state&) { --*held; }  // not noexcept
};

TEST(Admission, AllOfCancelsAUserPolicyWithoutNoexcept) {
    static_assert(millrace::cancellable_admission_policy<counting_slots>);
    int held = 0;
    millrace::all_of policy{counting_slots{&held}, millrace::reject_when_full{}};
    const queue_state empty{};
    static_assert(!noexcept(policy.admit(empty)), "a throwing user policy makes all_of::admit throwing");
    EXPECT_EQ(policy.admit(q(10)), admission::rejected_full);
    EXPECT_EQ(held, 0);  // the later refusal gave the slot back
    EXPECT_EQ(policy.admit(q(0)), admission::accepted);
    EXPECT_EQ(held, 1);
    policy.cancel(q(0));
    EXPECT_EQ(held, 0);
    millrace::all_of nothrow{millrace::reject_when_full{}, millrace::watermark(4, 2)};
    static_assert(noexcept(nothrow.admit(empty)));
    static_assert(noexcept(nothrow.cancel(empty)));
}

// low == 0 would shed forever (depth < 0 never holds): refused. low == high is allowed and
// means no hysteresis band.
TEST(Admission, WatermarkLowZeroRefusedLowEqualHighHasNoBand) {
    EXPECT_THROW(millrace::watermark(5, 0), std::invalid_argument);
    millrace::watermark w(3, 3);
    EXPECT_EQ(w.admit(q(2, 0)), admission::accepted);
    EXPECT_EQ(w.admit(q(3, 0)), admission::rejected_full);  // depth >= high
    EXPECT_EQ(w.admit(q(2, 0)), admission::accepted);       // depth < low
    millrace::watermark one(1, 1);
    EXPECT_EQ(one.admit(q(1, 0)), admission::rejected_full);
    EXPECT_EQ(one.admit(q(0, 0)), admission::accepted);  // an empty queue always releases
}

static_assert(millrace::admission_policy<millrace::rate_limited<bucket>>);
static_assert(millrace::cancellable_admission_policy<millrace::rate_limited<bucket>>);
static_assert(!millrace::cancellable_admission_policy<millrace::reject_when_full>);

}  // namespace
