// GoogleMock of iotw::tn::Random (trust_node/core/include/iotw/trust_node/core.hpp): uniform 64-bit values.
#pragma once
#include <gmock/gmock.h>

#include "iotw/trust_node/core.hpp"

namespace iotw::tn::mocks {

class MockRandom : public Random {
 public:
  MOCK_METHOD(uint64_t, next_u64, (), (override));
};

}  // namespace iotw::tn::mocks
