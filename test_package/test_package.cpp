// Runs a few tasks through the packaged headers: two threads share a list of move-only tasks
// and the program fails unless every task ran exactly once.
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "millrace/core/unique_function.hpp"
#include "millrace/version.hpp"

int main() {
    constexpr int tasks = 100;
    std::atomic<int> ran{0};
    std::vector<millrace::task> work;
    for (int i = 0; i < tasks; ++i)
        work.emplace_back([owned = std::make_unique<int>(1), &ran] { ran.fetch_add(*owned); });
    std::atomic<std::size_t> next{0};
    auto drain = [&] {
        for (std::size_t i; (i = next.fetch_add(1)) < work.size();) work[i]();
    };
    std::thread helper(drain);
    drain();
    helper.join();
    std::printf("millrace %s: %d of %d tasks ran\n", millrace::version.string, ran.load(), tasks);
    return ran.load() == tasks ? 0 : 1;
}
