// Compiles against the umbrella header only, as a user would, and checks that the version the
// build system reports (MILLRACE_EXPECTED_VERSION, from CMake) is the header's own.
#include <cstdio>
#include <cstring>

#include "millrace/millrace.hpp"

#ifndef MILLRACE_EXPECTED_VERSION
#define MILLRACE_EXPECTED_VERSION MILLRACE_VERSION_STRING  // pkg-config: nothing to compare
#endif

int main() {
    millrace::task t = [] { std::puts("millrace consumer: a task ran"); };
    t();
    std::printf("millrace %s (build system says %s)\n", millrace::version.string, MILLRACE_EXPECTED_VERSION);
    return std::strcmp(millrace::version.string, MILLRACE_EXPECTED_VERSION) == 0 ? 0 : 1;
}
