// Functional tests of millrace::cron_expression: a table of expressions with start and expected
// next times, parse errors, to_string round trips, equality, the never-matching decision and the
// whole range of system_clock. The randomized comparison with the brute-force reference is in
// cron_random_test.cpp.
#include "millrace/sched/cron.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sched/cron_reference.hpp"

namespace {

using millrace::cron_expression;
using tp = std::chrono::system_clock::time_point;

// "YYYY-MM-DD HH:MM[:SS]" in UTC.
tp at(const std::string& s) {
    using namespace std::chrono;
    const int y = std::stoi(s.substr(0, 4));
    const unsigned mo = static_cast<unsigned>(std::stoi(s.substr(5, 2)));
    const unsigned d = static_cast<unsigned>(std::stoi(s.substr(8, 2)));
    const int h = std::stoi(s.substr(11, 2));
    const int mi = std::stoi(s.substr(14, 2));
    const int sec = s.size() >= 19 ? std::stoi(s.substr(17, 2)) : 0;
    const year_month_day ymd{year{y}, month{mo}, day{d}};
    EXPECT_TRUE(ymd.ok()) << s;
    return sys_days(ymd) + hours(h) + minutes(mi) + seconds(sec);
}

std::string show(std::optional<tp> t) {
    if (!t) return "never";
    using namespace std::chrono;
    const auto m = floor<minutes>(t->time_since_epoch()).count();
    const auto day = sys_days(floor<days>(minutes(m)));
    const year_month_day ymd(day);
    const auto in_day = m - floor<days>(minutes(m)).count() * 1440;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(in_day / 60), static_cast<int>(in_day % 60));
    std::string out = buf;
    if (t->time_since_epoch() % minutes(1) != tp::duration::zero()) out += " (not on a minute)";
    return out;
}

struct table_case {
    const char* expr;
    const char* start;     // "YYYY-MM-DD HH:MM[:SS]"
    const char* expected;  // "YYYY-MM-DD HH:MM" or "never"
};

// 2024-01-01 was a Monday; 2024 and 2000 are leap years, 2100 is not.
const table_case table[] = {
    // * and plain values
    {"* * * * *", "2024-01-01 00:00", "2024-01-01 00:01"},
    {"* * * * *", "2024-01-01 00:00:30", "2024-01-01 00:01"},  // strictly after, whole minutes
    {"0 * * * *", "2024-01-01 00:00", "2024-01-01 01:00"},
    {"30 2 * * *", "2024-01-01 02:30", "2024-01-02 02:30"},
    {"15 14 1 * *", "2024-01-01 14:14", "2024-01-01 14:15"},
    {"0 0 * * *", "2024-12-31 23:59:59", "2025-01-01 00:00"},
    // steps, ranges, lists
    {"*/15 * * * *", "2024-01-01 10:07", "2024-01-01 10:15"},
    {"*/15 * * * *", "2024-01-01 10:45", "2024-01-01 11:00"},
    {"*/7 * * * *", "2024-01-01 10:56", "2024-01-01 11:00"},
    {"10-50/20 * * * *", "2024-01-01 10:00", "2024-01-01 10:10"},
    {"10-50/20 * * * *", "2024-01-01 10:30", "2024-01-01 10:50"},
    {"10-50/20 * * * *", "2024-01-01 10:50", "2024-01-01 11:10"},
    {"5,10,15 * * * *", "2024-01-01 10:12", "2024-01-01 10:15"},
    {"0 9-17 * * *", "2024-01-01 17:30", "2024-01-02 09:00"},
    {"0 */6 * * *", "2024-01-01 19:00", "2024-01-02 00:00"},
    {"0,30 8-10,14 * * *", "2024-01-01 10:31", "2024-01-01 14:00"},
    {"0 0 1 */3 *", "2024-02-15 00:00", "2024-04-01 00:00"},
    {"0 0 1 jan-mar/2 *", "2024-01-01 00:00", "2024-03-01 00:00"},
    {"0 0 1 JUL *", "2024-01-01 00:00", "2024-07-01 00:00"},
    {"0 0 1 Dec *", "2024-12-01 00:00", "2025-12-01 00:00"},
    {"0\t0  *   * *", "2024-01-01 00:00", "2024-01-02 00:00"},  // tabs and runs of blanks
    {"  0 0 * * *  ", "2024-01-01 00:00", "2024-01-02 00:00"},
    // shorthands
    {"@yearly", "2024-06-15 12:00", "2025-01-01 00:00"},
    {"@annually", "2024-06-15 12:00", "2025-01-01 00:00"},
    {"@monthly", "2024-01-31 12:00", "2024-02-01 00:00"},
    {"@weekly", "2024-01-01 00:00", "2024-01-07 00:00"},
    {"@daily", "2024-02-28 23:59", "2024-02-29 00:00"},
    {"@midnight", "2023-02-28 12:00", "2023-03-01 00:00"},
    {"@hourly", "2024-01-01 23:59", "2024-01-02 00:00"},
    {"@DAILY", "2024-01-01 00:00", "2024-01-02 00:00"},
    // year rollover
    {"59 23 31 12 *", "2024-12-31 23:59", "2025-12-31 23:59"},
    {"0 0 1 1 *", "2024-12-31 23:59", "2025-01-01 00:00"},
    {"0 0 1 * *", "2024-12-15 00:00", "2025-01-01 00:00"},
    {"0 0 31 12 *", "2024-12-31 00:00", "2025-12-31 00:00"},
    // month ends
    {"0 0 31 * *", "2024-04-01 00:00", "2024-05-31 00:00"},
    {"0 0 31 * *", "2024-01-31 00:00", "2024-03-31 00:00"},
    {"0 0 30 * *", "2024-01-31 00:00", "2024-03-30 00:00"},
    {"0 0 31 4-7 *", "2024-01-01 00:00", "2024-05-31 00:00"},
    {"0 0 29 * *", "2100-02-01 00:00", "2100-03-29 00:00"},
    {"0 0 1 3 *", "2100-02-28 00:00", "2100-03-01 00:00"},
    // 29 February: leap years, 2000 (leap), 2100 (not leap: an 8-year gap)
    {"0 0 29 2 *", "2024-01-01 00:00", "2024-02-29 00:00"},
    {"0 0 29 2 *", "2024-02-29 00:00", "2028-02-29 00:00"},
    {"0 0 29 2 *", "2000-01-01 00:00", "2000-02-29 00:00"},
    {"0 0 29 2 *", "2096-03-01 00:00", "2104-02-29 00:00"},
    {"0 0 29 2 *", "2099-06-01 00:00", "2104-02-29 00:00"},
    {"0 0 28-29 2 *", "2100-02-28 00:00", "2101-02-28 00:00"},
    {"0 12 * 2 *", "2100-02-28 12:00", "2101-02-01 12:00"},
    {"0 0 29 2 */7", "2024-01-01 00:00", "2032-02-29 00:00"},  // Feb 29 AND Sunday
    {"0 0 29 2 */7", "2088-03-01 00:00", "2128-02-29 00:00"},  // ... 40 years later
    // day of week: numbers, names, 7 = Sunday, ranges
    {"0 0 * * 1", "2024-01-01 00:00", "2024-01-08 00:00"},
    {"0 0 * * mon", "2024-01-01 00:00", "2024-01-08 00:00"},
    {"0 0 * * 7", "2024-01-01 00:00", "2024-01-07 00:00"},
    {"0 0 * * 0", "2024-01-01 00:00", "2024-01-07 00:00"},
    {"0 0 * * SUN", "2024-01-01 00:00", "2024-01-07 00:00"},
    {"0 0 * * 5-7", "2024-01-01 00:00", "2024-01-05 00:00"},
    {"0 0 * * mon-fri", "2024-01-05 12:00", "2024-01-08 00:00"},
    {"0 0 * * 1-5/2", "2024-01-01 00:00", "2024-01-03 00:00"},
    {"0 0 * * 1,3,5", "2024-01-05 00:00", "2024-01-08 00:00"},
    {"0 0 * * sat,sun", "2024-01-01 00:00", "2024-01-06 00:00"},
    {"0 0 * * 6-7", "2024-01-07 00:00", "2024-01-13 00:00"},
    // the day rule: both restricted -> OR
    {"0 0 13 * 5", "2024-01-01 00:00", "2024-01-05 00:00"},  // a Friday first
    {"0 0 13 * 5", "2024-01-12 00:00", "2024-01-13 00:00"},  // then the 13th (a Saturday)
    {"0 0 1 * 1", "2024-01-01 00:00", "2024-01-08 00:00"},
    {"0 0 1 * 1", "2024-08-27 00:00", "2024-09-01 00:00"},  // the 1st (a Sunday) first
    {"0 0 1,15 * 3", "2024-01-01 00:00", "2024-01-03 00:00"},
    {"0 0 31 2 mon", "2024-01-01 00:00", "2024-02-05 00:00"},  // OR: never the 31st, but Mondays
    {"0 0 1-31 * 1", "2024-01-01 00:00", "2024-01-02 00:00"},  // a full list is every day
    // ... and its '*' exception: a day field beginning with '*' -> AND
    {"0 0 */2 * 1", "2024-01-01 00:00", "2024-01-15 00:00"},   // odd day AND Monday
    {"0 0 1 * */2", "2024-01-01 00:00", "2024-02-01 00:00"},   // 1st AND Sun/Tue/Thu/Sat
    {"0 0 */31 * 1", "2024-01-01 00:00", "2024-04-01 00:00"},  // 1st AND Monday
    {"0 0 *,13 * 5", "2024-01-01 00:00", "2024-01-05 00:00"},  // '*' first in a list counts
    {"0 0 13,* * 5", "2024-01-05 00:00", "2024-01-06 00:00"},  // '*' not first: OR, every day
    // never matching
    {"0 0 30 2 *", "2024-01-01 00:00", "never"},
    {"0 0 31 2 *", "2024-01-01 00:00", "never"},
    {"0 0 30 feb *", "2024-01-01 00:00", "never"},
    {"0 0 31 4,6,9,11 *", "2024-01-01 00:00", "never"},
    {"0 0 30,31 2 */2", "2024-01-01 00:00", "never"},
    // the ends of system_clock (nanoseconds: 1677-09-21 .. 2262-04-11 23:47:16)
    {"0 0 1 1 *", "1969-12-31 23:59", "1970-01-01 00:00"},
    {"0 0 1 1 *", "1900-06-01 00:00", "1901-01-01 00:00"},
    {"0 0 1 1 *", "2261-06-01 00:00", "2262-01-01 00:00"},
    {"0 0 1 1 *", "2262-01-01 00:00", "never"},
    {"0 0 11 4 *", "2262-01-01 00:00", "2262-04-11 00:00"},
    {"47 23 11 4 *", "2262-04-11 00:00", "2262-04-11 23:47"},
    {"48 23 11 4 *", "2262-04-11 00:00", "never"},
    {"0 0 * * *", "2262-04-11 00:00", "never"},
};

TEST(CronTable, NextAfterMatchesTheTable) {
    static_assert(sizeof(table) / sizeof(table[0]) >= 60);
    for (const auto& c : table) {
        SCOPED_TRACE(std::string("expr \"") + c.expr + "\" after " + c.start);
        const auto e = cron_expression::parse(c.expr);
        const auto got = e.next_after(at(c.start));
        EXPECT_EQ(show(got), c.expected);
        // The canonical text schedules the same.
        const auto again = cron_expression::parse(e.to_string());
        EXPECT_EQ(again, e) << e.to_string();
        EXPECT_EQ(show(again.next_after(at(c.start))), c.expected) << e.to_string();
    }
}

// The table's expectations, checked against the independent brute-force reference too, so a
// typo in the table cannot pass unnoticed.
TEST(CronTable, TableAgreesWithTheReference) {
    for (const auto& c : table) {
        SCOPED_TRACE(std::string("expr \"") + c.expr + "\" after " + c.start);
        const auto r = millrace::test::ref_parse(c.expr);
        ASSERT_TRUE(r.has_value());
        const auto m = millrace::test::ref_next_after(*r, at(c.start), 45LL * 366 * 1440);
        EXPECT_EQ(show(m ? std::optional<tp>(millrace::test::ref_time(*m)) : std::nullopt), c.expected);
    }
}

TEST(CronRange, ExtremeStartTimesNeverOverflow) {
    const auto every = cron_expression::parse("* * * * *");
    EXPECT_FALSE(every.next_after(tp::max()).has_value());
    const auto from_min = every.next_after(tp::min());
    ASSERT_TRUE(from_min.has_value());
    EXPECT_GT(*from_min, tp::min());
    EXPECT_LE(*from_min - tp::min(), std::chrono::minutes(1));
    const auto noon = cron_expression::parse("0 12 * * *").next_after(tp::min());
    EXPECT_EQ(show(noon), "1677-09-21 12:00");
    // The last representable minute.
    const auto last = std::chrono::floor<std::chrono::minutes>(tp::max());
    EXPECT_EQ(every.next_after(last - std::chrono::minutes(1)), last);
    EXPECT_FALSE(every.next_after(last).has_value());
    // Rare and never-matching expressions near the end stay bounded and in range.
    for (const char* s : {"0 0 29 2 */7", "0 0 30 2 *", "59 23 31 12 *", "0 0 29 2 *"}) {
        const auto e = cron_expression::parse(s);
        EXPECT_FALSE(e.next_after(tp::max()).has_value()) << s;
        EXPECT_FALSE(e.next_after(at("2262-01-01 00:00")).has_value()) << s;
    }
}

TEST(CronRange, ResultsAreWholeMinutesAndMatch) {
    const auto e = cron_expression::parse("*/5 * * * *");
    tp t = at("2024-01-01 00:00") + std::chrono::nanoseconds(123);
    for (int i = 0; i < 100; ++i) {
        const auto n = e.next_after(t);
        ASSERT_TRUE(n.has_value());
        ASSERT_GT(*n, t);
        ASSERT_EQ(n->time_since_epoch() % std::chrono::minutes(5), tp::duration::zero());
        t = *n;
    }
    EXPECT_EQ(show(t), "2024-01-01 08:20");
}

// ---------------------------------------------------------------------------------------------
// Errors: std::invalid_argument naming the field, the offending text and why.
struct error_case {
    const char* expr;
    std::vector<const char*> needles;
};

TEST(CronErrors, MessagesNameTheFieldTheTextAndWhy) {
    const std::vector<error_case> cases = {
        {"", {"wrong field count", "got 0"}},
        {"* * * *", {"wrong field count", "got 4"}},
        {"0 * * * * *", {"wrong field count", "got 6", "seconds"}},
        {"60 * * * *", {"minute field", "\"60\"", "out of range 0-59"}},
        {"* 24 * * *", {"hour field", "\"24\"", "out of range 0-23"}},
        {"* * 0 * *", {"day-of-month field", "\"0\"", "out of range 1-31"}},
        {"* * 32 * *", {"day-of-month field", "out of range 1-31"}},
        {"* * * 13 *", {"month field", "\"13\"", "out of range 1-12"}},
        {"* * * * 8", {"day-of-week field", "\"8\"", "out of range 0-7"}},
        {"99999999999999999999 * * * *", {"minute field", "out of range"}},
        {"1,,2 * * * *", {"minute field", "\"1,,2\"", "empty list item"}},
        {"1, * * * *", {"minute field", "empty list item"}},
        {",1 * * * *", {"minute field", "empty list item"}},
        {"*/0 * * * *", {"minute field", "\"*/0\"", "step of zero"}},
        {"1-5/0 * * * *", {"minute field", "step of zero"}},
        {"*/61 * * * *", {"minute field", "step 61 is larger"}},
        {"* * * */13 *", {"month field", "step 13 is larger"}},
        {"*/ * * * *", {"minute field", "missing step"}},
        {"5/10 * * * *", {"minute field", "\"5/10\"", "step needs a range"}},
        {"30-5 * * * *", {"minute field", "\"30-5\"", "reversed range"}},
        {"* * * * fri-mon", {"day-of-week field", "reversed range"}},
        {"* * * * sat-sun", {"day-of-week field", "reversed range"}},  // sun is 0, as in cronie
        {"* * * foo *", {"month field", "unknown name \"foo\""}},
        {"* * * * mo", {"day-of-week field", "unknown name \"mo\""}},
        {"* * * * monday", {"day-of-week field", "unknown name \"monday\""}},
        {"* * * jan *", {}},  // valid: the control
        {"* mon * * *", {"hour field", "names are not allowed"}},
        {"* * * * jan", {"day-of-week field", "unknown name \"jan\""}},
        {"0 0 L * *", {"day-of-month field", "\"L\"", "extension"}},
        {"0 0 15W * *", {"day-of-month field", "\"15W\"", "extension"}},
        {"0 0 LW * *", {"day-of-month field", "extension"}},
        {"0 0 * * 5L", {"day-of-week field", "\"5L\"", "extension"}},
        {"0 0 * * 5#2", {"day-of-week field", "\"5#2\"", "extension"}},
        {"0 0 ? * 1", {"day-of-month field", "\"?\"", "extension"}},
        {"0 0 * * ?", {"day-of-week field", "extension"}},
        {"-5 * * * *", {"minute field", "missing value before '-'"}},
        {"5- * * * *", {"minute field", "missing value"}},
        {"1-2-3 * * * *", {"minute field", "unexpected character '-'"}},
        {"*/2/3 * * * *", {"minute field", "unexpected character '/'"}},
        {"** * * * *", {"minute field", "unexpected character '*'"}},
        {"*-5 * * * *", {"minute field", "unexpected character '-'"}},
        {"1;2 * * * *", {"minute field", "unexpected character ';'"}},
        {"1\n * * * *", {"minute field", "\\x0a"}},
        {"@reboot", {"shorthand", "@reboot"}},
        {"@fortnightly", {"shorthand", "\"@fortnightly\"", "unknown shorthand"}},
        {"@daily *", {"shorthand", "unknown shorthand"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string("expr \"") + c.expr + "\"");
        if (c.needles.empty()) {
            EXPECT_NO_THROW((void)cron_expression::parse(c.expr));
            continue;
        }
        try {
            (void)cron_expression::parse(c.expr);
            ADD_FAILURE() << "no exception";
        } catch (const std::invalid_argument& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find("cron expression \""), std::string::npos) << msg;
            for (const char* n : c.needles)
                EXPECT_NE(msg.find(n), std::string::npos) << msg << "\n  missing: " << n;
        }
        // The reference parser rejects exactly the same texts.
        EXPECT_FALSE(millrace::test::ref_parse(c.expr).has_value());
    }
}

// ---------------------------------------------------------------------------------------------
// to_string and operator==

TEST(CronText, CanonicalForms) {
    const std::vector<std::pair<const char*, const char*>> cases = {
        {"* * * * *", "* * * * *"},
        {"@daily", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
        {"@weekly", "0 0 * * 0"},
        {"@monthly", "0 0 1 * *"},
        {"@yearly", "0 0 1 1 *"},
        {"*/15 * * * *", "*/15 * * * *"},
        {"0-59/15 * * * *", "*/15 * * * *"},
        {"10-50/20 * * * *", "10-50/20 * * * *"},
        {"5,1,3,2 * * * *", "1-3,5 * * * *"},
        {"0 9-17 * * mon-fri", "0 9-17 * * 1-5"},
        {"0 0 * * 7", "0 0 * * 0"},
        {"0 0 * * 0,7", "0 0 * * 0"},
        {"0 0 * JAN,feb,Mar *", "0 0 * 1-3 *"},
        {"0 0 13 * 5", "0 0 13 * 5"},
        {"0 0 1-31 * 1", "0 0 * * *"},
        {"0 0 1 * 0-7", "0 0 * * *"},
        {"0 0 */2 * 1", "0 0 */2 * 1"},
        {"0 0 1-31/2 * 1", "0 0 1-31/2 * 1"},
        {"0 0 *,13 * 5", "0 0 * * 5"},
        {"0 0 */31 * 1", "0 0 */31 * 1"},
        {"0 0 */31,15 * 1", "0 0 */31,15 * 1"},
        {"0 0 1,15 * */7", "0 0 1,15 * */7"},
    };
    for (const auto& [in, out] : cases) {
        const auto e = cron_expression::parse(in);
        EXPECT_EQ(e.to_string(), out) << in;
        EXPECT_EQ(cron_expression::parse(e.to_string()), e) << in;
    }
}

TEST(CronText, EqualityIsTheNormalizedSchedule) {
    auto p = [](const char* s) { return cron_expression::parse(s); };
    EXPECT_EQ(p("@daily"), p("0 0 * * *"));
    EXPECT_EQ(p("@midnight"), p("@daily"));
    EXPECT_EQ(p("@annually"), p("0 0 1 jan *"));
    EXPECT_EQ(p("0 0 * * 7"), p("0 0 * * sun"));
    EXPECT_EQ(p("0 0 1-31 * 1"), p("0 0 * * *"));  // OR with a full field: every day
    EXPECT_EQ(p("*/1 * * * *"), p("* * * * *"));
    EXPECT_NE(p("0 0 1 * 1"), p("0 0 */31 * 1"));   // OR vs AND
    EXPECT_NE(p("0 0 13 * 5"), p("0 0 13 * */7"));  // different sets and rules
    EXPECT_NE(p("0 0 * * 1"), p("0 0 * * 2"));
    EXPECT_NE(p("1 0 * * *"), p("0 0 * * *"));
    EXPECT_NE(p("0 1 * * *"), p("0 0 * * *"));
    EXPECT_NE(p("0 0 * 2 *"), p("0 0 * 3 *"));
    EXPECT_NE(p("0 0 2 * *"), p("0 0 3 * *"));
}

// ---------------------------------------------------------------------------------------------
// The never-matching decision, checked against a plain enumeration of one 400-year cycle.

TEST(CronNever, EveryDateFallsOnEveryWeekdayIn400Years) {
    // The fact the parse-time decision rests on (see the header comment).
    using namespace std::chrono;
    bool seen[13][32][7] = {};
    for (sys_days d = sys_days(year{2000} / 1 / 1); d < sys_days(year{2400} / 1 / 1); d += days(1)) {
        const year_month_day ymd(d);
        seen[static_cast<unsigned>(ymd.month())][static_cast<unsigned>(ymd.day())][weekday(d).c_encoding()] =
            true;
    }
    for (unsigned m = 1; m <= 12; ++m)
        for (unsigned d = 1; d <= 31; ++d) {
            if (!year_month_day(year{2000} / month{m} / day{d}).ok()) continue;  // 2000 is leap
            for (unsigned w = 0; w < 7; ++w)
                EXPECT_TRUE(seen[m][d][w]) << m << "/" << d << " " << w;
        }
}

TEST(CronNever, DecisionAgreesWithA400YearDayScan) {
    using namespace std::chrono;
    const std::vector<const char*> exprs = {
        "0 0 30 2 *",      "0 0 31 2 *",     "0 0 29 2 *",      "0 0 31 4,6,9,11 *", "0 0 31 4,6,9,11,12 *",
        "0 0 30,31 2 */2", "0 0 29 2 */7",   "0 0 30 2 1",      "0 0 31 2 */3",      "0 0 */30 2 */7",
        "0 0 31 */2 *",    "0 0 31 2-6/2 *", "0 0 30-31 2 sat", "0 0 29-31 2 */5",
    };
    for (const char* s : exprs) {
        const auto e = cron_expression::parse(s);
        const auto r = millrace::test::ref_parse(s);
        ASSERT_TRUE(r.has_value()) << s;
        bool any = false;
        for (sys_days d = sys_days(year{2000} / 1 / 1); !any && d < sys_days(year{2400} / 1 / 1);
             d += days(1))
            any = millrace::test::ref_day_matches(*r, d);
        EXPECT_EQ(e.next_after(at("2000-01-01 00:00")).has_value(), any) << s;
    }
}

// An expression is an immutable value: many threads may call next_after on one.
TEST(CronThreads, ConstCallsFromManyThreads) {
    const auto e = cron_expression::parse("*/7 9-17 1,15 * mon-fri");
    const auto expected = e.next_after(at("2024-01-01 00:00"));
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (std::size_t i = 0; i < ok.size(); ++i)
        threads.emplace_back([&, i] {
            for (int k = 0; k < 2000; ++k)
                ok[i] += e.next_after(at("2024-01-01 00:00")) == expected;
        });
    for (auto& t : threads)
        t.join();
    for (int v : ok)
        EXPECT_EQ(v, 2000);
}

}  // namespace
