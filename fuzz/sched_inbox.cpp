// Fuzz target: the scheduler's inbox (Vyukov MPSC over a chunked slab) against a model.
// Each input byte is an operation of one of four simulated producers or the consumer:
// a whole push, the first half of a push (the producer stalls after its tail exchange), the
// second half (it resumes), a pop, or returning a popped node to the slab. The model keeps
// each producer's items in order; any lost, duplicated or reordered item, a node handed out
// twice by the slab, or an "empty" while items wait aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <set>
#include <vector>

#include "millrace/sched/detail/mpsc_inbox.hpp"
#include "millrace/sched/detail/node_slab.hpp"

namespace {

using millrace::detail::inbox_node;
using millrace::detail::mpsc_inbox;
using millrace::detail::node_slab;

struct node : inbox_node {
    std::uint64_t value = 0;
};

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    constexpr int producers = 4;
    node_slab<node> slab(2);  // tiny first chunk: growth happens early and often
    mpsc_inbox q;
    struct stalled_push {
        node* n = nullptr;
        inbox_node* prev = nullptr;
    };
    stalled_push stalled[producers];
    std::uint64_t next_seq[producers] = {};
    std::deque<std::uint64_t> model[producers];
    std::set<std::uint32_t> held;  // slots allocated and not yet released
    std::vector<node*> popped;     // popped, not yet released
    auto allocate = [&]() {
        node* n = slab.allocate();
        check(held.insert(n->slot).second);  // never handed out twice
        check(slab.find(n->slot) == n);
        return n;
    };
    auto take = [&](inbox_node* out) {
        auto* n = static_cast<node*>(out);
        const auto p = static_cast<std::size_t>(n->value >> 32);
        check(p < producers && !model[p].empty() && model[p].front() == n->value);
        model[p].pop_front();
        popped.push_back(n);
    };
    for (std::size_t i = 0; i < size; ++i) {
        const int p = data[i] & 3;
        switch ((data[i] >> 2) % 5) {
            case 0:  // a whole push
            case 1:  // a push that stalls between its two steps
                if (stalled[p].n != nullptr) break;
                {
                    node* n = allocate();
                    n->value = static_cast<std::uint64_t>(p) << 32 | next_seq[p]++;
                    model[p].push_back(n->value);
                    if ((data[i] >> 2) % 5 == 0) {
                        q.push(n);
                    } else {
                        stalled[p] = {n, q.exchange_tail(n)};
                    }
                }
                break;
            case 2:  // the stalled producer resumes
                if (stalled[p].n != nullptr) {
                    mpsc_inbox::link(stalled[p].prev, stalled[p].n);
                    stalled[p] = {};
                }
                break;
            case 3: {  // the consumer pops
                inbox_node* out = nullptr;
                const auto r = q.pop(out);
                if (r == mpsc_inbox::pop_status::item) {
                    take(out);
                } else if (r == mpsc_inbox::pop_status::empty) {
                    for (auto& m : model)
                        check(m.empty());
                    check(q.empty());
                } else {
                    bool any_stalled = false;
                    for (auto& s : stalled)
                        any_stalled |= s.n != nullptr;
                    check(any_stalled);  // a gap needs a producer between its steps
                }
                break;
            }
            default:  // the consumer recycles what it popped
                for (node* n : popped) {
                    check(held.erase(n->slot) == 1);
                    slab.release(n);
                }
                popped.clear();
                break;
        }
    }
    // Everyone resumes; the consumer drains: every item comes out exactly once, in order.
    for (auto& s : stalled)
        if (s.n != nullptr) mpsc_inbox::link(s.prev, s.n);
    for (;;) {
        inbox_node* out = nullptr;
        const auto r = q.pop(out);
        if (r != mpsc_inbox::pop_status::item) {
            check(r == mpsc_inbox::pop_status::empty);
            break;
        }
        take(out);
    }
    for (auto& m : model)
        check(m.empty());
    return 0;
}
