// GoogleMock of iotw::tn::LinkHost (trust_node/net/include/iotw/trust_node/links.hpp): what the trust node's
// links (serial, UDP, TCP) report to the daemon.
#pragma once
#include <gmock/gmock.h>

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iotw/trust_node/links.hpp"

namespace iotw::tn::mocks {

class MockLinkHost : public LinkHost {
 public:
  MOCK_METHOD(uint32_t, new_link_id, (), (override));
  MOCK_METHOD(void, link_up, (uint32_t id, const std::string &name, PayloadSender send), (override));
  MOCK_METHOD(void, link_down, (uint32_t id), (override));
  MOCK_METHOD(void, payload, (uint32_t id, const uint8_t *p, size_t n), (override));
  MOCK_METHOD(void, link_event, (std::string_view kind, nlohmann::json fields), (override));
};

}  // namespace iotw::tn::mocks
