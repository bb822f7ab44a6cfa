// Device models read time only through the one Clock of support/ (iotw/support/clock.hpp; ARCHITECTURE.md
// principle 1): models take a Clock&, never the system clock, so tests and the simulator drive them with
// ManualClock, deterministically.
#pragma once
#include "iotw/support/clock.hpp"
