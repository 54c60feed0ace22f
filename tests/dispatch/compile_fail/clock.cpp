// Must not compile: the clock policy is not a clock_policy.
#include "millrace/dispatch/dispatcher.hpp"
struct bad : millrace::default_policies {
    using clock = int;
};
int main() {
    millrace::basic_dispatcher<bad> d({});
}
