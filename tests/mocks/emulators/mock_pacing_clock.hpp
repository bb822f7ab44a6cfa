// GoogleMock of iotw::emu::PacingClock (emulators/esp_wifi/uart_pacer.hpp): nanosecond time and sleeps of the
// UART pacer.
#pragma once
#include <gmock/gmock.h>

#include <cstdint>

#include "esp_wifi/uart_pacer.hpp"

namespace iotw::emu::mocks {

class MockPacingClock : public PacingClock {
 public:
  MOCK_METHOD(uint64_t, now_ns, (), (const, override));
  MOCK_METHOD(void, sleep_until_ns, (uint64_t t), (override));
};

}  // namespace iotw::emu::mocks
