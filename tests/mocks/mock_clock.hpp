// GoogleMock of the one Clock (support/include/iotw/support/clock.hpp): now_ns() and sleep_until_ns(). The trust
// node's core reads now_ms() = now_ns() / 1e6 (Unix epoch); the UART pacer reads now_ns() and sleeps.
#pragma once
#include <gmock/gmock.h>

#include <cstdint>

#include "iotw/support/clock.hpp"

namespace iotw::mocks {

class MockClock : public Clock {
 public:
  MOCK_METHOD(uint64_t, now_ns, (), (const, override));
  MOCK_METHOD(void, sleep_until_ns, (uint64_t t_ns), (const, override));
};

}  // namespace iotw::mocks
