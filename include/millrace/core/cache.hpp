// millrace/core/cache.hpp: the cache-line constant and a padding wrapper.
//
// `std::hardware_destructive_interference_size` is not usable here: clang 14 with
// libstdc++ 12 lacks it, and g++ 12 warns (-Winterference-size) when a header uses it
// because its value may change between compiler versions, silently breaking ABI.
// millrace therefore fixes its own constant, overridable with MILLRACE_CACHE_LINE
// (128 suits CPUs whose adjacent-line prefetcher pulls lines in pairs, such as
// recent Intel cores, and Apple M-series, whose lines are 128 bytes).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "millrace/core/config.hpp"

namespace millrace::detail {

inline constexpr std::size_t cache_line = MILLRACE_CACHE_LINE;
static_assert(cache_line >= alignof(std::max_align_t) && (cache_line & (cache_line - 1)) == 0,
              "MILLRACE_CACHE_LINE must be a power of two no smaller than alignof(max_align_t)");

/// `T` alone on its own cache line(s): no other object shares a line with it, so
/// writes to it never invalidate a neighbour's line (false sharing).
template <class T>
struct alignas(cache_line) padded {
    T value{};

    padded() = default;
    template <class... A>
    requires std::is_constructible_v<T, A...>
    explicit padded(std::in_place_t, A&&... args) : value(std::forward<A>(args)...) {}

    T& get() noexcept { return value; }
    const T& get() const noexcept { return value; }
    T* operator->() noexcept { return &value; }
    const T* operator->() const noexcept { return &value; }
    T& operator*() noexcept { return value; }
    const T& operator*() const noexcept { return value; }
};

// alignas makes sizeof a multiple of the alignment; proven here for representative types
// so a change to the wrapper that broke it would not compile.
static_assert(alignof(padded<char>) == cache_line && sizeof(padded<char>) == cache_line);
static_assert(alignof(padded<std::size_t>) == cache_line && sizeof(padded<std::size_t>) == cache_line);
static_assert(sizeof(padded<char[cache_line + 1]>) == 2 * cache_line);

}  // namespace millrace::detail
