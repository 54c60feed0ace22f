// millrace/core/detail/planted.hpp: the switch for the bugs that mutation tests plant.
//
// A mutation test rebuilds a test with -DMILLRACE_PLANT_BUG=<name> (cmake/millrace_dev.cmake)
// and expects it to fail. Code plants a bug with one line that the compiler removes in every
// other build, while the correct code stays compiled and type-checked in all of them:
//
//     if constexpr (detail::planted("lost_item")) return true;   // drops the item
//
// Keep a hook beside what it breaks, never wrapped around the code it guards.
#pragma once

#include <string_view>

#ifdef MILLRACE_PLANT_BUG
#define MILLRACE_DETAIL_STRINGIFY2(x) #x
#define MILLRACE_DETAIL_STRINGIFY(x) MILLRACE_DETAIL_STRINGIFY2(x)
#endif

namespace millrace::detail {

#ifdef MILLRACE_PLANT_BUG
inline constexpr std::string_view planted_bug = MILLRACE_DETAIL_STRINGIFY(MILLRACE_PLANT_BUG);
#else
inline constexpr std::string_view planted_bug{};
#endif

/// True only in the mutation-test build that plants the bug called `name`.
consteval bool planted(std::string_view name) {
    return !planted_bug.empty() && planted_bug == name;
}

}  // namespace millrace::detail
