// millrace/sched/cron.hpp: 5-field cron expressions with Vixie-cron (cronie) semantics, in UTC.
//
// What it guarantees
//   - `cron_expression::parse(text)` accepts exactly the classic 5-field syntax
//         minute hour day-of-month month day-of-week
//     with `*`, lists `a,b`, ranges `a-b`, steps `*/n` and `a-b/n`, month and weekday names
//     (`jan`..`dec`, `sun`..`sat`, any case), `7` as Sunday, and the shorthands `@yearly`,
//     `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` (any case).
//     Everything else throws `std::invalid_argument` whose message names the field, the offending
//     text and why: out of range, empty list item, step of zero or larger than the field, reversed
//     range, unknown name, wrong field count, and the extensions `L`, `W`, `#`, `?` and a seconds
//     or year field, which millrace does not support.
//   - Day rule (cronie's entry.c / cron.c): if the day-of-month field or the day-of-week field
//     begins with `*` (so `*`, `*/2`, `*/2,5` all count), a day matches when it satisfies BOTH
//     day fields; otherwise (both restricted) it matches when it satisfies EITHER.
//         `0 0 1 * 1`    the 1st of every month AND every Monday (OR: both restricted)
//         `0 0 */2 * 1`  odd days that are Mondays (AND: the day-of-month field begins with `*`)
//         `0 0 1-31 * 1` every day (OR with a day-of-month field that lists every day)
//   - `next_after(t)` returns the first minute that matches, strictly after `t`, in UTC
//     (`system_clock` counts UTC without leap seconds; the standard library used here has no
//     time-zone database, so a caller wanting local wall time converts the result itself, e.g.
//     with `std::chrono::zoned_time` where available, or with a fixed offset). It returns
//     `std::nullopt` when the expression can never match (`0 0 30 2 *`) and when the next match
//     lies beyond `system_clock::time_point::max()` (year 2262 with nanosecond ticks); it never
//     overflows, for any `t` from `time_point::min()` to `time_point::max()`. noexcept.
//   - `to_string()` gives a canonical form (numbers, ranges, `*`, `*/n`) that parses back to an
//     equal expression; `operator==` compares the normalized schedules (field sets and day rule),
//     so `@daily == "0 0 * * *"` and `"0 0 1-31 * 1" == "0 0 * * *"`.
//   - An expression is an immutable value: const calls are safe from any number of threads.
//
// Algorithm
//   Each field is a bitset (minute: 60 bits, hour: 24, day of month: 31, month: 12, weekday: 7,
//   with 7 folded onto 0 as cronie does). next_after walks the calendar by field arithmetic, never
//   minute by minute: take the first minute after t; if its month is not in the month set, jump to
//   the next month in the set (or the first of next year); build that month's day mask in O(1)
//   (the day-of-month bits cut to the month's length, combined by the day rule with the weekday set
//   rotated by the weekday of the 1st); jump to the first matching day at or after the current one,
//   else to the next month; then likewise to the next hour and minute with count-trailing-zeros.
//   Past the last month of a year, it jumps to the next year that can hold a match at all: parse
//   precomputes which of the 14 kinds of year (weekday of 1 January, leap or not) have a
//   matching day, and the weekday of 1 January advances by 1 or 2 per year, so a skipped year
//   costs a few instructions.
//   Each jump goes forward, resets the smaller fields, and each step is a few dozen instructions.
//   Civil-date conversions are Howard Hinnant's days_from_civil / civil_from_days
//   (http://howardhinnant.github.io/date_algorithms.html), valid on the proleptic Gregorian calendar.
//
// Why the search is bounded (the proof behind nullopt)
//   Whether a minute matches depends only on its (month, day of month, weekday, hour, minute).
//   The Gregorian calendar repeats exactly every 400 years: 400 years hold 97 leap years
//   (every 4th, except centuries not divisible by 400), so 400*365 + 97 = 146097 days =
//   7 * 20871 weeks. Shifting any date by 400 years therefore keeps its month, its day, its
//   weekday and whether its year is leap. Hence if an expression matches at any minute x, it
//   matches at x + k*400 years for every integer k, and one of those lies in any 400-year window
//   [s, s + 400 years). So a search that finds nothing within 400 years (+1 for the partial year
//   of the start) from its start proves the expression never matches: the loop below is bounded
//   by that, and also stops at the last representable year.
//   Which expressions never match is decided at parse time from the same fact: in the 400-year
//   cycle every existing date (month m, day d) falls on each of the 7 weekdays (even 29 February,
//   which occurs 97 times; tests/cron checks this by enumeration), and every month has at least
//   28 days, so holds every weekday. So with the OR rule some day always matches (the weekday set
//   is never empty), and with the AND rule an expression matches iff some month m of its month
//   set has a day d <= the longest length of m (29 for February) in its day-of-month set.
//   next_after returns nullopt at once for those, which keeps it O(1) for `0 0 30 2 *`.
//   Note the gaps a correct search must cross: 29 February comes every 4 years except across a
//   century that is not a multiple of 400: 2096 -> 2104 is an 8-year gap (2100 is not leap), and
//   "29 February that is a Sunday" (`0 0 29 2 */7`) recurs 2088 -> 2128, 40 years apart.
//
// Throws: parse throws std::invalid_argument (and std::bad_alloc for the message); to_string may
// throw std::bad_alloc; everything else is noexcept.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "millrace/core/detail/planted.hpp"

namespace millrace {

namespace detail {

// Howard Hinnant's civil calendar algorithms (public domain), proleptic Gregorian.
constexpr std::int64_t cron_days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);                       // [0, 399]
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;        // [0, 365]
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                  // [0, 146096]
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct cron_civil {
    std::int64_t year;
    unsigned month;  // 1..12
    unsigned day;    // 1..31
};

constexpr cron_civil cron_civil_from_days(std::int64_t z) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);                     // [0, 146096]
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;   // [0, 399]
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                 // [0, 365]
    const unsigned mp = (5 * doy + 2) / 153;                                      // [0, 11]
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;                              // [1, 31]
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;                                 // [1, 12]
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
    return {y, m, d};
}

constexpr std::int64_t cron_floor_div(std::int64_t a, std::int64_t b) noexcept {
    const std::int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// 0 = Sunday .. 6 = Saturday; 1970-01-01 (day 0) was a Thursday.
constexpr unsigned cron_weekday_from_days(std::int64_t z) noexcept {
    return static_cast<unsigned>(z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);
}

constexpr bool cron_is_leap(std::int64_t y) noexcept {
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

constexpr unsigned cron_days_in_month(std::int64_t y, unsigned m) noexcept {
    constexpr unsigned lengths[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && cron_is_leap(y) ? 29u : lengths[m];
}

// Bits 1..n set.
constexpr std::uint64_t cron_bits_1_to(unsigned n) noexcept {
    return ((std::uint64_t{1} << (n + 1)) - 1) & ~std::uint64_t{1};
}

struct cron_field_spec {
    const char* name;   // for messages: "minute", "day-of-week", ...
    unsigned low;       // smallest value accepted in the text
    unsigned high;      // largest value accepted in the text (7 for day-of-week)
    const char* const* names;  // 3-letter names, or nullptr; names[i] has value names_base + i
    unsigned names_base;
    unsigned names_count;
};

inline constexpr const char* cron_month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                   "jul", "aug", "sep", "oct", "nov", "dec"};
inline constexpr const char* cron_weekday_names[] = {"sun", "mon", "tue", "wed",
                                                     "thu", "fri", "sat"};

inline constexpr std::array<cron_field_spec, 5> cron_fields = {{
    {"minute", 0, 59, nullptr, 0, 0},
    {"hour", 0, 23, nullptr, 0, 0},
    {"day-of-month", 1, 31, nullptr, 0, 0},
    {"month", 1, 12, cron_month_names, 1, 12},
    {"day-of-week", 0, 7, cron_weekday_names, 0, 7},
}};

// Bits of `lo-hi/step` (the values lo, lo+step, ... <= hi).
constexpr std::uint64_t cron_step_bits(unsigned lo, unsigned hi, unsigned step) noexcept {
    std::uint64_t bits = 0;
    for (unsigned v = lo; v <= hi; v += step) bits |= std::uint64_t{1} << v;
    return bits;
}

inline char cron_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool cron_iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (cron_lower(a[i]) != cron_lower(b[i])) return false;
    return true;
}

inline bool cron_is_blank(char c) noexcept { return c == ' ' || c == '\t'; }
inline bool cron_is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
inline bool cron_is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Concatenation by appends (g++ 12 -O2 raises a false -Wrestrict on "literal" + std::string).
inline std::string cron_cat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (const std::string_view p : parts) out.append(p.data(), p.size());
    return out;
}

// A character as it appears in a message: printable ASCII as is, anything else as \xNN.
inline std::string cron_show_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) return std::string(1, c);
    constexpr char hex[] = "0123456789abcdef";
    const char esc[] = {'\\', 'x', hex[u >> 4], hex[u & 15]};
    return std::string(esc, 4);
}

inline std::string cron_show(std::string_view s) {
    std::string out;
    for (char c : s) out += cron_show_char(c);
    return out;
}

[[noreturn]] inline void cron_fail(std::string_view whole, std::string_view where,
                                   std::string_view text, const std::string& why) {
    throw std::invalid_argument(cron_cat({"cron expression \"", cron_show(whole), "\": ", where,
                                          " \"", cron_show(text), "\": ", why}));
}

// Parses one field's text into bits (bit v for value v, values as written: day-of-week 0..7).
class cron_field_parser {
public:
    cron_field_parser(std::string_view whole, std::string_view field, const cron_field_spec& spec)
        : whole_(whole), field_(field), spec_(spec) {}

    std::uint64_t parse() {
        std::uint64_t bits = 0;
        std::size_t start = 0;
        for (;;) {
            const std::size_t comma = field_.find(',', start);
            const std::size_t end = comma == std::string_view::npos ? field_.size() : comma;
            bits |= parse_item(field_.substr(start, end - start));
            if (comma == std::string_view::npos) break;
            start = comma + 1;
        }
        return bits;
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        cron_fail(whole_, cron_cat({spec_.name, " field"}), field_, why);
    }
    [[noreturn]] void fail_item(std::string_view item, const std::string& why) const {
        fail(cron_cat({"item \"", cron_show(item), "\": ", why}));
    }
    [[noreturn]] void fail_char(std::string_view item, char c) const {
        if (c == '#' || c == '?' || c == 'L' || c == 'l' || c == 'W' || c == 'w')
            fail_item(item, cron_cat({"'", cron_show_char(c),
                                      "' is a cron extension (L, W, #, ?) that millrace does not "
                                      "support"}));
        fail_item(item, cron_cat({"unexpected character '", cron_show_char(c), "'"}));
    }

    std::string range_text() const {
        return cron_cat({std::to_string(spec_.low), "-", std::to_string(spec_.high)});
    }

    // Digits, saturating so that a long run of digits reads as "too large", never overflows.
    static unsigned read_number(std::string_view s, std::size_t& pos) noexcept {
        unsigned v = 0;
        while (pos < s.size() && cron_is_digit(s[pos])) {
            v = v * 10 + static_cast<unsigned>(s[pos] - '0');
            if (v > 100000) v = 100000;
            ++pos;
        }
        return v;
    }

    unsigned read_value(std::string_view item, std::size_t& pos) const {
        if (pos >= item.size()) fail_item(item, "missing value");
        const char c = item[pos];
        if (cron_is_digit(c)) {
            const std::size_t begin = pos;
            const unsigned v = read_number(item, pos);
            if (v < spec_.low || v > spec_.high)
                fail_item(item, cron_cat({cron_show(item.substr(begin, pos - begin)),
                                          " is out of range ", range_text()}));
            return v;
        }
        if (cron_is_alpha(c)) {
            const std::size_t begin = pos;
            while (pos < item.size() && cron_is_alpha(item[pos])) ++pos;
            const std::string_view word = item.substr(begin, pos - begin);
            for (unsigned i = 0; i < spec_.names_count; ++i)
                if (cron_iequals(word, spec_.names[i])) return spec_.names_base + i;
            if (cron_iequals(word, "L") || cron_iequals(word, "W") || cron_iequals(word, "LW"))
                fail_item(item, cron_cat({"'", cron_show(word),
                                          "' is a cron extension (L, W, #, ?) that millrace does "
                                          "not support"}));
            if (spec_.names == nullptr)
                fail_item(item, cron_cat({"names are not allowed in the ", spec_.name,
                                          " field (\"", cron_show(word), "\")"}));
            fail_item(item, cron_cat({"unknown name \"", cron_show(word), "\" (expected ",
                                      spec_.names[0], "..", spec_.names[spec_.names_count - 1],
                                      ", any case)"}));
        }
        if (c == '-') fail_item(item, "missing value before '-'");
        if (c == '/') fail_item(item, "missing value before '/'");
        fail_char(item, c);
    }

    std::uint64_t parse_item(std::string_view item) const {
        if (item.empty()) fail("empty list item");
        std::size_t pos = 0;
        unsigned lo = 0;
        unsigned hi = 0;
        bool single = false;
        if (item[0] == '*') {
            lo = spec_.low;
            hi = spec_.high;
            pos = 1;
        } else {
            lo = read_value(item, pos);
            hi = lo;
            single = true;
            if (pos < item.size() && item[pos] == '-') {
                ++pos;
                hi = read_value(item, pos);
                single = false;
                if (lo > hi)
                    fail_item(item, cron_cat({"reversed range: ", std::to_string(lo),
                                              " is after ", std::to_string(hi)}));
            }
        }
        unsigned step = 1;
        if (pos < item.size() && item[pos] == '/') {
            if (single)
                fail_item(item, cron_cat({"a step needs a range or '*' before it (write ",
                                          std::to_string(lo), "-", std::to_string(spec_.high),
                                          "/n)"}));
            ++pos;
            if (pos >= item.size() || !cron_is_digit(item[pos]))
                fail_item(item, "missing step after '/'");
            step = read_number(item, pos);
            const unsigned span = spec_.high - spec_.low + 1;
            if (step == 0) fail_item(item, "step of zero");
            if (step > span)
                fail_item(item, cron_cat({"step ", std::to_string(step),
                                          " is larger than the field (", std::to_string(span),
                                          " values)"}));
        }
        if (pos != item.size()) fail_char(item, item[pos]);
        return cron_step_bits(lo, hi, step);
    }

    std::string_view whole_;
    std::string_view field_;
    const cron_field_spec& spec_;
};

}  // namespace detail

class cron_expression {
public:
    using clock = std::chrono::system_clock;
    using time_point = clock::time_point;

    // Parses a 5-field expression or a shorthand; leading and trailing blanks are ignored and
    // fields are separated by runs of spaces or tabs. Throws std::invalid_argument (see top).
    [[nodiscard]] static cron_expression parse(std::string_view text) {
        std::size_t b = 0;
        std::size_t e = text.size();
        while (b < e && detail::cron_is_blank(text[b])) ++b;
        while (e > b && detail::cron_is_blank(text[e - 1])) --e;
        const std::string_view body = text.substr(b, e - b);
        if (!body.empty() && body[0] == '@') return parse_shorthand(text, body);

        std::array<std::string_view, 5> fields{};
        std::size_t count = 0;
        std::size_t pos = 0;
        while (pos < body.size()) {
            std::size_t end = pos;
            while (end < body.size() && !detail::cron_is_blank(body[end])) ++end;
            if (count < fields.size()) fields[count] = body.substr(pos, end - pos);
            ++count;
            pos = end;
            while (pos < body.size() && detail::cron_is_blank(body[pos])) ++pos;
        }
        if (count != 5) {
            std::string why = "expected 5 fields (minute hour day-of-month month day-of-week), got " +
                              std::to_string(count);
            if (count == 6 || count == 7) why += " (a seconds or year field is not supported)";
            detail::cron_fail(text, "wrong field count in", body, why);
        }
        std::array<std::uint64_t, 5> bits{};
        for (std::size_t i = 0; i < 5; ++i)
            bits[i] = detail::cron_field_parser(text, fields[i], detail::cron_fields[i]).parse();
        // cronie records DOM_STAR / DOW_STAR when the field's first character is '*'.
        return cron_expression(bits, fields[2][0] == '*', fields[4][0] == '*');
    }

    // The first matching minute strictly after t, in UTC; nullopt if there is none that
    // system_clock can represent (see the proof at the top of this file).
    [[nodiscard]] std::optional<time_point> next_after(time_point t) const noexcept {
        using std::chrono::minutes;
        if (never_) return std::nullopt;
        constexpr std::int64_t max_minute =
            std::chrono::floor<minutes>(time_point::max().time_since_epoch()).count();
        constexpr std::int64_t max_year =
            detail::cron_civil_from_days(detail::cron_floor_div(max_minute, 1440)).year;

        const std::int64_t first = std::chrono::floor<minutes>(t.time_since_epoch()).count() + 1;
        if (first > max_minute) return std::nullopt;
        const std::int64_t first_day = detail::cron_floor_div(first, 1440);
        const auto minute_of_day = static_cast<unsigned>(first - first_day * 1440);
        const detail::cron_civil c = detail::cron_civil_from_days(first_day);
        std::int64_t y = c.year;
        unsigned mo = c.month;
        unsigned d = c.day;
        unsigned h = minute_of_day / 60;
        unsigned mi = minute_of_day % 60;
        // 400 years repeat the calendar exactly; +1 covers the partial first year.
        const std::int64_t last_year = y + 401 < max_year ? y + 401 : max_year;

        std::int64_t mask_year = -1;
        unsigned mask_month = 0;
        std::uint64_t day_mask = 0;
        for (;;) {
            // Month; past the year's last month in the set, the next year that has a match.
            const std::uint32_t mo_bits = mo > 12 ? 0 : months_ >> mo << mo;
            if (mo_bits == 0) {
                y = next_year_with_a_match(y + 1, last_year);
                if (y > last_year) return std::nullopt;
                mo = static_cast<unsigned>(std::countr_zero(months_));
                d = 1, h = 0, mi = 0;
                continue;
            }
            const auto next_mo = static_cast<unsigned>(std::countr_zero(mo_bits));
            if (next_mo != mo) mo = next_mo, d = 1, h = 0, mi = 0;
            // Day: this month's mask of matching days, bits 1..length.
            if (mask_year != y || mask_month != mo) {
                mask_year = y, mask_month = mo;
                day_mask = month_day_mask(y, mo);
            }
            const std::uint64_t d_bits = d > 31 ? 0 : day_mask >> d << d;
            if (d_bits == 0) {
                ++mo, d = 1, h = 0, mi = 0;
                continue;
            }
            const auto next_d = static_cast<unsigned>(std::countr_zero(d_bits));
            if (next_d != d) d = next_d, h = 0, mi = 0;
            // Hour.
            const std::uint32_t h_bits = h > 23 ? 0 : hours_ >> h << h;
            if (h_bits == 0) {
                ++d, h = 0, mi = 0;
                continue;
            }
            const auto next_h = static_cast<unsigned>(std::countr_zero(h_bits));
            if (next_h != h) h = next_h, mi = 0;
            // Minute.
            const std::uint64_t mi_bits = mi > 59 ? 0 : minutes_ >> mi << mi;
            if (mi_bits == 0) {
                ++h, mi = 0;
                continue;
            }
            mi = static_cast<unsigned>(std::countr_zero(mi_bits));
            const std::int64_t result =
                detail::cron_days_from_civil(y, mo, d) * 1440 + h * 60 + mi;
            if (result > max_minute) return std::nullopt;
            return time_point(std::chrono::duration_cast<clock::duration>(minutes(result)));
        }
    }

    // Canonical text: numbers only; `*` for a full field, `*/n` where the set is exactly that,
    // `a-b/n` for another arithmetic run, else a list of values and ranges. The day fields keep
    // the leading `*` exactly where the day rule needs it, so parse(to_string()) == *this.
    [[nodiscard]] std::string to_string() const {
        using detail::cron_fields;
        const std::uint64_t dow_bits = dow_;
        std::string dom = format_field(dom_, cron_fields[2], and_rule_);
        std::string dow = format_field(dow_bits, cron_fields[4], and_rule_);
        if (and_rule_ && dom[0] != '*' && dow[0] != '*') {
            // The AND rule needs one day field to begin with '*'. A '*' field always holds its
            // lowest value, and the invariant (see normalize) guarantees one of these holds it.
            if ((dow_ & 1u) != 0)
                dow = force_star(dow_bits, cron_fields[4]);
            else
                dom = force_star(dom_, cron_fields[2]);
        }
        std::string out = format_field(minutes_, cron_fields[0], true);
        out += ' ';
        out += format_field(hours_, cron_fields[1], true);
        out += ' ';
        out += dom;
        out += ' ';
        out += format_field(months_, cron_fields[3], true);
        out += ' ';
        out += dow;
        return out;
    }

    // Same normalized schedule: equal field sets and the same day rule.
    friend bool operator==(const cron_expression&, const cron_expression&) noexcept = default;

private:
    cron_expression(const std::array<std::uint64_t, 5>& bits, bool dom_star, bool dow_star) noexcept
        : minutes_(bits[0]),
          hours_(static_cast<std::uint32_t>(bits[1])),
          dom_(static_cast<std::uint32_t>(bits[2])),
          months_(static_cast<std::uint32_t>(bits[3])),
          dow_(static_cast<std::uint32_t>((bits[4] | (bits[4] >> 7)) & 0x7f)),  // 7 is Sunday
          and_rule_(dom_star || dow_star) {
        constexpr std::uint32_t all_days = 0xfffffffeu;  // bits 1..31
        // Normalize: with the OR rule, a day field that lists every value makes every day match,
        // which is the AND rule with both fields full. This keeps the invariant that under the
        // AND rule the day-of-month set holds 1 or the weekday set holds Sunday (a field that
        // begins with '*' holds its lowest value), which to_string relies on.
        if (!and_rule_ && (dom_ == all_days || dow_ == 0x7f)) {
            and_rule_ = true;
            dom_ = all_days;
            dow_ = 0x7f;
        }
        dow_repeat_ = 0;
        for (unsigned i = 0; i < 63; ++i)
            if ((dow_ >> (i % 7)) & 1u) dow_repeat_ |= std::uint64_t{1} << i;
        // The 14 kinds of year (weekday of 1 January, leap or not) in which some day passes the
        // month and day fields.
        // Shortcuts keep parse cheap: with the OR rule or a full day of month, every month of
        // the set has a matching day (each month holds every weekday); with a full weekday set
        // only the month lengths matter. Otherwise all 14 kinds are tried.
        year_types_ = 0;
        if (!and_rule_ || dom_ == all_days) {
            year_types_ = 0x3fff;
        } else if (dow_ == 0x7f) {
            for (unsigned m = 1; m <= 12; ++m) {
                if (((months_ >> m) & 1u) == 0) continue;
                if ((dom_ & detail::cron_bits_1_to(detail::cron_days_in_month(2001, m))) != 0)
                    year_types_ |= 0x7f;
                if ((dom_ & detail::cron_bits_1_to(detail::cron_days_in_month(2000, m))) != 0)
                    year_types_ |= 0x3f80;
            }
        } else {
            for (unsigned leap = 0; leap < 2; ++leap) {
                for (unsigned w = 0; w < 7; ++w) {
                    unsigned first = w;  // weekday of the 1st of month m
                    for (unsigned m = 1; m <= 12; ++m) {
                        const unsigned length =
                            detail::cron_days_in_month(leap != 0 ? 2000 : 2001, m);
                        if (((months_ >> m) & 1u) != 0 && day_mask(length, first) != 0)
                            year_types_ |= static_cast<std::uint16_t>(1u << (w + 7 * leap));
                        first = (first + length) % 7;
                    }
                }
            }
        }
        // Never matches (proof at the top) exactly when no kind of year has a matching day: all
        // 14 kinds occur in every 400-year cycle, so a kind with a matching day recurs. (Only
        // the AND rule can get here: a month of the set too short for every day of the
        // day-of-month set.)
        never_ = year_types_ == 0;
    }

    static cron_expression parse_shorthand(std::string_view text, std::string_view body) {
        struct shorthand {
            const char* name;
            const char* expansion;
        };
        static constexpr shorthand table[] = {
            {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
            {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
            {"@hourly", "0 * * * *"},
        };
        for (const auto& s : table)
            if (detail::cron_iequals(body, s.name)) return parse(s.expansion);
        if (detail::cron_iequals(body, "@reboot"))
            detail::cron_fail(text, "shorthand", body, "@reboot has no time to compute and is not supported");
        detail::cron_fail(text, "shorthand", body,
                          "unknown shorthand (expected @yearly, @annually, @monthly, @weekly, "
                          "@daily, @midnight or @hourly, alone)");
    }

    // Days 1..length of (y, mo) that satisfy the day rule, as bits.
    std::uint64_t month_day_mask(std::int64_t y, unsigned mo) const noexcept {
        return day_mask(detail::cron_days_in_month(y, mo),
                        detail::cron_weekday_from_days(detail::cron_days_from_civil(y, mo, 1)));
    }

    // The first year >= y (or > last) in which some day passes the month and day fields: the
    // year's type (weekday of 1 January, leap or not) decides it, from year_types_. The weekday
    // of 1 January moves on by 1 (2 after a leap year) each year, so a skipped year costs a few
    // instructions: this is what keeps "0 0 29 2 */7" fast across its 40-year gaps.
    std::int64_t next_year_with_a_match(std::int64_t y, std::int64_t last) const noexcept {
        unsigned w = detail::cron_weekday_from_days(detail::cron_days_from_civil(y, 1, 1));
        for (; y <= last; ++y) {
            const bool leap = detail::cron_is_leap(y);
            if (((year_types_ >> (w + (leap ? 7u : 0u))) & 1u) != 0) return y;
            w = (w + (leap ? 2u : 1u)) % 7;
        }
        return y;
    }

    // Days 1..length of a month whose 1st falls on first_weekday (0 = Sunday), as bits.
    std::uint64_t day_mask(unsigned length, unsigned first_weekday) const noexcept {
        if constexpr (detail::planted("cron_month_end_off_by_one")) ++length;  // lets February 30 through
        const std::uint64_t in_month = detail::cron_bits_1_to(length);
        // Bit d of the result is dow_repeat_ bit (d - 1 + first_weekday): day d's weekday.
        const std::uint64_t dow_days = ((dow_repeat_ << 1) >> first_weekday) & in_month;
        const std::uint64_t dom_days = std::uint64_t{dom_} & in_month;
        if constexpr (detail::planted("cron_or_as_and")) return dom_days & dow_days;  // the OR rule as AND
        return and_rule_ ? (dom_days & dow_days) : (dom_days | dow_days);
    }

    static std::string number_list(std::uint64_t bits) {
        // Runs of 3+ consecutive values as a-b, others one by one.
        std::string out;
        while (bits != 0) {
            const auto lo = static_cast<unsigned>(std::countr_zero(bits));
            unsigned hi = lo;
            while (hi + 1 < 64 && ((bits >> (hi + 1)) & 1u) != 0) ++hi;
            if (!out.empty()) out += ',';
            if (hi - lo >= 2) {
                out += detail::cron_cat({std::to_string(lo), "-", std::to_string(hi)});
            } else {
                out += std::to_string(lo);
                if (hi != lo) out += detail::cron_cat({",", std::to_string(hi)});
            }
            bits &= ~(((std::uint64_t{2} << hi) - 1) & ~((std::uint64_t{1} << lo) - 1));
        }
        return out;
    }

    // Folds day-of-week 7 onto 0, as parse does.
    static std::uint64_t fold(std::uint64_t bits, const detail::cron_field_spec& spec) noexcept {
        return spec.high == 7 ? ((bits | (bits >> 7)) & 0x7f) : bits;
    }

    static std::string format_field(std::uint64_t bits, const detail::cron_field_spec& spec,
                                    bool star_allowed) {
        const unsigned span = spec.high - spec.low + 1;
        if (star_allowed && std::popcount(bits) >= 3) {  // "0" stays "0", not "*/60"
            for (unsigned step = 1; step <= span; ++step)
                if (fold(detail::cron_step_bits(spec.low, spec.high, step), spec) == bits)
                    return step == 1 ? std::string("*") : detail::cron_cat({"*/", std::to_string(step)});
        }
        // One arithmetic run of 3+ values: a-b/n.
        if (std::popcount(bits) >= 3) {
            const auto lo = static_cast<unsigned>(std::countr_zero(bits));
            const auto hi = static_cast<unsigned>(63 - std::countl_zero(bits));
            const auto rest = bits & (bits - 1);
            const auto step = static_cast<unsigned>(std::countr_zero(rest)) - lo;
            if (step >= 2 && detail::cron_step_bits(lo, hi, step) == bits)
                return detail::cron_cat({std::to_string(lo), "-", std::to_string(hi), "/",
                                 std::to_string(step)});
        }
        return number_list(bits);
    }

    // A form that begins with '*' for a set holding the field's lowest value: "*/31" is exactly
    // day 1 and "*/7" exactly Sunday (0 and 7), followed by the other values.
    static std::string force_star(std::uint64_t bits, const detail::cron_field_spec& spec) {
        std::string out = spec.high == 7 ? std::string("*/7")
                                         : detail::cron_cat({"*/", std::to_string(spec.high - spec.low + 1)});
        const std::uint64_t rest = bits & ~(std::uint64_t{1} << spec.low);
        if (rest != 0) out += detail::cron_cat({",", number_list(rest)});
        return out;
    }

    std::uint64_t minutes_ = 0;     // bits 0..59
    std::uint32_t hours_ = 0;       // bits 0..23
    std::uint32_t dom_ = 0;         // bits 1..31
    std::uint32_t months_ = 0;      // bits 1..12
    std::uint32_t dow_ = 0;         // bits 0..6, 0 = Sunday
    bool and_rule_ = false;         // a day matches both day fields (else either)
    bool never_ = false;            // derived: no minute can ever match
    std::uint64_t dow_repeat_ = 0;  // derived: bit i set iff weekday i % 7 is in dow_
    std::uint16_t year_types_ = 0;  // derived: bit w + 7*leap: such a year has a matching day
};

}  // namespace millrace
