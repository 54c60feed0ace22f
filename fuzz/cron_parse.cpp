// Fuzzes millrace::cron_expression against the independent reference model of
// tests/sched/cron_reference.hpp. For every input:
//   - parse either throws std::invalid_argument (and then the reference parser rejects the text
//     too) or succeeds (and then the reference accepts it); any other exception escapes and
//     libFuzzer reports it; a crash, UB or hang is reported by the sanitizers or the time-out;
//   - whatever parses round-trips: parse(to_string()) == the expression, and to_string is a
//     fixed point;
//   - next_after from a start time taken from the input equals the brute-force reference's
//     first match within a bounded horizon, or lies beyond it and matches.
// Input layout: byte 0 picks the mode; bytes 1..8 are the start time (nanoseconds since the
// epoch, any value); the rest is either the raw text (mode even) or, so that most inputs are
// valid expressions that exercise the day rule, a recipe the fuzzer builds an expression from
// (mode odd).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include "millrace/sched/cron.hpp"

#include "../tests/sched/cron_reference.hpp"
#include "fuzz_input.hpp"

namespace {

using reader = millrace::fuzz::byte_reader;

std::string value(reader& in, unsigned lo, unsigned hi, const char* const* names, unsigned count) {
    const std::uint8_t b = in.byte();
    if (names != nullptr && (b & 0x80) != 0) {
        std::string n = names[(b & 0x7f) % count];
        if ((b & 0x40) != 0) n[0] = static_cast<char>(n[0] - 'a' + 'A');
        return n;
    }
    return std::to_string(lo + (b & 0x7f) % (hi - lo + 1));
}

std::string field(reader& in, unsigned lo, unsigned hi, const char* const* names, unsigned count) {
    const std::uint8_t head = in.byte();
    if (head % 3 == 0) return "*";
    std::string out;
    const unsigned items = 1 + (head >> 5) % 3;
    const unsigned span = hi - lo + 1;
    for (unsigned i = 0; i < items; ++i) {
        if (i != 0) out += ',';
        const std::uint8_t kind = in.byte();
        switch (kind % 6) {
            case 0:
                out += "*/" + std::to_string(1 + (kind >> 3) % span);
                break;
            case 1:
            case 2:
                out += value(in, lo, hi, names, count);
                break;
            case 3:
            case 4: {
                std::string a = value(in, lo, hi, names, count);
                std::string b = value(in, lo, hi, names, count);
                out += a + "-" + b;  // may be reversed: then both parsers must reject it
                if (kind % 6 == 4) out += "/" + std::to_string(1 + (kind >> 3) % span);
                break;
            }
            default:
                out += std::to_string(lo + (kind >> 3) % span);
        }
    }
    return out;
}

std::string recipe(reader& in) {
    static const char* const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
    static const char* const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    std::string s = field(in, 0, 59, nullptr, 0);
    s += ' ' + field(in, 0, 23, nullptr, 0);
    s += ' ' + field(in, 1, 31, nullptr, 0);
    s += ' ' + field(in, 1, 12, months, 12);
    s += ' ' + field(in, 0, 7, days, 7);
    return s;
}

std::int64_t minute_of(std::chrono::system_clock::time_point t) {
    return std::chrono::floor<std::chrono::minutes>(t.time_since_epoch()).count();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using millrace::cron_expression;
    using tp = std::chrono::system_clock::time_point;
    reader in{data, size};
    const std::uint8_t mode = in.byte();
    std::uint64_t raw_start = 0;
    for (int i = 0; i < 8; ++i)
        raw_start = raw_start << 8 | in.byte();
    // Mostly 1900..2250 so that the brute force has work; raw values reach both clock ends.
    std::int64_t ns = static_cast<std::int64_t>(raw_start);
    if ((mode & 2) == 0) {
        ns = static_cast<std::int64_t>(raw_start % 11'045'116'800ULL) - 2'208'988'800LL;  // seconds
        ns = ns * 1'000'000'000LL + static_cast<std::int64_t>((raw_start >> 40) % 60'000'000'000ULL);
        if (ns > tp::max().time_since_epoch().count()) ns = tp::max().time_since_epoch().count();
    }
    const tp start{tp::duration(ns)};

    const std::string text =
        (mode & 1) != 0 ? recipe(in) : std::string(reinterpret_cast<const char*>(in.data), in.size);

    const auto ref = millrace::test::ref_parse(text);
    std::optional<cron_expression> e;
    try {
        e = cron_expression::parse(text);
    } catch (const std::invalid_argument& err) {
        if (ref.has_value()) std::abort();  // the reference accepts it
        if (std::strstr(err.what(), "cron expression \"") == nullptr) std::abort();
        return 0;
    }
    if (!ref.has_value()) std::abort();  // the reference rejects it

    const std::string canon = e->to_string();
    const auto back = cron_expression::parse(canon);
    if (!(back == *e) || back.to_string() != canon) std::abort();

    const std::int64_t horizon = 2LL * 366 * 1440;
    const auto got = e->next_after(start);
    const auto want = millrace::test::ref_next_after(*ref, start, horizon);
    if (want) {
        if (!got || minute_of(*got) != *want) std::abort();
        if (got->time_since_epoch() % std::chrono::minutes(1) != tp::duration::zero()) std::abort();
    } else if (got) {
        if (minute_of(*got) <= minute_of(start) + horizon) std::abort();
        if (!millrace::test::ref_matches(*ref, minute_of(*got))) std::abort();
    }
    if (back.next_after(start) != got) std::abort();
    return 0;
}
