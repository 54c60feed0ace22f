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
// How next_after finds the next match by field arithmetic (never minute by minute) and why
// the 400-year Gregorian cycle bounds the search and decides "never" at parse time: see
// docs/cron.md. The calendar arithmetic and the field parser are in sched/detail/cron_fields.hpp.
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
#include "millrace/sched/detail/cron_fields.hpp"

namespace millrace {

/// A parsed cron expression (5 fields, or a shorthand for one), evaluated in UTC.
class cron_expression {
public:
    /// Cron times are wall-clock times.
    using clock = std::chrono::system_clock;
    /// A wall-clock time.
    using time_point = clock::time_point;

    /// Parses a 5-field expression or a shorthand; leading and trailing blanks are ignored and
    /// fields are separated by runs of spaces or tabs. Throws std::invalid_argument (see top).
    [[nodiscard]] static cron_expression parse(std::string_view text) {
        std::size_t b = 0;
        std::size_t e = text.size();
        while (b < e && detail::cron_is_blank(text[b]))
            ++b;
        while (e > b && detail::cron_is_blank(text[e - 1]))
            --e;
        const std::string_view body = text.substr(b, e - b);
        if (!body.empty() && body[0] == '@') return parse_shorthand(text, body);

        std::array<std::string_view, 5> fields{};
        std::size_t count = 0;
        std::size_t pos = 0;
        while (pos < body.size()) {
            std::size_t end = pos;
            while (end < body.size() && !detail::cron_is_blank(body[end]))
                ++end;
            if (count < fields.size()) fields[count] = body.substr(pos, end - pos);
            ++count;
            pos = end;
            while (pos < body.size() && detail::cron_is_blank(body[pos]))
                ++pos;
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

    /// The first matching minute strictly after t, in UTC; nullopt if there is none that
    /// system_clock can represent (see the proof at the top of this file).
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
            const std::int64_t result = detail::cron_days_from_civil(y, mo, d) * 1440 + h * 60 + mi;
            if (result > max_minute) return std::nullopt;
            return time_point(std::chrono::duration_cast<clock::duration>(minutes(result)));
        }
    }

    /// Canonical text: numbers only; `*` for a full field, `*/n` where the set is exactly that,
    /// `a-b/n` for another arithmetic run, else a list of values and ranges. The day fields keep
    /// the leading `*` exactly where the day rule needs it, so parse(to_string()) == *this.
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
                        const unsigned length = detail::cron_days_in_month(leap != 0 ? 2000 : 2001, m);
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
            while (hi + 1 < 64 && ((bits >> (hi + 1)) & 1u) != 0)
                ++hi;
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
                return detail::cron_cat(
                    {std::to_string(lo), "-", std::to_string(hi), "/", std::to_string(step)});
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
