// millrace/millrace.hpp: the umbrella header. Includes every component of the core (no optional
// adapter that needs a client library). Needs nothing but `-I include` and -std=c++20;
// journal_store comes in where POSIX <unistd.h> exists, the dispatcher where its header is.
#pragma once

#include "millrace/core/cache.hpp"
#include "millrace/core/config.hpp"
#include "millrace/core/error.hpp"
#include "millrace/core/event_count.hpp"
#include "millrace/core/hash.hpp"
#include "millrace/core/unique_function.hpp"
#include "millrace/flow/admission.hpp"
#include "millrace/flow/keyed_limiter.hpp"
#include "millrace/flow/token_bucket.hpp"
#include "millrace/queue/mpmc_queue.hpp"
#include "millrace/queue/queue_status.hpp"
#include "millrace/queue/spsc_queue.hpp"
#include "millrace/route/balance.hpp"
#include "millrace/route/jump.hpp"
#include "millrace/route/maglev.hpp"
#include "millrace/route/rendezvous.hpp"
#include "millrace/route/ring.hpp"
#include "millrace/route/router.hpp"
#include "millrace/sched/cron.hpp"
#include "millrace/sched/sharded_scheduler.hpp"
#include "millrace/store/concepts.hpp"
#include "millrace/store/job.hpp"
#include "millrace/store/memory_store.hpp"
#include "millrace/time/clock.hpp"
#include "millrace/time/timing_wheel.hpp"
#include "millrace/version.hpp"
#if __has_include(<unistd.h>)
#include "millrace/store/journal_store.hpp"  // POSIX only
#endif
#if __has_include("millrace/dispatch/dispatcher.hpp")
#include "millrace/dispatch/dispatcher.hpp"
#endif
