// millrace/dispatch/detail/ring.hpp: includes queue/mpmc_queue.hpp so that it builds beside
// core/config.hpp.
//
// queue/detail/blocking.hpp defines its own detail::cpu_relax(), which core/config.hpp also
// defines; the two cannot meet in one translation unit. This header includes config.hpp first,
// then renames the queue's copy while including the queue headers. When the queue headers use
// config.hpp's function instead, the renamed calls resolve to the forwarding template below,
// so this header stays correct either way and can then be reduced to the plain include.
#pragma once

#include "millrace/core/cache.hpp"
#include "millrace/core/config.hpp"
#include "millrace/core/event_count.hpp"

namespace millrace::detail {
/// Forwards to cpu_relax() for queue headers that no longer define their own copy.
template <int = 0>
inline void cpu_relax_queue_copy() noexcept {
    cpu_relax();
}
}  // namespace millrace::detail

// NOLINTNEXTLINE: the rename is confined to the queue headers below.
#define cpu_relax cpu_relax_queue_copy
#include "millrace/queue/mpmc_queue.hpp"
#undef cpu_relax
