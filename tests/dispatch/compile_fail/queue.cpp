// Must not compile: the ring policy lacks try_pop.
#include "millrace/dispatch/dispatcher.hpp"
template <class T>
struct bad_ring {
    explicit bad_ring(std::size_t) {}
    bool try_push(T&&) { return true; }
};
struct bad : millrace::default_policies {
    template <class T>
    using queue = bad_ring<T>;
};
int main() {
    millrace::basic_dispatcher<bad> d({});
}
