// millrace quickstart: tasks are move-only callables (millrace::task), so they can own
// their state outright. Later components (queues, the scheduler, the dispatcher) move
// these same tasks between threads.
#include <millrace/millrace.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

int main() {
    std::printf("millrace %s quickstart\n", millrace::version.string);

    std::vector<millrace::task> tasks;
    auto greeting = std::make_unique<std::string>("hello from a move-only capture");
    tasks.emplace_back([g = std::move(greeting)] { std::printf("  %s\n", g->c_str()); });
    int total = 0;
    for (int i = 1; i <= 4; ++i) {
        tasks.emplace_back([i, &total] { total += i; });
    }

    // Run the batch on a worker thread; the tasks move with it.
    std::thread worker([batch = std::move(tasks)]() mutable {
        for (auto& t : batch) t();
    });
    worker.join();

    std::printf("  sum of 1..4 computed by tasks: %d\n", total);
    return total == 10 ? 0 : 1;
}
