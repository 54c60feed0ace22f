// tests/support/stress.hpp: sizing of stress tests.
//
// Every stress test multiplies its iteration counts by MILLRACE_STRESS_SCALE (default 1.0),
// so the sanitizer presets can run the same tests smaller. scaled() never returns less
// than `floor`, so a tiny scale still exercises the code.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <string>

namespace millrace::test {

inline double stress_scale() {
    static const double scale = [] {
        const char* s = std::getenv("MILLRACE_STRESS_SCALE");
        if (s == nullptr || *s == '\0') return 1.0;
        const double v = std::strtod(s, nullptr);
        return v > 0.0 ? v : 1.0;
    }();
    return scale;
}

inline std::size_t scaled(std::size_t n, std::size_t floor = 1000) {
    const auto v = static_cast<std::size_t>(static_cast<double>(n) * stress_scale());
    return std::max(v, std::min(n, floor));
}

}  // namespace millrace::test
