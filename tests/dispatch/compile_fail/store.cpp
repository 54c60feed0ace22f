// Must not compile: this dispatcher keeps tasks in memory only.
#include "millrace/dispatch/dispatcher.hpp"
struct bad : millrace::default_policies {
    using store = int;
};
int main() {
    millrace::basic_dispatcher<bad> d({});
}
