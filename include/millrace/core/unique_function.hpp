// millrace/core/unique_function.hpp: a move-only type-erased callable with inline storage.
//
// `unique_function<R(Args...)>` is what millrace stores for every task: like C++23
// std::move_only_function (absent from libstdc++ 12), it accepts move-only callables,
// and unlike std::function it never copies. Callables of up to `inline_size` (48) bytes
// with alignment up to alignof(std::max_align_t) and a noexcept move constructor live
// inside the object (a lambda capturing six pointers never allocates); larger ones live
// on the heap. The whole object is 64 bytes: one cache line.
//
// Guarantees:
//  - move construction and move assignment are noexcept; a moved-from object is empty;
//  - calling an empty unique_function throws std::bad_function_call;
//  - the callable's captures are destroyed exactly once, when the object holding them
//    is destroyed or assigned to;
//  - exceptions thrown by the callable propagate and leave the object callable again.
// The call operator is non-const, like std::move_only_function's.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "millrace/core/detail/planted.hpp"

namespace millrace {

template <class Signature>
class unique_function;

namespace detail {
template <class T>
inline constexpr bool is_unique_function_v = false;
template <class S>
inline constexpr bool is_unique_function_v<unique_function<S>> = true;

// std::invoke_r is C++23.
template <class R, class F, class... A>
constexpr R invoke_r(F&& f, A&&... a) {
    if constexpr (std::is_void_v<R>) {
        std::invoke(std::forward<F>(f), std::forward<A>(a)...);
    } else {
        return std::invoke(std::forward<F>(f), std::forward<A>(a)...);
    }
}
}  // namespace detail

/// A move-only callable with signature R(Args...); callables up to inline_size bytes are stored inline.
template <class R, class... Args>
class unique_function<R(Args...)> {
public:
    /// Bytes of inline storage: a callable this size or smaller never allocates.
    static constexpr std::size_t inline_size =
        detail::planted("unique_function_small_buffer") ? 40 : 48;  // planted: 40, six pointers no longer fit
    /// The largest alignment a callable may have and still be stored inline.
    static constexpr std::size_t inline_align = alignof(std::max_align_t);

    /// True when a callable of type F is stored inline (never allocates).
    template <class F>
    static constexpr bool stored_inline =
        sizeof(F) <= inline_size && alignof(F) <= inline_align&& std::is_nothrow_move_constructible_v<F>;

    unique_function() noexcept = default;
    /// An empty function, like the default constructor.
    unique_function(std::nullptr_t) noexcept {}

    /// Stores `f` (moved or copied in); a null function pointer gives an empty object.
    template <class F, class D = std::decay_t<F>>
    requires(!std::is_same_v<D, unique_function> && !std::is_same_v<D, std::in_place_t> &&
             std::is_constructible_v<D, F> && std::is_invocable_r_v<R, D&, Args...>)
        unique_function(F&& f) {  // NOLINT: implicit, like std::function
        if constexpr (std::is_pointer_v<D> || std::is_member_pointer_v<D> ||
                      detail::is_unique_function_v<D>) {
            if (!f) return;  // a null function pointer makes an empty object, as std::function
        }
        emplace<D>(std::forward<F>(f));
    }

    /// Takes the callable of `other`, which is left empty.
    unique_function(unique_function&& other) noexcept { take(other); }

    /// Destroys the current callable, then takes the callable of `other`.
    unique_function& operator=(unique_function&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }

    /// Destroys the callable, leaving the object empty.
    unique_function& operator=(std::nullptr_t) noexcept {
        reset();
        return *this;
    }

    /// Replaces the callable with `f`.
    template <class F>
    requires std::is_constructible_v<unique_function, F&&> unique_function& operator=(F&& f) {
        unique_function tmp(std::forward<F>(f));  // may throw before *this is touched
        return *this = std::move(tmp);
    }

    unique_function(const unique_function&) = delete;
    unique_function& operator=(const unique_function&) = delete;

    ~unique_function() { reset(); }

    /// Calls the stored callable; throws std::bad_function_call when empty.
    R operator()(Args... args) { return invoke_(storage_, std::forward<Args>(args)...); }

    /// Whether a callable is stored.
    explicit operator bool() const noexcept { return manage_ != nullptr; }
    friend bool operator==(const unique_function& f, std::nullptr_t) noexcept { return !f; }

    /// Exchanges the callables of the two objects.
    void swap(unique_function& other) noexcept {
        unique_function tmp(std::move(other));
        other = std::move(*this);
        *this = std::move(tmp);
    }
    friend void swap(unique_function& a, unique_function& b) noexcept { a.swap(b); }

private:
    enum class op { move, destroy };
    using invoke_fn = R (*)(void*, Args&&...);
    // One function handles move and destroy so that the object holds two pointers, not a
    // vtable pointer to a table: the call is a single indirect jump.
    using manage_fn = void (*)(op, void* self, void* other) noexcept;

    template <class D, class... A>
    void emplace(A&&... a) {
        if constexpr (stored_inline<D>) {
            ::new (static_cast<void*>(storage_)) D(std::forward<A>(a)...);
            invoke_ = [](void* s, Args&&... args) -> R {
                return detail::invoke_r<R>(*std::launder(static_cast<D*>(s)), std::forward<Args>(args)...);
            };
            manage_ = [](op o, void* self, void* other) noexcept {
                D* p = std::launder(static_cast<D*>(self));
                if (o == op::move) ::new (other) D(std::move(*p));
                p->~D();
            };
        } else {
            D* heap = new D(std::forward<A>(a)...);  // new frees the memory if D's ctor throws
            ::new (static_cast<void*>(storage_)) D*(heap);
            invoke_ = [](void* s, Args&&... args) -> R {
                return detail::invoke_r<R>(**static_cast<D**>(s), std::forward<Args>(args)...);
            };
            manage_ = [](op o, void* self, void* other) noexcept {
                D** p = static_cast<D**>(self);
                if (o == op::move) {
                    ::new (other) D*(*p);  // the pointer moves; the callable stays put
                } else {
                    delete *p;
                }
            };
        }
    }

    void take(unique_function& other) noexcept {
        if (!other.manage_) return;
        other.manage_(op::move, other.storage_, storage_);
        invoke_ = other.invoke_;
        manage_ = other.manage_;
        other.invoke_ = &empty_call;
        other.manage_ = nullptr;
    }

    void reset() noexcept {
        if (manage_) {
            manage_fn m = manage_;
            invoke_ = &empty_call;
            manage_ = nullptr;
            m(op::destroy, storage_, nullptr);
        }
    }

    [[noreturn]] static R empty_call(void*, Args&&...) { throw std::bad_function_call(); }

    alignas(inline_align) unsigned char storage_[inline_size];
    invoke_fn invoke_ = &empty_call;
    manage_fn manage_ = nullptr;
};

static_assert(sizeof(unique_function<void()>) == 64, "unique_function is meant to fill one cache line");

/// The type millrace stores for an immediate task.
using task = unique_function<void()>;

}  // namespace millrace
