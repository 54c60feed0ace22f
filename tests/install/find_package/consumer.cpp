// Compiles against the umbrella header only, as a user would, and checks the version.
#include <millrace/millrace.hpp>

#include <cstdio>
#include <cstring>

int main() {
    millrace::task t = [] { std::puts("millrace consumer: a task ran"); };
    t();
    std::printf("millrace %s\n", millrace::version.string);
    return std::strcmp(millrace::version.string, MILLRACE_VERSION_STRING) == 0 ? 0 : 1;
}
