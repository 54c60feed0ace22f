// Fuzzes millrace::token_bucket: random sequences of advance / try_acquire / reserve /
// refund / acquire_for / set_rate / available under a manual clock, replayed against a simple
// exact model (a balance of fixed-point tokens refilled by floor(rate * t), computed with
// 128-bit division rather than the bucket's multiply-and-correct), abort() on any disagreement.
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "millrace/flow/token_bucket.hpp"

namespace {

using i128 = millrace::detail::gcra_i128;
using millrace::detail::gcra_limits;

constexpr double rates[] = {0.001, 0.37, 1.0, 3.0, 10.0, 1000.0, 12345.678, 1e6, 7e8, 1e9};
constexpr double bursts[] = {1.0, 1.5, 2.0, 5.0, 64.0, 1000.0, 1e6};

struct model {
    double rate = 1.0, burst = 1.0;
    int frac = 0;
    std::int64_t max_d = 0;  // the bucket re-bases its token time after this many ns
    std::int64_t base = 0, last_v = 0;
    i128 balance = 0;  // units of 2^-frac tokens; negative = debt

    i128 burst_units() const { return static_cast<i128>(std::ldexp(static_cast<long double>(burst), frac)); }
    std::uint64_t burst_tokens() const { return static_cast<std::uint64_t>(std::floor(burst)); }

    // floor(d * rate * 2^frac / 1e9) by exact division: rate = m * 2^(e - 53).
    std::int64_t v(std::int64_t now) const {
        int e = 0;
        const auto m = static_cast<i128>(std::ldexp(std::frexp(rate, &e), 53));
        const int sh = 53 - e - frac;  // > 0 for every rate here
        const i128 num = static_cast<i128>(now - base) * m;
        const i128 den = static_cast<i128>(1000000000) << sh;
        i128 q = num / den;
        if (num % den != 0 && num < 0) --q;
        return static_cast<std::int64_t>(q);
    }
    // The bucket's re-base (first mutating call past max_d, or a set_rate to the same rate and
    // burst): when the grid has a period P <= max_d / 2 (units per ns = m / den, P = den / g,
    // g = gcd(m, den)), the base moves by the largest multiple of P and nothing is lost;
    // otherwise token time restarts at 0 at `now`, dropping the sub-unit progress.
    void rebase_if_due(std::int64_t now) {
        const std::int64_t d = now - base;
        if (d <= max_d) return;
        int e = 0;
        const auto m = static_cast<std::uint64_t>(std::ldexp(std::frexp(rate, &e), 53));
        const std::uint64_t den = std::uint64_t{1000000000} << (53 - e - frac);
        std::uint64_t g = m, h = den;
        while (h != 0) {
            const std::uint64_t t = g % h;
            g = h;
            h = t;
        }
        const std::uint64_t p = den / g;
        if (p <= static_cast<std::uint64_t>(max_d / 2)) {
            const std::int64_t k = d / static_cast<std::int64_t>(p);
            base += k * static_cast<std::int64_t>(p);
            last_v -= k * static_cast<std::int64_t>(m / g);
        } else {
            base = now;
            last_v = 0;
        }
    }
    void refill(std::int64_t now) {
        const std::int64_t nv = v(now);
        balance += nv - last_v;
        if (balance > burst_units()) balance = burst_units();
        last_v = nv;
    }
    void reset(double r, double b, std::int64_t now) {
        rate = r;
        burst = b;
        // Derived here, not from make_gcra_config (the code under test): F is the finest
        // (<= 40) with rate * 2^F <= 1e9 units per 1e9 ns, and burst * 2^F <=
        // 2^44; max_d is the first ns at which token time reaches the re-base threshold.
        frac = 40;
        while (frac > 0 && (std::ldexp(static_cast<long double>(r), frac) > 1e9L ||
                            std::ldexp(static_cast<long double>(b), frac) > std::ldexp(1.0L, 44)))
            --frac;
        int e = 0;
        const auto m = static_cast<i128>(std::ldexp(std::frexp(r, &e), 53));
        const i128 den = static_cast<i128>(1000000000) << (53 - e - frac);
        const i128 w = gcra_limits::rebase_units;
        const i128 d = (w * den + m - 1) / m;  // ceil: the first d with floor(d * m / den) >= w
        max_d = d < gcra_limits::max_wait_ns ? static_cast<std::int64_t>(d) : gcra_limits::max_wait_ns;
        base = now;
        last_v = 0;
    }
};

std::size_t g_step = 0;
std::uint8_t g_op = 0;
std::uint64_t g_n = 0;
[[noreturn]] void fail() {
    std::fprintf(stderr, "token_bucket disagrees with the model at op %zu (kind %d, n %llu)\n", g_step,
                 g_op % 7, static_cast<unsigned long long>(g_n));
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    millrace::manual_clock clk;
    const double r0 = rates[data[0] % 10];
    const double b0 = bursts[data[1] % 7];
    millrace::token_bucket<millrace::manual_clock> bucket(r0, b0, clk);
    model m;
    const std::int64_t start = clk.now().time_since_epoch().count();
    m.reset(r0, b0, start);
    m.balance = m.burst_units();
    for (std::size_t i = 2; i + 4 <= size; i += 4) {
        const std::uint8_t op = data[i];
        const std::uint32_t arg =
            data[i + 1] | (data[i + 2] << 8) | (static_cast<std::uint32_t>(data[i + 3]) << 16);
        const std::int64_t now = clk.now().time_since_epoch().count();
        m.refill(now);
        const std::uint64_t n = arg % (m.burst_tokens() + 2);  // sometimes more than burst
        const i128 nu = static_cast<i128>(n) << m.frac;
        const int kind = op % 7;
        const bool calls_bucket =
            kind == 1 || kind == 2 || (kind == 3 && n != 0) ||
            (kind == 4 && (n <= m.burst_tokens() && (nu <= m.balance || m.balance >= 0)));
        if (calls_bucket) m.rebase_if_due(now);
        g_step = i / 4;
        g_op = op;
        g_n = n;
        switch (op % 7) {
            case 0: {  // advance: from 1 ns to ~1000 token intervals, log-spread
                const double step = 1e9 / m.rate;
                const double k =
                    std::ldexp(static_cast<double>(arg & 0xffff) / 65536.0, static_cast<int>(arg >> 16) % 12);
                const auto d = static_cast<std::int64_t>(step * k / 4.0) + 1;
                clk.advance(std::chrono::nanoseconds(d));
                break;
            }
            case 1: {
                const bool want = n <= m.burst_tokens() && nu <= m.balance;
                if (want) m.balance -= nu;
                if (bucket.try_acquire(n) != want) fail();
                break;
            }
            case 2: {
                std::optional<std::chrono::nanoseconds> want;
                if (n <= m.burst_tokens() && -(m.balance - nu) <= gcra_limits::debt_cap_units) {
                    const i128 after = m.balance - nu;
                    std::int64_t wait = 0;
                    if (after < 0) {  // smallest wait at which the refill covers the debt
                        const i128 target = static_cast<i128>(m.last_v) - after;
                        std::int64_t lo = 0, hi = 1;
                        while (hi < (std::int64_t{1} << 62) && static_cast<i128>(m.v(now + hi)) < target)
                            hi *= 2;
                        while (lo < hi) {
                            const std::int64_t mid = lo + (hi - lo) / 2;
                            if (static_cast<i128>(m.v(now + mid)) >= target)
                                hi = mid;
                            else
                                lo = mid + 1;
                        }
                        wait = lo;
                    }
                    // A debt due more than 2^61 ns (~73 years) after the base is refused.
                    if (now - m.base + wait < gcra_limits::max_wait_ns) {
                        m.balance = after;
                        want = std::chrono::nanoseconds(wait);
                    }
                }
                if (bucket.reserve(n) != want) fail();
                break;
            }
            case 3: {
                const std::uint64_t cap = m.burst_tokens() + 1;
                if (n > 0) {
                    m.balance += static_cast<i128>(n < cap ? n : cap) << m.frac;
                    if (m.balance > m.burst_units()) m.balance = m.burst_units();
                }
                bucket.refund(n);
                break;
            }
            case 4: {  // acquire_for only where the answer is immediate (no thread to advance time)
                const bool can_now = n <= m.burst_tokens() && nu <= m.balance;
                if (!can_now && m.balance >= 0 && n <= m.burst_tokens()) {
                    // Due later than a 0 timeout: must fail at once, taking nothing.
                    if (bucket.acquire_for(n, std::chrono::nanoseconds(0))) fail();
                } else if (can_now) {
                    m.balance -= nu;
                    if (!bucket.acquire_for(n, std::chrono::seconds(1))) fail();
                }
                break;
            }
            case 5: {
                const double r = rates[arg % 10];
                const double b = bursts[(arg >> 8) % 7];
                // The same configuration keeps its grid. "Same" is the fixed-point configuration
                // (the bucket's gcra_config::same_rate), not the doubles given: the same rate, F
                // and floor(burst * 2^F). Bursts 1.0 and 1.5 at F = 0 (7e8/s) are both 1 unit, a
                // bucket that behaves identically, so it keeps its grid and its sub-unit refill
                // progress; restarting token time here dropped that progress in the model only.
                model same = m;
                same.reset(r, b, now);
                if (r == m.rate && same.frac == m.frac && same.burst_units() == m.burst_units()) {
                    m.rebase_if_due(now);
                    m.burst = b;  // burst_tokens() = floor(b) is unchanged too
                    bucket.set_rate(r, b);
                    break;
                }
                const int old_frac = m.frac;
                i128 bal = m.balance;
                m.reset(r, b, now);
                bal = m.frac >= old_frac ? bal * (static_cast<i128>(1) << (m.frac - old_frac))
                                         : bal >> (old_frac - m.frac);
                if (bal > m.burst_units()) bal = m.burst_units();
                if (bal < -gcra_limits::debt_cap_units) bal = -gcra_limits::debt_cap_units;
                m.balance = bal;
                bucket.set_rate(r, b);
                break;
            }
            default: {
                const double want = std::ldexp(static_cast<double>(m.balance), -m.frac);
                if (bucket.available() != want) {
                    std::fprintf(stderr, "available %.17g, model %.17g (rate %g burst %g frac %d)\n",
                                 bucket.available(), want, m.rate, m.burst, m.frac);
                    fail();
                }
            }
        }
    }
    return 0;
}
