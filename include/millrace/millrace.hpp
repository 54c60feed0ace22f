// millrace/millrace.hpp: the umbrella header. Includes every component of the core
// (no optional adapter that needs a client library).
#pragma once

#include <millrace/version.hpp>

#include <millrace/core/cache.hpp>
#include <millrace/core/error.hpp>
#include <millrace/core/unique_function.hpp>

#include <millrace/time/clock.hpp>
