// Construct + invoke + destroy of a small task: millrace::unique_function against
// std::function (the baseline a user would otherwise pick).
#include <array>
#include <cstdint>
#include <functional>

#include <benchmark/benchmark.h>

#include "millrace/core/unique_function.hpp"

namespace {

template <class Function>
void small_lambda(benchmark::State& state) {
    std::uint64_t a = 1, b = 2, c = 3;
    for (auto _ : state) {
        Function f = [pa = &a, pb = &b, pc = &c] { return *pa + *pb + *pc; };
        benchmark::DoNotOptimize(f);
        benchmark::DoNotOptimize(f());
    }
    state.SetItemsProcessed(state.iterations());
}

template <class Function>
void large_lambda(benchmark::State& state) {
    std::array<std::uint64_t, 16> big{};
    big[3] = 3;
    for (auto _ : state) {
        Function f = [big] { return big[3]; };
        benchmark::DoNotOptimize(f);
        benchmark::DoNotOptimize(f());
    }
    state.SetItemsProcessed(state.iterations());
}

template <class Function>
void move_chain(benchmark::State& state) {
    std::uint64_t a = 1;
    for (auto _ : state) {
        Function f = [pa = &a] { return *pa; };
        Function g = std::move(f);
        Function h = std::move(g);
        benchmark::DoNotOptimize(h());
    }
    state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK(small_lambda<millrace::unique_function<std::uint64_t()>>)->Name("function/small/millrace");
BENCHMARK(small_lambda<std::function<std::uint64_t()>>)->Name("function/small/std_function");
BENCHMARK(large_lambda<millrace::unique_function<std::uint64_t()>>)->Name("function/large/millrace");
BENCHMARK(large_lambda<std::function<std::uint64_t()>>)->Name("function/large/std_function");
BENCHMARK(move_chain<millrace::unique_function<std::uint64_t()>>)->Name("function/move2/millrace");
BENCHMARK(move_chain<std::function<std::uint64_t()>>)->Name("function/move2/std_function");

BENCHMARK_MAIN();
