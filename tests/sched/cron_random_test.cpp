// Randomized comparison of millrace::cron_expression with the independent brute-force reference
// (tests/sched/cron_reference.hpp): random valid expressions, random start times over the whole
// range of system_clock, next_after against minute stepping over a bounded horizon, plus the
// to_string round trip of each expression.
#include "millrace/sched/cron.hpp"

#include <cctype>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "sched/cron_reference.hpp"
#include "support/stress.hpp"

namespace {

using millrace::cron_expression;
using tp = std::chrono::system_clock::time_point;

class generator {
public:
    explicit generator(std::uint64_t seed) : rng_(seed) {}

    std::uint64_t below(std::uint64_t n) { return rng_() % n; }
    bool chance(unsigned percent) { return below(100) < percent; }

    std::string expression() {
        if (chance(3)) {
            static const char* const shorthands[] = {"@yearly", "@annually", "@monthly", "@weekly",
                                                     "@daily",  "@midnight", "@hourly",  "@Daily"};
            return shorthands[below(8)];
        }
        static const char* const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                             "jul", "aug", "sep", "oct", "nov", "dec"};
        static const char* const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
        std::string s = field(0, 59, nullptr, 0, 30);
        s += sep() + field(0, 23, nullptr, 0, 30);
        s += sep() + field(1, 31, nullptr, 0, 45);
        s += sep() + field(1, 12, months, 1, 45);
        s += sep() + field(0, 7, days, 0, 45);
        return s;
    }

    tp start() {
        using namespace std::chrono;
        const auto k = below(100);
        std::int64_t ns = 0;
        if (k < 3) {  // near the ends of the representable range
            const auto edge = k == 0 ? tp::min() : tp::max();
            const auto back = static_cast<std::int64_t>(below(3LL * 366 * 86400)) * 1'000'000'000LL;
            ns = k == 0 ? edge.time_since_epoch().count() + back : edge.time_since_epoch().count() - back;
        } else {  // 1900 .. 2250
            const std::int64_t lo = -2208988800LL;
            const std::int64_t hi = 8836128000LL;
            ns = (lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo)))) *
                 1'000'000'000LL;
            if (chance(30)) ns += static_cast<std::int64_t>(below(60'000'000'000ULL));  // off the minute
            if (chance(20)) ns -= ns % (60'000'000'000LL * 1440);  // near midnight, month starts
        }
        return tp(tp::duration(ns));
    }

private:
    std::string sep() { return chance(90) ? " " : (chance(50) ? "\t" : "   "); }

    std::string value(unsigned lo, unsigned hi, const char* const* names, unsigned base, unsigned v) {
        if (names != nullptr && v >= base && v - base < (hi == 7 ? 7u : 12u) && chance(30)) {
            std::string n = names[v - base];
            if (chance(30)) n[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(n[0])));
            if (chance(10))
                for (auto& c : n)
                    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            return n;
        }
        (void)lo;
        return std::to_string(v);
    }

    unsigned pick(unsigned lo, unsigned hi) {
        // Bias the day of month towards month ends and 29 February.
        if (lo == 1 && hi == 31 && chance(30)) return 28 + static_cast<unsigned>(below(4));
        if (lo == 1 && hi == 12 && chance(20)) return 2;
        return lo + static_cast<unsigned>(below(hi - lo + 1));
    }

    std::string field(unsigned lo, unsigned hi, const char* const* names, unsigned base,
                      unsigned star_percent) {
        if (chance(star_percent)) return "*";
        std::string out;
        const auto items = 1 + (chance(60) ? 0 : below(4));
        for (std::uint64_t i = 0; i < items; ++i) {
            if (i != 0) out += ',';
            const auto kind = below(10);
            const unsigned span = hi - lo + 1;
            if (kind == 0) {
                out += "*/" + std::to_string(1 + below(span));
            } else if (kind <= 4) {
                out += value(lo, hi, names, base, pick(lo, hi));
            } else {
                unsigned a = pick(lo, hi);
                unsigned b = pick(lo, hi);
                if (a > b) std::swap(a, b);
                out += value(lo, hi, names, base, a) + "-" + value(lo, hi, names, base, b);
                if (kind >= 8) out += "/" + std::to_string(1 + below(span));
            }
        }
        return out;
    }

    std::mt19937_64 rng_;
};

std::int64_t minute_of(tp t) {
    return std::chrono::floor<std::chrono::minutes>(t.time_since_epoch()).count();
}

TEST(CronRandom, NextAfterAgreesWithBruteForce) {
    const std::size_t n = millrace::test::scaled(100'000);
    const std::int64_t horizon = 9LL * 366 * 1440;  // 9 years: crosses the 2096 -> 2104 gap
    generator g(20261126);
    std::size_t beyond_horizon = 0;
    std::size_t never = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string text = g.expression();
        const tp start = g.start();
        SCOPED_TRACE("case " + std::to_string(i) + ": \"" + text + "\" after " +
                     std::to_string(start.time_since_epoch().count()) + " ns");
        const auto ref = millrace::test::ref_parse(text);
        ASSERT_TRUE(ref.has_value());
        const auto e = cron_expression::parse(text);
        const auto got = e.next_after(start);
        const auto want = millrace::test::ref_next_after(*ref, start, horizon);
        if (want) {
            ASSERT_TRUE(got.has_value()) << "expected minute " << *want;
            ASSERT_EQ(minute_of(*got), *want);
            ASSERT_EQ(got->time_since_epoch() % std::chrono::minutes(1), tp::duration::zero());
        } else if (got) {
            // Past the horizon: it must still be later, and a match.
            ++beyond_horizon;
            ASSERT_GT(minute_of(*got), minute_of(start) + horizon);
            ASSERT_TRUE(millrace::test::ref_matches(*ref, minute_of(*got)));
        } else {
            ++never;
        }
        // The canonical text parses back to the same schedule, and the text is a fixed point.
        const std::string canon = e.to_string();
        const auto back = cron_expression::parse(canon);
        ASSERT_EQ(back, e) << canon;
        ASSERT_EQ(back.to_string(), canon);
        ASSERT_EQ(back.next_after(start), got) << canon;
    }
    RecordProperty("beyond_horizon", static_cast<int>(beyond_horizon));
    RecordProperty("never_or_out_of_range", static_cast<int>(never));
}

// Successive next_after calls walk exactly the matches the reference finds, one by one.
TEST(CronRandom, SuccessiveMatchesAreConsecutive) {
    generator g(7);
    const std::size_t n = millrace::test::scaled(2'000, 200);
    for (std::size_t i = 0; i < n; ++i) {
        const std::string text = g.expression();
        const auto ref = millrace::test::ref_parse(text);
        ASSERT_TRUE(ref.has_value());
        const auto e = cron_expression::parse(text);
        tp t = g.start();
        for (int k = 0; k < 20; ++k) {
            const auto got = e.next_after(t);
            const auto want = millrace::test::ref_next_after(*ref, t, 2LL * 366 * 1440);
            if (!want) break;
            ASSERT_TRUE(got.has_value()) << text;
            ASSERT_EQ(minute_of(*got), *want) << text;
            t = *got;
        }
    }
}

// Sparse AND-rule expressions (29 February, 31st, 30th AND a weekday, in few months) whose gaps
// reach decades: each result is checked to be the FIRST match, by scanning every day up to it,
// and each nullopt by scanning to the end of the clock's range or a whole 400-year cycle.
TEST(CronRandom, SparseExpressionsOverDecades) {
    std::mt19937_64 rng(99);
    const char* const doms[] = {"29", "30", "31", "30,31", "29-31", "28/1", "*/28", "*/30", "*/31,29"};
    const char* const months[] = {"2", "2,4", "4,6,9,11", "2,11", "*/5", "1-2", "*"};
    const char* const dows[] = {"*/7", "*/7,3", "1", "5", "*/4", "*/6,2", "*/3"};
    const std::size_t n = millrace::test::scaled(300, 100);
    std::size_t nevers = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::string text =
            std::string("0 12 ") + doms[rng() % 9] + " " + months[rng() % 7] + " " + dows[rng() % 7];
        const auto ref = millrace::test::ref_parse(text);
        if (!ref) {  // "28/1" is rejected by both, as designed
            EXPECT_THROW((void)cron_expression::parse(text), std::invalid_argument) << text;
            continue;
        }
        const auto e = cron_expression::parse(text);
        const std::int64_t year_s = 31'556'952;  // mean Gregorian year
        const tp start(std::chrono::seconds(static_cast<std::int64_t>(rng() % (530ULL * year_s)) -
                                            270LL * year_s));  // 1700 .. 2230
        const auto got = e.next_after(start);
        SCOPED_TRACE(text + " after " + std::to_string(start.time_since_epoch().count()));
        if (got) {
            const auto want = millrace::test::ref_next_after(*ref, start, minute_of(*got) - minute_of(start));
            ASSERT_TRUE(want.has_value());
            ASSERT_EQ(*want, minute_of(*got));
        } else {
            ++nevers;
            const auto to_end = millrace::test::ref_next_after(*ref, start, 401LL * 366 * 1440);
            ASSERT_FALSE(to_end.has_value()) << "matches at minute " << *to_end;
        }
    }
    RecordProperty("nevers", static_cast<int>(nevers));
}

}  // namespace
