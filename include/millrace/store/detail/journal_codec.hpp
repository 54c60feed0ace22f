// millrace/store/detail/journal_codec.hpp: encoding of job_record fields in journal records.
//
// Field-generic: integers and enums as 8 bytes, time points and durations as their tick
// count (8 bytes), optionals as a presence byte and the value, strings and byte containers
// as a 4-byte length and the bytes. Decoding throws journal_decode_error on a payload that
// ends early or holds an out-of-range enum; the caller checks what the values mean.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "millrace/store/detail/journal_format.hpp"

namespace millrace::detail::journal {

template <class T>
struct is_time_point : std::false_type {};
template <class C, class D>
struct is_time_point<std::chrono::time_point<C, D>> : std::true_type {};
template <class T>
struct is_duration : std::false_type {};
template <class R, class P>
struct is_duration<std::chrono::duration<R, P>> : std::true_type {};
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
void put(payload_writer& w, const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        w.u8(v ? 1 : 0);
    } else if constexpr (std::is_enum_v<T>) {
        w.u64(static_cast<std::uint64_t>(static_cast<std::underlying_type_t<T>>(v)));
    } else if constexpr (std::is_integral_v<T>) {
        w.u64(static_cast<std::uint64_t>(v));
    } else if constexpr (is_time_point<T>::value) {
        w.i64(static_cast<std::int64_t>(v.time_since_epoch().count()));
    } else if constexpr (is_duration<T>::value) {
        w.i64(static_cast<std::int64_t>(v.count()));
    } else if constexpr (is_optional<T>::value) {
        w.u8(v.has_value() ? 1 : 0);
        if (v) put(w, *v);
    } else {  // strings and contiguous byte containers
        w.str(std::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
    }
}

template <class T>
void get(payload_reader& r, T& v) {
    if constexpr (std::is_same_v<T, bool>) {
        const auto b = r.u8();
        if (b > 1) throw journal_decode_error("bad boolean");
        v = b == 1;
    } else if constexpr (std::is_enum_v<T>) {
        v = static_cast<T>(static_cast<std::underlying_type_t<T>>(r.u64()));
    } else if constexpr (std::is_integral_v<T>) {
        v = static_cast<T>(r.u64());
    } else if constexpr (is_time_point<T>::value) {
        v = T(typename T::duration(static_cast<typename T::rep>(r.i64())));
    } else if constexpr (is_duration<T>::value) {
        v = T(static_cast<typename T::rep>(r.i64()));
    } else if constexpr (is_optional<T>::value) {
        const auto b = r.u8();
        if (b > 1) throw journal_decode_error("bad optional flag");
        if (b == 0) {
            v.reset();
        } else {
            typename T::value_type x{};
            get(r, x);
            v = std::move(x);
        }
    } else {
        const std::string s = r.str();
        using E = typename T::value_type;
        static_assert(sizeof(E) == 1, "byte containers only");
        v = T(reinterpret_cast<const E*>(s.data()), reinterpret_cast<const E*>(s.data()) + s.size());
    }
}

}  // namespace millrace::detail::journal
