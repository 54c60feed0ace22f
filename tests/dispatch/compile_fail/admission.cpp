// Must not compile: the admission policy has no retry_after().
#include "millrace/dispatch/dispatcher.hpp"
template <class Clock>
struct bad_admission {
    bad_admission(const millrace::queue_config&, const Clock&) {}
    millrace::admission admit(const millrace::queue_state&) { return millrace::admission::accepted; }
    void cancel(const millrace::queue_state&) {}
};
struct bad : millrace::default_policies {
    template <class Clock>
    using admission = bad_admission<Clock>;
};
int main() {
    millrace::basic_dispatcher<bad> d({});
}
