// millrace/core/config.hpp: the one home of millrace's compiler and platform macros.
//
// Every macro here may be defined by the user before the first millrace include to override
// it; each falls back to a portable no-op where the GNU builtins are missing.
//   MILLRACE_CACHE_LINE       the false-sharing granule in bytes (default 64; see core/cache.hpp)
//   MILLRACE_PREFETCH(a, rw)  a prefetch hint for address `a` (rw: 0 read, 1 write)
//   MILLRACE_NOINLINE         keeps a cold path out of its caller's inlined body
// and millrace::detail::cpu_relax(), the spin-wait pause instruction.
#pragma once

#ifndef MILLRACE_CACHE_LINE
#define MILLRACE_CACHE_LINE 64
#endif

#ifndef MILLRACE_PREFETCH
#if defined(__GNUC__) || defined(__clang__)
#define MILLRACE_PREFETCH(addr, rw) __builtin_prefetch((addr), (rw))
#else
#define MILLRACE_PREFETCH(addr, rw) ((void)(addr))
#endif
#endif

#ifndef MILLRACE_NOINLINE
#if defined(__GNUC__) || defined(__clang__)
#define MILLRACE_NOINLINE [[gnu::noinline]]
#else
#define MILLRACE_NOINLINE
#endif
#endif

namespace millrace::detail {

/// The CPU's spin-wait hint: lets the sibling hyper-thread run and saves power while a
/// spinning thread waits a few hundred nanoseconds for a partner.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield" ::: "memory");
#endif
}

}  // namespace millrace::detail
