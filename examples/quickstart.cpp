// millrace quickstart: tasks are move-only callables (millrace::task), so they can own
// their state outright, and an mpmc_queue moves a stream of them between threads.
#include <millrace/millrace.hpp>
#include <millrace/queue/mpmc_queue.hpp>

#include <atomic>
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

    // A stream of work through a bounded queue: two producers, two workers. push() blocks
    // while the queue is full; pop() blocks while it is empty and returns an empty optional
    // once the queue is closed and drained.
    millrace::mpmc_queue<millrace::task> queue(64);
    std::atomic<long> done{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < 2; ++w) {
        workers.emplace_back([&] {
            while (auto t = queue.pop()) (*t)();
        });
    }
    std::vector<std::thread> producers;
    for (int p = 0; p < 2; ++p) {
        producers.emplace_back([&] {
            for (int i = 1; i <= 1000; ++i) queue.push(millrace::task([i, &done] { done += i; }));
        });
    }
    for (auto& p : producers) p.join();
    queue.close();  // no more work: the workers drain what is left and stop
    for (auto& w : workers) w.join();
    std::printf("  2 producers x 1000 tasks through an mpmc_queue, sum %ld\n", done.load());

    return total == 10 && done.load() == 2 * 500500 ? 0 : 1;
}
