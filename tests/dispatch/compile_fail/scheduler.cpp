// Must not compile: the scheduler has no poll(time_point).
#include "millrace/dispatch/dispatcher.hpp"
template <class Item, class Clock>
struct bad_scheduler {
    bad_scheduler(const Clock&, millrace::delay_sink<Item>, bool) {}
    void start() {}
    void schedule(typename Clock::time_point, Item&&) {}
    std::size_t take_all(const millrace::delay_sink<Item>&) { return 0; }
    void stop() {}
};
struct bad : millrace::default_policies {
    template <class Item, class Clock>
    using scheduler = bad_scheduler<Item, Clock>;
};
int main() {
    millrace::basic_dispatcher<bad> d({});
}
