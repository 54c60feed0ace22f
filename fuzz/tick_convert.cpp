// Fuzzes millrace::tick_converter: for any origin, tick length and time point, the
// conversions never overflow (UBSan), ceil never rounds down, floor never rounds up,
// and they agree with a 128-bit reference computation.
#include <millrace/time/clock.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {
template <class T>
T take(const std::uint8_t*& data, std::size_t& size) {
    T v{};
    const std::size_t n = size < sizeof(T) ? size : sizeof(T);
    std::memcpy(&v, data, n);
    data += n;
    size -= n;
    return v;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using tp = std::chrono::steady_clock::time_point;
    using dur = std::chrono::steady_clock::duration;
    const auto origin = take<std::int64_t>(data, size);
    auto tick = take<std::int64_t>(data, size);
    const auto when = take<std::int64_t>(data, size);
    const auto tick_no = take<std::uint64_t>(data, size);
    if (tick <= 0) tick = 1 + static_cast<std::int64_t>(static_cast<std::uint64_t>(tick) % 1'000'000'000u);
    const millrace::tick_converter<tp> conv{tp{dur{origin}}, dur{tick}};

    const __int128 diff = static_cast<__int128>(when) - origin;
    const std::uint64_t max = ~std::uint64_t{0};
    __int128 ref_floor = diff <= 0 ? 0 : diff / tick;
    __int128 ref_ceil = diff <= 0 ? 0 : (diff + tick - 1) / tick;
    if (ref_floor > static_cast<__int128>(max)) ref_floor = max;
    if (ref_ceil > static_cast<__int128>(max)) ref_ceil = max;
    if (conv.to_tick_floor(tp(dur(when))) != static_cast<std::uint64_t>(ref_floor)) std::abort();
    if (conv.to_tick_ceil(tp(dur(when))) != static_cast<std::uint64_t>(ref_ceil)) std::abort();

    // to_time saturates, and a tick's start time maps back to that tick.
    const __int128 t = static_cast<__int128>(origin) + static_cast<__int128>(tick_no) * tick;
    const auto back = conv.to_time(tick_no);
    if (t > INT64_MAX) {
        if (back != tp::max()) std::abort();
    } else {
        if (back.time_since_epoch().count() != static_cast<std::int64_t>(t)) std::abort();
        if (tick_no > 0 && conv.to_tick_ceil(back) != tick_no) std::abort();
    }
    return 0;
}
