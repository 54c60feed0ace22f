// millrace/version.hpp: the library's version, the one source of truth for it.
//
// CMakeLists.txt reads project(VERSION) from the three MILLRACE_VERSION_* lines below, so a
// release changes only this file. It lives in the source tree so that a plain `-I include`, a
// copy of include/ or Compiler Explorer sees the same header as the installed package.
#pragma once

#define MILLRACE_VERSION_MAJOR 0
#define MILLRACE_VERSION_MINOR 1
#define MILLRACE_VERSION_PATCH 0

#define MILLRACE_DETAIL_STR2(x) #x
#define MILLRACE_DETAIL_STR(x) MILLRACE_DETAIL_STR2(x)
/// "MAJOR.MINOR.PATCH", built from the three numbers above.
#define MILLRACE_VERSION_STRING                 \
    MILLRACE_DETAIL_STR(MILLRACE_VERSION_MAJOR) \
    "." MILLRACE_DETAIL_STR(MILLRACE_VERSION_MINOR) "." MILLRACE_DETAIL_STR(MILLRACE_VERSION_PATCH)

namespace millrace {

/// The version as values, for code that checks it at run time.
struct version_info {
    int major;           ///< incompatible API changes
    int minor;           ///< added features (0.x: may still change the API)
    int patch;           ///< fixes only
    const char* string;  ///< "MAJOR.MINOR.PATCH"
};

/// The version of the millrace headers this translation unit was compiled against.
inline constexpr version_info version{MILLRACE_VERSION_MAJOR, MILLRACE_VERSION_MINOR, MILLRACE_VERSION_PATCH,
                                      MILLRACE_VERSION_STRING};

}  // namespace millrace
