// Must not compile: a recurring schedule copies its task per firing, and this lambda owns a
// unique_ptr. The build stops at sharded_scheduler's static_assert, whose message the test
// matches. Built with MILLRACE_COMPILE_CONTROL, the same file schedules a copyable lambda
// and compiles, so the failure is the one the assert names and nothing else.
#include "millrace/core/unique_function.hpp"

#include <chrono>
#include <memory>

#include "millrace/sched/sharded_scheduler.hpp"

int main() {
    using namespace std::chrono_literals;
    millrace::scheduler_options<> opts;
    opts.manual = true;
    millrace::sharded_scheduler<millrace::task> sched([](millrace::task&& t) { t(); }, opts);
#ifdef MILLRACE_COMPILE_CONTROL
    auto owned = std::make_shared<int>(1);
#else
    auto owned = std::make_unique<int>(1);
#endif
    auto h = sched.schedule_every(1s, [p = std::move(owned)] { (void)*p; });
    return h ? 0 : 1;
}
