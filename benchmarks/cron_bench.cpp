// cron expressions: parse and next_after for typical and pathological expressions, against the
// baseline a user would otherwise write: step minute by minute from the start and test each
// minute against the fields with std::chrono's calendar (year_month_day, weekday). The stepper
// uses the reference model of tests/cron/cron_reference.hpp (an independent parser).
//
// Names: cron/next_after_<case>/{millrace,minute_stepper}, cron/parse_<case>/millrace.
// Each next_after iteration starts from the next of 1024 random start times in 2000..2100, so
// the figure is an average over where in the calendar the search begins.
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include <benchmark/benchmark.h>

#include "millrace/sched/cron.hpp"

#include "../tests/sched/cron_reference.hpp"

namespace {

using tp = std::chrono::system_clock::time_point;

const std::array<tp, 1024>& starts() {
    static const std::array<tp, 1024> s = [] {
        std::array<tp, 1024> out{};
        std::mt19937_64 rng(42);
        const std::int64_t lo = 946684800;   // 2000-01-01
        const std::int64_t hi = 4102444800;  // 2100-01-01
        for (auto& t : out)
            t = tp(std::chrono::seconds(
                lo + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi - lo))));
        return out;
    }();
    return s;
}

struct bench_case {
    const char* name;
    const char* expr;
    bool stepper;           // the stepper is run only where one call takes under ~50 ms
    int stepper_years = 2;  // its search horizon: past the longest gap between matches
};

const bench_case cases[] = {
    {"every_15min", "*/15 * * * *", true},
    {"hourly", "@hourly", true},
    {"daily", "0 0 * * *", true},
    {"business_hours", "*/10 9-17 * * mon-fri", true},
    {"weekly", "30 4 * * sun", true},
    {"monthly_31st", "0 0 31 * *", true},
    {"or_rule_13th_or_friday", "0 0 13 * 5", true},
    {"yearly", "0 0 1 1 *", true},
    // Leap days only: 4 years apart, 8 across 2100; ~1M minutes stepped on average (2.1M
    // from just after a leap day), 4.2M across 2100.
    {"feb29", "0 12 29 2 *", true, 9},
    {"feb29_sunday", "0 0 29 2 */7", false},  // AND rule: up to 40 years apart
    {"never_feb30", "0 0 30 2 *", false},     // never matches
    {"last_minute_of_year", "59 23 31 12 *", true},
};

void next_after_millrace(benchmark::State& state, const char* expr) {
    const auto e = millrace::cron_expression::parse(expr);
    const auto& s = starts();
    std::size_t i = 0;
    for (auto _ : state) {
        auto r = e.next_after(s[i++ & 1023]);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}

// The baseline: minute by minute, the whole calendar computed for each minute, for at most
// `years` years.
std::optional<std::int64_t> step(const millrace::test::ref_cron& r, tp t, int years) {
    std::int64_t m = std::chrono::floor<std::chrono::minutes>(t.time_since_epoch()).count() + 1;
    const std::int64_t end = m + years * 366LL * 1440;
    for (; m <= end; ++m)
        if (millrace::test::ref_matches(r, m)) return m;
    return std::nullopt;
}

void next_after_stepper(benchmark::State& state, const char* expr, int years) {
    const auto r = *millrace::test::ref_parse(expr);
    const auto& s = starts();
    std::size_t i = 0;
    for (auto _ : state) {
        auto m = step(r, s[i++ & 1023], years);
        benchmark::DoNotOptimize(m);
    }
    state.SetItemsProcessed(state.iterations());
}

// One start time: the worst gap known, 2088-03-01 -> 2128-02-29 for "0 0 29 2 */7".
const tp worst_gap_start = tp(std::chrono::seconds(3728937600));  // 2088-03-01 00:00 UTC

void next_after_fixed_start(benchmark::State& state, const char* expr) {
    const auto e = millrace::cron_expression::parse(expr);
    const tp start = worst_gap_start;
    for (auto _ : state) {
        auto r = e.next_after(start);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}

// The stepper over the 40-year gap would step 21M minutes per call; it is capped at 2 years
// (1.05M minutes, no match found), so its time is a lower bound on the full search (about
// 1/20 of it) and the ratio against it a lower bound on the real ratio.
void next_after_stepper_capped(benchmark::State& state, const char* expr) {
    const auto r = *millrace::test::ref_parse(expr);
    for (auto _ : state) {
        auto m = step(r, worst_gap_start, 2);
        benchmark::DoNotOptimize(m);
    }
    state.SetItemsProcessed(state.iterations());
}

void parse_millrace(benchmark::State& state, const char* expr) {
    for (auto _ : state) {
        auto e = millrace::cron_expression::parse(expr);
        benchmark::DoNotOptimize(e);
    }
    state.SetItemsProcessed(state.iterations());
}

void to_string_millrace(benchmark::State& state, const char* expr) {
    const auto e = millrace::cron_expression::parse(expr);
    for (auto _ : state) {
        auto s = e.to_string();
        benchmark::DoNotOptimize(s);
    }
    state.SetItemsProcessed(state.iterations());
}

const int registered = [] {
    for (const auto& c : cases) {
        benchmark::RegisterBenchmark((std::string("cron/next_after_") + c.name + "/millrace").c_str(),
                                     next_after_millrace, c.expr);
        if (c.stepper)
            benchmark::RegisterBenchmark(
                (std::string("cron/next_after_") + c.name + "/minute_stepper").c_str(), next_after_stepper,
                c.expr, c.stepper_years);
    }
    benchmark::RegisterBenchmark("cron/next_after_feb29_sunday_worst_gap/millrace", next_after_fixed_start,
                                 "0 0 29 2 */7");
    benchmark::RegisterBenchmark("cron/next_after_feb29_sunday_worst_gap/minute_stepper_capped_2y",
                                 next_after_stepper_capped, "0 0 29 2 */7");
    const std::pair<const char*, const char*> parses[] = {
        {"daily", "@daily"},
        {"typical", "*/15 9-17 * * mon-fri"},
        {"lists", "0,5,10,15,20,25,30,35,40,45,50,55 0-23/2 1,15,28-31 jan-mar,jul-sep */2"},
        {"long_list",
         "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,"
         "27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,"
         "51,52,53,54,55,56,57,58,59 * * * *"},
    };
    for (const auto& [name, expr] : parses) {
        benchmark::RegisterBenchmark((std::string("cron/parse_") + name + "/millrace").c_str(),
                                     parse_millrace, expr);
        benchmark::RegisterBenchmark((std::string("cron/to_string_") + name + "/millrace").c_str(),
                                     to_string_millrace, expr);
    }
    return 0;
}();

}  // namespace

BENCHMARK_MAIN();
