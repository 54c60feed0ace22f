// Fuzzes mpmc_queue and spsc_queue: the input is a capacity and a sequence of operations
// (every try, bulk, timed and non-blocking uses of the blocking forms, close), replayed
// on both queues and on a std::deque reference model; any disagreement in a return value,
// a popped value, size() or closed() aborts. Values own heap memory, so ASan reports a
// leaked or doubly destroyed item.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include "millrace/queue/mpmc_queue.hpp"
#include "millrace/queue/spsc_queue.hpp"

namespace {

struct value {
    std::unique_ptr<std::uint64_t> p;
    value() = default;
    explicit value(std::uint64_t v) : p(std::make_unique<std::uint64_t>(v)) {}
    std::uint64_t get() const { return p ? *p : ~std::uint64_t{0}; }
};

void check(bool ok) {
    if (!ok) std::abort();
}

template <class Q>
struct harness {
    Q q;
    std::deque<std::uint64_t> model;
    std::size_t cap;
    bool closed = false;
    std::uint64_t next = 1;

    explicit harness(std::size_t c) : q(c), cap(c) {}

    bool room() const { return !closed && model.size() < cap; }
    void pushed(bool ok, std::uint64_t v) {
        check(ok == room());
        if (ok) model.push_back(v);
    }
    void popped(std::optional<std::uint64_t> got) {
        check(got.has_value() == !model.empty());
        if (got) {
            check(*got == model.front());
            model.pop_front();
        }
    }

    void step(std::uint8_t op, std::uint8_t arg) {
        using namespace std::chrono_literals;
        using millrace::queue_status;
        switch (op % 16) {
            case 0:
            case 1: {
                const std::uint64_t v = next++;
                value x(v);
                const bool expect = room();
                pushed(q.try_push(std::move(x)), v);
                check(expect || x.get() == v);  // a failed push leaves its argument untouched
                break;
            }
            case 2: {
                const std::uint64_t v = next++;
                pushed(q.try_emplace(v), v);
                break;
            }
            case 3:
            case 4: {
                auto o = q.try_pop();
                popped(o ? std::optional<std::uint64_t>(o->get()) : std::nullopt);
                break;
            }
            case 5: {
                value out;
                const bool ok = q.try_pop(out);
                popped(ok ? std::optional<std::uint64_t>(out.get()) : std::nullopt);
                break;
            }
            case 6: {  // bulk push of up to 8
                const std::size_t k = arg % 9;
                std::vector<value> in;
                for (std::size_t i = 0; i < k; ++i)
                    in.emplace_back(next + i);
                auto end =
                    q.try_push_bulk(std::make_move_iterator(in.begin()), std::make_move_iterator(in.end()));
                const auto n = static_cast<std::size_t>(end.base() - in.begin());
                const std::size_t expect = closed ? 0 : std::min(k, cap - model.size());
                check(n == expect);
                for (std::size_t i = 0; i < n; ++i)
                    model.push_back(next + i);
                for (std::size_t i = n; i < k; ++i)
                    check(in[i].get() == next + i);  // not pushed: untouched
                next += k;
                break;
            }
            case 7: {  // bulk pop of up to 8
                const std::size_t k = arg % 9;
                std::vector<value> out;
                const std::size_t n = q.try_pop_bulk(std::back_inserter(out), k);
                check(n == std::min(k, model.size()) && out.size() == n);
                for (auto& v : out)
                    popped(v.get());
                break;
            }
            case 8: {
                const std::uint64_t v = next++;
                const queue_status st = q.push_for(value(v), 0ms);
                check(st == (closed   ? queue_status::closed
                             : room() ? queue_status::ok
                                      : queue_status::timeout));
                if (st == queue_status::ok) model.push_back(v);
                break;
            }
            case 9: {
                value out;
                const queue_status st = q.pop_for(out, 0ms);
                check(st == (!model.empty() ? queue_status::ok
                             : closed       ? queue_status::closed
                                            : queue_status::timeout));
                if (st == queue_status::ok) popped(out.get());
                break;
            }
            case 10: {  // the blocking forms, only where they cannot block
                if (room() || closed) {
                    const std::uint64_t v = next++;
                    pushed(arg % 2 ? q.push(value(v)) : q.emplace(v), v);
                }
                break;
            }
            case 11: {
                if (!model.empty() || closed) {
                    auto o = q.pop();
                    popped(o ? std::optional<std::uint64_t>(o->get()) : std::nullopt);
                }
                break;
            }
            case 12: {
                if (arg % 8 == 0) {  // close rarely, so long open runs are explored too
                    q.close();
                    closed = true;
                }
                break;
            }
            default: {
                check(q.size() == model.size());
                check(q.empty() == model.empty());
                check(q.capacity() == cap);
                check(q.closed() == closed);
            }
        }
        check(q.size() == model.size());
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::size_t cap = 1 + data[0] % 17;
    harness<millrace::mpmc_queue<value>> m(cap);
    harness<millrace::spsc_queue<value>> s(cap);
    for (std::size_t i = 1; i + 1 < size; i += 2) {
        m.step(data[i], data[i + 1]);
        s.step(data[i], data[i + 1]);
    }
    return 0;
}
