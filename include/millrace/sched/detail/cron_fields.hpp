// millrace/sched/detail/cron_fields.hpp: the pieces of cron_expression that are not the
// search: the civil-calendar arithmetic (Howard Hinnant's algorithms), the five fields' ranges
// and names, and the parser of one field into a bit set with its error messages.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

namespace millrace::detail {

// Howard Hinnant's civil calendar algorithms (public domain), proleptic Gregorian.
constexpr std::int64_t cron_days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
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
    const auto doe = static_cast<unsigned>(z - era * 146097);                    // [0, 146096]
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
    const unsigned mp = (5 * doy + 2) / 153;                                     // [0, 11]
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;                             // [1, 31]
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;                                // [1, 12]
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
    const char* name;          // for messages: "minute", "day-of-week", ...
    unsigned low;              // smallest value accepted in the text
    unsigned high;             // largest value accepted in the text (7 for day-of-week)
    const char* const* names;  // 3-letter names, or nullptr; names[i] has value names_base + i
    unsigned names_base;
    unsigned names_count;
};

inline constexpr const char* cron_month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                   "jul", "aug", "sep", "oct", "nov", "dec"};
inline constexpr const char* cron_weekday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

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
    for (unsigned v = lo; v <= hi; v += step)
        bits |= std::uint64_t{1} << v;
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

inline bool cron_is_blank(char c) noexcept {
    return c == ' ' || c == '\t';
}
inline bool cron_is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
inline bool cron_is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Concatenation by appends (g++ 12 -O2 raises a false -Wrestrict on "literal" + std::string).
inline std::string cron_cat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (const std::string_view p : parts)
        out.append(p.data(), p.size());
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
    for (char c : s)
        out += cron_show_char(c);
    return out;
}

[[noreturn]] inline void cron_fail(std::string_view whole, std::string_view where, std::string_view text,
                                   const std::string& why) {
    throw std::invalid_argument(cron_cat(
        {"cron expression \"", cron_show(whole), "\": ", where, " \"", cron_show(text), "\": ", why}));
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
                fail_item(item, cron_cat({cron_show(item.substr(begin, pos - begin)), " is out of range ",
                                          range_text()}));
            return v;
        }
        if (cron_is_alpha(c)) {
            const std::size_t begin = pos;
            while (pos < item.size() && cron_is_alpha(item[pos]))
                ++pos;
            const std::string_view word = item.substr(begin, pos - begin);
            for (unsigned i = 0; i < spec_.names_count; ++i)
                if (cron_iequals(word, spec_.names[i])) return spec_.names_base + i;
            if (cron_iequals(word, "L") || cron_iequals(word, "W") || cron_iequals(word, "LW"))
                fail_item(item, cron_cat({"'", cron_show(word),
                                          "' is a cron extension (L, W, #, ?) that millrace does "
                                          "not support"}));
            if (spec_.names == nullptr)
                fail_item(item, cron_cat({"names are not allowed in the ", spec_.name, " field (\"",
                                          cron_show(word), "\")"}));
            fail_item(item, cron_cat({"unknown name \"", cron_show(word), "\" (expected ", spec_.names[0],
                                      "..", spec_.names[spec_.names_count - 1], ", any case)"}));
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
                    fail_item(item, cron_cat({"reversed range: ", std::to_string(lo), " is after ",
                                              std::to_string(hi)}));
            }
        }
        unsigned step = 1;
        if (pos < item.size() && item[pos] == '/') {
            if (single)
                fail_item(item, cron_cat({"a step needs a range or '*' before it (write ", std::to_string(lo),
                                          "-", std::to_string(spec_.high), "/n)"}));
            ++pos;
            if (pos >= item.size() || !cron_is_digit(item[pos])) fail_item(item, "missing step after '/'");
            step = read_number(item, pos);
            const unsigned span = spec_.high - spec_.low + 1;
            if (step == 0) fail_item(item, "step of zero");
            if (step > span)
                fail_item(item, cron_cat({"step ", std::to_string(step), " is larger than the field (",
                                          std::to_string(span), " values)"}));
        }
        if (pos != item.size()) fail_char(item, item[pos]);
        return cron_step_bits(lo, hi, step);
    }

    std::string_view whole_;
    std::string_view field_;
    const cron_field_spec& spec_;
};

}  // namespace millrace::detail
