// Must not compile: the metrics policy does not say whether it is enabled.
#include "millrace/dispatch/dispatcher.hpp"
struct bad : millrace::default_policies {
    struct metrics {};
};
int main() {
    millrace::basic_dispatcher<bad> d({});
}
