// millrace/dispatch/dispatcher.hpp: the one header a user includes for the dispatcher
// (millrace::dispatcher, basic_dispatcher, the policies, configuration and handles).
#pragma once

#include "millrace/dispatch/basic_dispatcher.hpp"
#include "millrace/dispatch/config.hpp"
#include "millrace/dispatch/heap_scheduler.hpp"
#include "millrace/dispatch/policies.hpp"
#include "millrace/dispatch/status.hpp"
#include "millrace/dispatch/task_context.hpp"
#include "millrace/dispatch/task_handle.hpp"
