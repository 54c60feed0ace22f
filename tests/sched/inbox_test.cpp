// The scheduler's inbox and slab, single-threaded against a model: FIFO per producer, the
// gap case (a producer stalled between its two push steps), recycling, growth, lookup.
#include "millrace/sched/detail/mpsc_inbox.hpp"

#include <deque>
#include <random>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "millrace/sched/detail/node_slab.hpp"

namespace {

using millrace::detail::inbox_node;
using millrace::detail::mpsc_inbox;
using millrace::detail::node_slab;

struct node : inbox_node {
    std::uint64_t value = 0;
};

std::vector<std::uint64_t> drain(mpsc_inbox& q, node_slab<node>& slab) {
    std::vector<std::uint64_t> out;
    inbox_node* n = nullptr;
    while (q.pop(n) == mpsc_inbox::pop_status::item) {
        out.push_back(static_cast<node*>(n)->value);
        slab.release(static_cast<node*>(n));
    }
    return out;
}

TEST(SchedInbox, FifoAndEmpty) {
    node_slab<node> slab(4);
    mpsc_inbox q;
    EXPECT_TRUE(q.empty());
    inbox_node* out = nullptr;
    EXPECT_EQ(q.pop(out), mpsc_inbox::pop_status::empty);
    for (std::uint64_t round = 0; round < 5; ++round) {
        for (std::uint64_t i = 0; i < 10; ++i) {
            node* n = slab.allocate();
            n->value = round * 100 + i;
            q.push(n);
        }
        EXPECT_FALSE(q.empty());
        const auto got = drain(q, slab);
        ASSERT_EQ(got.size(), 10u);
        for (std::uint64_t i = 0; i < 10; ++i)
            EXPECT_EQ(got[i], round * 100 + i);
        EXPECT_TRUE(q.empty());
    }
    // Each item pushed and popped one at a time: every pop goes through the stub re-push.
    for (std::uint64_t i = 0; i < 100; ++i) {
        node* n = slab.allocate();
        n->value = i;
        q.push(n);
        const auto got = drain(q, slab);
        ASSERT_EQ(got.size(), 1u) << "item " << i << " lost";
        EXPECT_EQ(got[0], i);
    }
}

TEST(SchedInbox, GapHidesLaterItemsUntilLinked) {
    node_slab<node> slab(8);
    mpsc_inbox q;
    node* a = slab.allocate();
    node* b = slab.allocate();
    node* c = slab.allocate();
    a->value = 1;
    b->value = 2;
    c->value = 3;
    q.push(a);
    inbox_node* prev_b = q.exchange_tail(b);  // producer of b stalls here
    q.push(c);
    // a is the last linked node but not the tail: it cannot be handed out while b's producer
    // may still write a's link, so a, b and c all wait.
    inbox_node* out = nullptr;
    EXPECT_EQ(q.pop(out), mpsc_inbox::pop_status::gap);
    EXPECT_FALSE(q.empty());
    mpsc_inbox::link(prev_b, b);  // it resumes
    const auto got = drain(q, slab);
    EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2, 3}));
    EXPECT_TRUE(q.empty());
}

TEST(SchedInbox, SlabGrowsAndLooksUpEverySlot) {
    node_slab<node> slab(3);  // rounded up to 4
    EXPECT_EQ(slab.capacity(), 4u);
    std::vector<node*> held;
    std::set<std::uint32_t> slots;
    for (int i = 0; i < 100; ++i) {
        held.push_back(slab.allocate());
        EXPECT_TRUE(slots.insert(held.back()->slot).second) << "slot handed out twice";
    }
    EXPECT_GE(slab.capacity(), 100u);
    EXPECT_EQ(slab.capacity(), 4u * (1u + 2 + 4 + 8 + 16));  // 124: capacity doubles
    for (node* n : held)
        EXPECT_EQ(slab.find(n->slot), n);
    EXPECT_EQ(slab.find(100000), nullptr);
    for (node* n : held)
        slab.release(n);
    // Recycled: no further growth for the same number of live nodes.
    for (int i = 0; i < 100; ++i)
        held[static_cast<std::size_t>(i)] = slab.allocate();
    EXPECT_EQ(slab.capacity(), 124u);
    EXPECT_THROW(node_slab<node>(0), std::invalid_argument);
}

// Random interleavings of several producers' two push steps and the consumer's pops against a
// model: nothing lost, nothing duplicated, each producer's items in its own order.
TEST(SchedInbox, RandomInterleavingsMatchModel) {
    std::mt19937_64 rng(7);
    for (int trial = 0; trial < 200; ++trial) {
        node_slab<node> slab(2);
        mpsc_inbox q;
        constexpr int producers = 3;
        struct pending {
            node* n = nullptr;
            inbox_node* prev = nullptr;
        };
        std::vector<pending> stalled(producers);
        std::vector<std::uint64_t> next_seq(producers, 0);
        std::vector<std::deque<std::uint64_t>> model(producers);  // linked or stalled, in order
        std::uint64_t pushed = 0, popped = 0;
        for (int step = 0; step < 400; ++step) {
            const int op = static_cast<int>(rng() % 4);
            const int p = static_cast<int>(rng() % producers);
            if (op == 0 && stalled[p].n == nullptr) {  // begin a push (and maybe stall)
                node* n = slab.allocate();
                n->value = static_cast<std::uint64_t>(p) << 32 | next_seq[p]++;
                model[p].push_back(n->value);
                ++pushed;
                if (rng() % 2) {
                    stalled[p] = {n, q.exchange_tail(n)};
                } else {
                    q.push(n);
                }
            } else if (op == 1 && stalled[p].n != nullptr) {  // resume
                mpsc_inbox::link(stalled[p].prev, stalled[p].n);
                stalled[p] = {};
            } else {  // pop
                inbox_node* out = nullptr;
                const auto r = q.pop(out);
                if (r == mpsc_inbox::pop_status::item) {
                    const auto v = static_cast<node*>(out)->value;
                    const auto who = static_cast<std::size_t>(v >> 32);
                    ASSERT_LT(who, model.size());
                    ASSERT_FALSE(model[who].empty());
                    ASSERT_EQ(model[who].front(), v) << "out of order or duplicated";
                    model[who].pop_front();
                    slab.release(static_cast<node*>(out));
                    ++popped;
                } else if (r == mpsc_inbox::pop_status::empty) {
                    for (auto& m : model)
                        ASSERT_TRUE(m.empty()) << "empty while items wait";
                }
            }
        }
        for (auto& s : stalled)
            if (s.n) mpsc_inbox::link(s.prev, s.n);
        inbox_node* out = nullptr;
        for (;;) {
            const auto r = q.pop(out);
            if (r != mpsc_inbox::pop_status::item) {
                ASSERT_EQ(r, mpsc_inbox::pop_status::empty);
                break;
            }
            const auto v = static_cast<node*>(out)->value;
            ASSERT_EQ(model[v >> 32].front(), v);
            model[v >> 32].pop_front();
            slab.release(static_cast<node*>(out));
            ++popped;
        }
        ASSERT_EQ(popped, pushed) << "trial " << trial;
    }
}

}  // namespace
