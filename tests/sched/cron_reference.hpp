// tests/sched/cron_reference.hpp: an independent, deliberately simple model of cron expressions,
// shared by the cron tests, the fuzz target and the benchmark baseline.
//
// - ref_parse: a second parser written differently from the library's (split on blanks, then
//   on ',', '/', '-'), with the same acceptance rules, giving plain bool arrays and the two
//   "begins with *" flags of cronie. It returns std::nullopt where the library must throw.
// - ref_matches: whether one minute matches, from std::chrono's own calendar (year_month_day,
//   weekday), not from the library's date arithmetic.
// - ref_next_after: the brute-force search: minute by minute from the first minute after t, up to
//   a horizon; a day whose date fails the day fields is skipped whole (none of its minutes can
//   match), which keeps the reference usable over years without changing what it finds.
#pragma once

#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace millrace::test {

struct ref_cron {
    std::array<bool, 60> minute{};
    std::array<bool, 24> hour{};
    std::array<bool, 32> dom{};    // 1..31
    std::array<bool, 13> month{};  // 1..12
    std::array<bool, 8> dow{};     // 0..7, 7 = Sunday too
    bool dom_star = false;
    bool dow_star = false;
};

namespace ref_detail {

inline std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    out.push_back(cur);
    return out;
}

inline std::string lower(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline bool all_digits(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

inline long long to_number(const std::string& s) {  // all_digits(s); saturates
    long long v = 0;
    for (char c : s) {
        v = v * 10 + (c - '0');
        if (v > 1000000) v = 1000000;
    }
    return v;
}

// A value: digits in [lo, hi], or a 3-letter name from `names` (value base + index).
inline std::optional<int> value(const std::string& s, int lo, int hi, const std::vector<std::string>& names,
                                int base) {
    if (all_digits(s)) {
        const long long v = to_number(s);
        if (v < lo || v > hi) return std::nullopt;
        return static_cast<int>(v);
    }
    for (std::size_t i = 0; i < names.size(); ++i)
        if (lower(s) == names[i]) return base + static_cast<int>(i);
    return std::nullopt;
}

template <std::size_t N>
bool field(const std::string& text, int lo, int hi, const std::vector<std::string>& names, int base,
           std::array<bool, N>& out) {
    for (const std::string& item : split(text, ',')) {
        const auto slash = split(item, '/');
        if (slash.size() > 2) return false;
        int step = 1;
        if (slash.size() == 2) {
            if (!all_digits(slash[1])) return false;
            const long long s = to_number(slash[1]);
            if (s < 1 || s > hi - lo + 1) return false;
            step = static_cast<int>(s);
        }
        int a = 0;
        int b = 0;
        if (slash[0] == "*") {
            a = lo;
            b = hi;
        } else {
            const auto dash = split(slash[0], '-');
            if (dash.size() > 2) return false;
            const auto va = value(dash[0], lo, hi, names, base);
            if (!va) return false;
            a = b = *va;
            if (dash.size() == 2) {
                const auto vb = value(dash[1], lo, hi, names, base);
                if (!vb || *vb < a) return false;
                b = *vb;
            } else if (slash.size() == 2) {
                return false;  // "5/10": a step needs a range or '*'
            }
        }
        for (int v = a; v <= b; v += step)
            out[static_cast<std::size_t>(v)] = true;
    }
    return true;
}

}  // namespace ref_detail

inline std::optional<ref_cron> ref_parse(std::string_view text) {
    using namespace ref_detail;
    std::vector<std::string> fields;
    std::string cur;
    for (char c : text) {
        if (c == ' ' || c == '\t') {
            if (!cur.empty()) fields.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) fields.push_back(cur);
    if (fields.size() == 1 && !fields[0].empty() && fields[0][0] == '@') {
        const std::string s = lower(fields[0]);
        if (s == "@yearly" || s == "@annually") return ref_parse("0 0 1 1 *");
        if (s == "@monthly") return ref_parse("0 0 1 * *");
        if (s == "@weekly") return ref_parse("0 0 * * 0");
        if (s == "@daily" || s == "@midnight") return ref_parse("0 0 * * *");
        if (s == "@hourly") return ref_parse("0 * * * *");
        return std::nullopt;
    }
    if (fields.size() != 5) return std::nullopt;
    static const std::vector<std::string> none;
    static const std::vector<std::string> months = {"jan", "feb", "mar", "apr", "may", "jun",
                                                    "jul", "aug", "sep", "oct", "nov", "dec"};
    static const std::vector<std::string> days = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    ref_cron r;
    if (!field(fields[0], 0, 59, none, 0, r.minute)) return std::nullopt;
    if (!field(fields[1], 0, 23, none, 0, r.hour)) return std::nullopt;
    if (!field(fields[2], 1, 31, none, 0, r.dom)) return std::nullopt;
    if (!field(fields[3], 1, 12, months, 1, r.month)) return std::nullopt;
    if (!field(fields[4], 0, 7, days, 0, r.dow)) return std::nullopt;
    r.dom_star = fields[2][0] == '*';
    r.dow_star = fields[4][0] == '*';
    return r;
}

// Does the day (a sys_days) pass the month and day fields? cronie's rule, word for word:
//   (DOM_STAR || DOW_STAR) ? (dow matches && dom matches) : (dow matches || dom matches)
inline bool ref_day_matches(const ref_cron& r, std::chrono::sys_days day) {
    const std::chrono::year_month_day ymd(day);
    const unsigned wd = std::chrono::weekday(day).c_encoding();  // 0 = Sunday
    const bool dow = r.dow[wd] || (wd == 0 && r.dow[7]);
    const bool dom = r.dom[static_cast<unsigned>(ymd.day())];
    if (!r.month[static_cast<unsigned>(ymd.month())]) return false;
    return (r.dom_star || r.dow_star) ? (dow && dom) : (dow || dom);
}

inline bool ref_matches(const ref_cron& r, std::int64_t minute_since_epoch) {
    const std::int64_t day =
        minute_since_epoch >= 0 ? minute_since_epoch / 1440 : -((-minute_since_epoch + 1439) / 1440);
    const auto in_day = static_cast<int>(minute_since_epoch - day * 1440);
    return ref_day_matches(r, std::chrono::sys_days(std::chrono::days(day))) &&
           r.hour[static_cast<std::size_t>(in_day / 60)] && r.minute[static_cast<std::size_t>(in_day % 60)];
}

// Minute index of the first match in (t, t + horizon_minutes], or nullopt; never looks past
// the last minute system_clock can represent.
inline std::optional<std::int64_t> ref_next_after(const ref_cron& r, std::chrono::system_clock::time_point t,
                                                  std::int64_t horizon_minutes) {
    using std::chrono::minutes;
    const std::int64_t max_minute =
        std::chrono::floor<minutes>(std::chrono::system_clock::time_point::max().time_since_epoch()).count();
    std::int64_t m = std::chrono::floor<minutes>(t.time_since_epoch()).count() + 1;
    const std::int64_t end = m + horizon_minutes;
    while (m <= end && m <= max_minute) {
        const std::int64_t day = m >= 0 ? m / 1440 : -((-m + 1439) / 1440);
        if (!ref_day_matches(r, std::chrono::sys_days(std::chrono::days(day)))) {
            m = (day + 1) * 1440;  // no minute of this day can match
            continue;
        }
        // A matching day: step its minutes one by one.
        for (std::int64_t next_day = (day + 1) * 1440; m < next_day && m <= end && m <= max_minute; ++m) {
            const auto in_day = static_cast<std::size_t>(m - day * 1440);
            if (r.hour[in_day / 60] && r.minute[in_day % 60]) return m;
        }
    }
    return std::nullopt;
}

inline std::chrono::system_clock::time_point ref_time(std::int64_t minute_since_epoch) {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::minutes(minute_since_epoch)));
}

}  // namespace millrace::test
