// GoogleMock of iotw::harness::LinkPolicy (harness/runner/link_fabric.hpp): what a link does with each chunk
// read from one side (the deliveries to write to the other side; empty = dropped). The fabric calls it on its
// io thread.
#pragma once
#include <gmock/gmock.h>

#include <cstdint>
#include <vector>

#include "link_fabric.hpp"

namespace iotw::harness::mocks {

class MockLinkPolicy : public LinkPolicy {
 public:
  MOCK_METHOD(std::vector<Delivery>, on_chunk, (Direction dir, std::vector<std::uint8_t> chunk), (override));
};

}  // namespace iotw::harness::mocks
