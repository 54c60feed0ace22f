// Must not compile: the router cannot be called with (hash, shards).
#include "millrace/dispatch/dispatcher.hpp"
struct bad_router {
    std::size_t operator()(const char*) const { return 0; }
};
struct bad : millrace::default_policies {
    using router = bad_router;
};
int main() {
    millrace::basic_dispatcher<bad> d({});
}
