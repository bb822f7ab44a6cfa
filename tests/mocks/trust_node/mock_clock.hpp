// GoogleMock of iotw::tn::Clock (trust_node/core/include/iotw/trust_node/core.hpp): now_ms() in Unix epoch ms.
#pragma once
#include <gmock/gmock.h>

#include "iotw/trust_node/core.hpp"

namespace iotw::tn::mocks {

class MockClock : public Clock {
 public:
  MOCK_METHOD(uint64_t, now_ms, (), (override));
};

}  // namespace iotw::tn::mocks
