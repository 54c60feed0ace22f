// millrace/queue/queue_status.hpp: the outcome of a timed queue operation.
#pragma once

namespace millrace {

/// What push_for / push_until / pop_for / pop_until report. A full or empty queue is an
/// expected outcome, so it is a value, never an exception.
enum class queue_status : unsigned char {
    ok,       ///< the item was pushed or popped
    timeout,  ///< the deadline passed first (the queue stayed full / empty)
    closed,   ///< push: the queue is closed; pop: the queue is closed and drained
};

}  // namespace millrace
