// tests/support/counting_new.hpp: replaces the global operator new/delete to count
// allocations and live bytes, with a fault-injection hook: fail_allocation_after(n) makes
// the (n+1)-th allocation from now on throw std::bad_alloc. Include it in exactly ONE
// translation unit of a test binary.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace millrace::test {

struct allocation_counters {
    std::atomic<std::size_t> allocations{0};
    std::atomic<std::size_t> deallocations{0};
    std::atomic<std::size_t> bytes_live{0};
};

inline allocation_counters& allocation_stats() {
    static allocation_counters c;
    return c;
}

/// Allocations made since construction, by this or any thread.
class allocation_scope {
public:
    allocation_scope()
        : start_(allocation_stats().allocations.load()), bytes_(allocation_stats().bytes_live.load()) {}
    std::size_t allocations() const { return allocation_stats().allocations.load() - start_; }
    std::ptrdiff_t bytes_live_delta() const {
        return static_cast<std::ptrdiff_t>(allocation_stats().bytes_live.load()) -
               static_cast<std::ptrdiff_t>(bytes_);
    }

private:
    std::size_t start_;
    std::size_t bytes_;
};

/// Allocations left before one throws std::bad_alloc (then the countdown is off); SIZE_MAX:
/// off.
inline std::atomic<std::size_t>& allocation_countdown() {
    static std::atomic<std::size_t> left{static_cast<std::size_t>(-1)};
    return left;
}
inline void fail_allocation_after(std::size_t n) {
    allocation_countdown().store(n);
}
inline void stop_failing_allocations() {
    allocation_countdown().store(static_cast<std::size_t>(-1));
}

namespace detail {
// The size is stored in front of each block so that delete can count live bytes.
inline void* counted_alloc(std::size_t n, std::size_t align) {
    for (std::size_t left = allocation_countdown().load(); left != static_cast<std::size_t>(-1);) {
        if (allocation_countdown().compare_exchange_weak(left, left - 1)) {
            if (left == 0) throw std::bad_alloc();  // the countdown is now off (SIZE_MAX)
            break;
        }
    }
    if (align < alignof(std::max_align_t)) align = alignof(std::max_align_t);
    const std::size_t header = align;
    void* raw = std::aligned_alloc(align, ((n + header + align - 1) / align) * align);
    if (raw == nullptr) throw std::bad_alloc();
    auto* base = static_cast<unsigned char*>(raw);
    *reinterpret_cast<std::size_t*>(base + header - sizeof(std::size_t) * 2) = header;
    *reinterpret_cast<std::size_t*>(base + header - sizeof(std::size_t)) = n;
    allocation_stats().allocations.fetch_add(1, std::memory_order_relaxed);
    allocation_stats().bytes_live.fetch_add(n, std::memory_order_relaxed);
    return base + header;
}
inline void counted_free(void* p) noexcept {
    if (p == nullptr) return;
    auto* user = static_cast<unsigned char*>(p);
    const std::size_t n = *reinterpret_cast<std::size_t*>(user - sizeof(std::size_t));
    const std::size_t header = *reinterpret_cast<std::size_t*>(user - sizeof(std::size_t) * 2);
    allocation_stats().deallocations.fetch_add(1, std::memory_order_relaxed);
    allocation_stats().bytes_live.fetch_sub(n, std::memory_order_relaxed);
    std::free(user - header);
}
}  // namespace detail
}  // namespace millrace::test

void* operator new(std::size_t n) {
    return millrace::test::detail::counted_alloc(n, 0);
}
void* operator new[](std::size_t n) {
    return millrace::test::detail::counted_alloc(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a) {
    return millrace::test::detail::counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
    return millrace::test::detail::counted_alloc(n, static_cast<std::size_t>(a));
}
// The nothrow forms too: the standard library uses them (std::stable_sort's buffer), and a
// block from the libc allocator must never reach the replaced operator delete.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return millrace::test::detail::counted_alloc(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return millrace::test::detail::counted_alloc(n, 0);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete(void* p) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete[](void* p) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    millrace::test::detail::counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    millrace::test::detail::counted_free(p);
}
