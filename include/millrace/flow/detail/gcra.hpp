// millrace/flow/detail/gcra.hpp: the fixed-point arithmetic shared by token_bucket and
// keyed_limiter (GCRA, the Generic Cell Rate Algorithm of ATM, ITU-T I.371, in its
// "virtual scheduling" form).
//
// Token time. Instead of storing a time and adding a fractional emission interval per token
// (which accumulates rounding error), every computation maps the clock's nanoseconds to
// "token time" V: the number of tokens the rate has produced since a base instant, in fixed
// point with F fractional bits (one unit = 2^-F token):
//
//     V(d) = floor(d * mul / 2^shift),   d = now - base (ns),   mul in [2^63, 2^64)
//
// mul/2^shift is rate * 2^F / 1e9 rounded DOWN, exactly (integer arithmetic on the double's
// mantissa), so V never runs ahead of rate * t, with 64 significant bits: relative error < 2^-63. V is
// recomputed from the absolute clock reading on every call, so nothing accumulates: after any number of
// operations V(d) is rate * d rounded down to a unit (2^-F token). That is the "no drift" argument: the only
// state that persists is an integer count of units, and every change to it is an exact integer (n tokens = n
// << F units).
//
// The state E is GCRA's theoretical arrival time in token time: the instant (in V) at which
// the bucket is empty. Tokens available at V are min(burst, V - E); a take of n sets
// E = max(E, V - burst) + n and is allowed when the result is <= V; a reserve allows the result
// to exceed V (debt) and the caller waits until V reaches it; a refund lowers E but never below
// V - burst.
//
// F is chosen per configuration: as fine as possible (at most 40) while one unit of V stays at
// most one nanosecond's worth of refill (V grows at most 1 unit/ns at rate <= 1e9/s, so 2^48
// units last at least 78 hours before a re-base) and the burst stays within 2^44 units. So
// 0.001/s with burst 1 gets F = 39 (a unit is ~1.8 ns of refill), with burst 100 F = 37, and
// 1e9/s gets F = 0 (a unit is one token = 1 ns).
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <ratio>
#include <stdexcept>

namespace millrace::detail {

__extension__ typedef unsigned __int128 gcra_u128;
__extension__ typedef __int128 gcra_i128;

struct gcra_limits {
    static constexpr double min_rate = 1e-6;  // tokens per second
    static constexpr double max_rate = 1e12;
    static constexpr double max_burst = 1099511627776.0;  // 2^40 tokens
    static constexpr int max_frac_bits = 40;
    static constexpr std::int64_t burst_unit_limit = std::int64_t{1} << 44;
    // V re-bases beyond this; with the debt cap it bounds |E| < 2^49, so token_bucket's word
    // keeps 14 bits for its epoch tag.
    static constexpr std::int64_t rebase_units = std::int64_t{1} << 48;
    static constexpr std::int64_t debt_cap_units = std::int64_t{1} << 47;  // most debt a reserve may take
    static constexpr std::int64_t max_wait_ns = std::int64_t{1} << 61;     // ~73 years
    static constexpr std::int64_t saturate = std::int64_t{1} << 62;
};

/// One rate/burst configuration in fixed point. Plain values: token_bucket publishes it
/// through a seqlock, keyed_limiter keeps it under its shard locks.
struct gcra_config {
    std::int64_t base_ns = 0;  // clock reading (ns) at which V = 0
    std::uint64_t mul = 0;     // V(d) = d * mul >> shift
    std::uint64_t num = 0;     // exact: units per ns = num / (1e9 << den_shift)
    std::int32_t shift = 64;
    std::int32_t frac = 0;  // F: units per token = 2^F
    std::int32_t den_shift = 0;
    std::int64_t burst_units = 0;  // floor(burst * 2^F)
    std::int64_t max_d = 0;        // beyond this many ns past base, re-base (V would pass 2^48)
    // The grid's period: every period_ns ns token time advances by exactly period_units (an
    // integer), so moving the base by a multiple of it keeps every later V exact. 0 when the
    // period exceeds max_d / 2 (a rate that is no short fraction of 1e9 units per s).
    std::int64_t period_ns = 0;
    std::int64_t period_units = 0;

    /// The same rate and burst (the base aside).
    bool same_rate(const gcra_config& o) const noexcept {
        return mul == o.mul && shift == o.shift && num == o.num && den_shift == o.den_shift &&
               frac == o.frac && burst_units == o.burst_units;
    }

    /// How a re-base d ns after base moves it: by `ns` ns, token time (and every E) by `units`.
    /// Within max_d nothing moves. Beyond it, by the largest multiple of the period (exact: no
    /// refill progress is lost, the later V are those of the old base minus `units`); for a
    /// rate without a short period, to d itself (V restarts on a whole unit: the sub-unit
    /// progress at that instant, < 2^-F token, is dropped).
    struct shift_by {
        std::int64_t ns;
        std::int64_t units;
    };
    shift_by rebase_shift(std::int64_t d) const noexcept {
        if (d <= max_d) return {0, 0};
        if (period_ns != 0) {
            const std::int64_t k = d / period_ns;
            return {k * period_ns, k * period_units};
        }
        return {d, v_of(d)};
    }

    std::uint64_t burst_tokens() const noexcept { return static_cast<std::uint64_t>(burst_units >> frac); }

    /// Token time d ns after base, exactly floor(d * rate * 2^F / 1e9) for every d (negative
    /// d happens when a caller read the clock just before a set_rate chose its base).
    /// Saturates at +-2^62.
    std::int64_t v_of(std::int64_t d) const noexcept {
        constexpr std::int64_t sat = gcra_limits::saturate;
        if (d >= 0) {
            const std::int64_t f = floor_units(static_cast<std::uint64_t>(d));
            return f >= sat ? sat : f;
        }
        const std::uint64_t m = d < -sat ? static_cast<std::uint64_t>(sat) : static_cast<std::uint64_t>(-d);
        const std::int64_t f = floor_units(m);
        if (f >= sat) return -sat;
        // floor(-x) = -ceil(x): one more unless x is a whole number of units.
        const bool whole = static_cast<gcra_u128>(f) * den() == static_cast<gcra_u128>(m) * num;
        return -(f + (whole ? 0 : 1));
    }

    /// floor(x * rate * 2^F / 1e9) for x ns: the multiply by mul/2^shift (mul rounded down)
    /// is at most one unit short; one exact check against num/den adds it back.
    std::int64_t floor_units(std::uint64_t x) const noexcept {
        const gcra_u128 p = static_cast<gcra_u128>(x) * mul;
        const gcra_u128 v0 = p >> shift;
        if (v0 >= static_cast<gcra_u128>(gcra_limits::saturate)) return gcra_limits::saturate;
        // mul is short of the exact factor by less than 1/2^shift, so the product is short by
        // less than x/2^shift: the floor can only be one more when the remainder is within x
        // of the next multiple. Usually it is not, and the exact check is skipped.
        const gcra_u128 one = gcra_u128{1} << shift;
        if ((p & (one - 1)) + x < one) return static_cast<std::int64_t>(v0);
        const bool short_one = (v0 + 1) * den() <= static_cast<gcra_u128>(x) * num;
        return static_cast<std::int64_t>(v0) + (short_one ? 1 : 0);
    }

    /// rate * 2^F / 1e9 == num / den exactly (num: the rate's 53-bit mantissa).
    gcra_u128 den() const noexcept { return static_cast<gcra_u128>(1000000000u) << den_shift; }

    /// The smallest d with v_of(d) >= w: when token time reaches w. Saturates at max_wait_ns
    /// beyond base + max_wait.
    std::int64_t d_for(std::int64_t w) const noexcept {
        const long double u = std::ldexp(static_cast<long double>(mul), -shift);  // units per ns
        const long double est = std::ceil(static_cast<long double>(w) / u);
        constexpr auto cap = gcra_limits::max_wait_ns;
        if (est >= static_cast<long double>(cap)) return cap;
        if (est <= -static_cast<long double>(cap)) return -cap;
        auto d = static_cast<std::int64_t>(est);
        // The estimate is within a few ns; walk to the exact answer (V is monotone).
        while (v_of(d) < w)
            ++d;
        while (v_of(d - 1) >= w)
            --d;
        return d;
    }

    std::int64_t units(std::uint64_t tokens) const noexcept {
        return static_cast<std::int64_t>(tokens) << frac;
    }
};

/// GCRA's max(E, V - burst): the state a take or refund starts from (tokens beyond the burst
/// were never kept).
inline std::int64_t gcra_from(std::int64_t e, std::int64_t v, std::int64_t burst_units) noexcept {
    return e > v - burst_units ? e : v - burst_units;
}

/// Validates rate and burst (std::invalid_argument) and builds a configuration based at
/// `base_ns`.
inline gcra_config make_gcra_config(double rate, double burst, std::int64_t base_ns) {
    using L = gcra_limits;
    if (!std::isfinite(rate) || !(rate > 0.0))
        throw std::invalid_argument("token_bucket: rate must be finite and > 0");
    if (!std::isfinite(burst) || burst < 1.0)
        throw std::invalid_argument("token_bucket: burst must be finite and >= 1");
    if (rate < L::min_rate || rate > L::max_rate)
        throw std::invalid_argument("token_bucket: rate must lie in [1e-6, 1e12] tokens per second");
    if (burst > L::max_burst) throw std::invalid_argument("token_bucket: burst must be <= 2^40");
    int f = L::max_frac_bits;
    const auto r = static_cast<long double>(rate);
    while (f > 0 && (std::ldexp(r, f) > 1e9L || std::ldexp(static_cast<long double>(burst), f) >
                                                    static_cast<long double>(L::burst_unit_limit)))
        --f;
    gcra_config c;
    c.base_ns = base_ns;
    c.frac = f;
    // mul = floor(rate * 2^(F + shift) / 1e9), computed exactly: rate = m * 2^(er - 53) with
    // an integer m < 2^53, and the product m * 2^k lies near 2^94, well inside 128 bits.
    const long double u = std::ldexp(r, f) / 1e9L;  // units per ns, <= 1000; only for the shift
    int e = 0;
    (void)std::frexp(u, &e);  // u = x * 2^e, x in [0.5, 1)
    int er = 0;
    const double fr = std::frexp(rate, &er);
    const auto m = static_cast<std::uint64_t>(std::ldexp(fr, 53));
    gcra_u128 q = 0;
    for (c.shift = 64 - e;;) {                // aim: u * 2^shift in [2^63, 2^64)
        const int k = er - 53 + f + c.shift;  // >= 40 for every accepted rate and F
        q = (static_cast<gcra_u128>(m) << k) / 1000000000u;
        if (q >> 64)
            --c.shift;
        else if (q < (gcra_u128{1} << 63))
            ++c.shift;
        else
            break;
    }
    c.mul = static_cast<std::uint64_t>(q);
    // rate * 2^F = m * 2^(er - 53 + F), and er - 53 + F < -12 for every accepted rate and F
    // (rate * 2^F <= 1e12 < 2^40 while m >= 2^52).
    c.num = m;
    c.den_shift = 53 - er - f;
    c.burst_units = static_cast<std::int64_t>(std::floor(std::ldexp(static_cast<long double>(burst), f)));
    const std::int64_t lim = c.d_for(L::rebase_units);
    c.max_d = lim < L::max_wait_ns ? lim : L::max_wait_ns;
    // units per ns = num / den exactly, den = 1e9 * 2^den_shift < 2^64 (den_shift <= 32 for
    // every accepted rate and F): after den / g ns V has advanced by exactly num / g units.
    const std::uint64_t den = std::uint64_t{1000000000} << c.den_shift;
    std::uint64_t a = c.num, b = den;
    while (b != 0) {
        const std::uint64_t t = a % b;
        a = b;
        b = t;
    }
    if (den / a <= static_cast<std::uint64_t>(c.max_d / 2)) {
        c.period_ns = static_cast<std::int64_t>(den / a);
        c.period_units = static_cast<std::int64_t>(c.num / a);
    }
    return c;
}

/// Converts a token balance (units of `from`; negative = debt) to units of `to`, rounding
/// towards fewer tokens, clamped to [-debt cap, to.burst_units].
inline std::int64_t gcra_rescale(std::int64_t balance, const gcra_config& from,
                                 const gcra_config& to) noexcept {
    gcra_i128 b = balance;
    if (to.frac >= from.frac)
        b = b * (gcra_i128{1} << (to.frac - from.frac));
    else
        b = b >> (from.frac - to.frac);  // arithmetic: floors, so debt grows and tokens shrink
    if (b > to.burst_units) b = to.burst_units;
    if (b < -gcra_limits::debt_cap_units) b = -gcra_limits::debt_cap_units;
    return static_cast<std::int64_t>(b);
}

/// d in ns, saturating at the int64 range (a coarser clock's time_point::max() would overflow).
template <class Duration>
std::int64_t to_ns(Duration d) noexcept {
    using ns = std::chrono::nanoseconds;
    if constexpr (std::ratio_greater<typename Duration::period, ns::period>::value) {
        constexpr auto hi = std::chrono::duration_cast<Duration>(ns::max());
        constexpr auto lo = std::chrono::duration_cast<Duration>(ns::min());
        if (d >= hi) return std::numeric_limits<std::int64_t>::max();
        if (d <= lo) return std::numeric_limits<std::int64_t>::min();
    }
    return std::chrono::duration_cast<ns>(d).count();
}

/// The first time_point of TimePoint at or after `t` ns, saturating at TimePoint::max().
template <class TimePoint>
TimePoint ns_to_time_point(std::int64_t t) noexcept {
    using D = typename TimePoint::duration;
    const auto d = std::chrono::ceil<D>(std::chrono::nanoseconds(t));
    if (std::chrono::duration_cast<std::chrono::nanoseconds>(d).count() < t)
        return TimePoint::max();  // wrapped
    return TimePoint(d);
}

}  // namespace millrace::detail
